"""The Dreamer policy: world model (encoder, RSSM, decoder, reward and continue models) plus actor and critic.

It acts recurrently, as sb3-contrib's ``RecurrentPPO`` does:
``predict(obs, state, episode_start, deterministic) -> (action, state)``, where ``state`` is the tuple of
numpy arrays ``(h, z, a)``, batch first: the deterministic and stochastic model state after the last
observation and the last action taken.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, ClassVar, NamedTuple

import numpy as np
import torch as th
from gymnasium import spaces
from stable_baselines3.common.policies import BasePolicy
from stable_baselines3.common.preprocessing import preprocess_obs
from stable_baselines3.common.type_aliases import PyTorchObs, Schedule
from torch import distributions as td
from torch import nn

from sb3_dreamer.common.buffers import OBS_KEY, action_dim
from sb3_dreamer.common.checks import (
    NotAnImageError,
    UnsupportedSpaceError,
    check_action_space,
    check_observation,
    check_observation_space,
)
from sb3_dreamer.common.distributions import (
    BernoulliStraightThrough,
    MultiOneHotStraightThrough,
    bounded_normal,
    inverse_softplus,
    one_hot_mode,
    one_hot_straight_through,
    tanh_normal,
    tanh_normal_log_prob,
    tanh_normal_mode,
)
from sb3_dreamer.common.networks import (
    CNN_LAYOUTS,
    NORMS,
    OBSERVATION_LOSSES,
    ContinueModel,
    Critic,
    MultiDecoder,
    MultiEncoder,
    RewardModel,
    is_image_key,
    mlp,
)
from sb3_dreamer.common.normalizers import PercentileReturnNormalizer
from sb3_dreamer.common.rssm import RSSM, CategoricalLatent, GaussianLatent, Latent, LatentState
from sb3_dreamer.common.transforms import unimix_logits

#: network widths of Dreamer V1 (Appendix A and the reference code): 400 units, ELU
DEFAULT_NET_ARCH: dict[str, list[int]] = {
    "encoder": [400, 400],
    "decoder": [400, 400],
    "reward": [400, 400],
    "continue": [400, 400, 400],
    "actor": [400, 400, 400, 400],
    "critic": [400, 400, 400],
}

RecurrentState = tuple[np.ndarray, np.ndarray, np.ndarray]


def as_obs_dict(observation: PyTorchObs) -> dict[str, th.Tensor]:
    """The world model reads every observation as a dict; a plain tensor goes under :data:`OBS_KEY`."""
    return observation if isinstance(observation, dict) else {OBS_KEY: observation}


class Actor(nn.Module):
    """Action model ``q(a_t | s_t)``: tanh-Normal for Box actions, straight-through one-hot for Discrete, one
    straight-through one-hot categorical per dimension for MultiDiscrete, independent straight-through
    Bernoullis for MultiBinary (the factorised actor: log-probabilities and entropies sum over dimensions).

    As in Dreamer V1 (Sec. 3), the Gaussian mean is soft-clipped to [-5, 5] and the std before the tanh
    starts near ``init_std`` (5 in the paper, so that early actions spread over the whole range). ``norm``
    normalises its hidden layers and ``unimix`` mixes the uniform distribution into its categoricals (DreamerV3).
    With ``std_bounds`` Box actions follow DreamerV3 instead: a Normal with mean ``tanh(mu)`` and a std in
    ``[low, high]`` (``(high - low) sigmoid(s + 2) + low``), whose samples the model takes as they are and the
    environment gets clipped to its bounds; its entropy is exact.
    """

    def __init__(
        self,
        feature_size: int,
        action_space: spaces.Space,
        hidden: list[int],
        activation: type[nn.Module],
        init_std: float = 5.0,
        norm: str | None = None,
        unimix: float = 0.0,
        std_bounds: tuple[float, float] | None = None,
    ):
        super().__init__()
        if std_bounds is not None and not 0 < std_bounds[0] < std_bounds[1]:
            raise ValueError(f"std_bounds must be (low, high) with 0 < low < high, got {std_bounds}.")
        self.unimix, self.std_bounds = unimix, std_bounds
        #: whether the actions are one-hot or binary vectors (straight-through samples, exact entropies)
        self.discrete = not isinstance(action_space, spaces.Box)
        self.action_dim = action_dim(action_space)
        #: classes of each categorical slice of the action vector (empty for Box and MultiBinary)
        self.sizes: list[int] = []
        if isinstance(action_space, spaces.Discrete):
            self.sizes = [int(action_space.n)]
        elif isinstance(action_space, spaces.MultiDiscrete):
            self.sizes = [int(n) for n in action_space.nvec.reshape(-1)]
        self.binary = isinstance(action_space, spaces.MultiBinary)
        self.net = mlp(feature_size, hidden, self.action_dim * (1 if self.discrete else 2), activation, norm)
        self.raw_init_std = inverse_softplus(init_std)

    def forward(self, features: th.Tensor) -> td.Distribution:
        """The action distribution at ``s_t`` (its parameters in float32, also under bf16 autocast)."""
        out = self.net(features).float()
        if self.binary:
            return BernoulliStraightThrough(out)
        if len(self.sizes) == 1:
            return one_hot_straight_through(unimix_logits(out, self.unimix))
        if self.sizes:
            return MultiOneHotStraightThrough(
                th.cat([unimix_logits(part, self.unimix) for part in out.split(self.sizes, -1)], -1), self.sizes
            )
        mean, std = out.chunk(2, dim=-1)
        if self.std_bounds is not None:
            low, high = self.std_bounds
            return bounded_normal(th.tanh(mean), (high - low) * th.sigmoid(std + 2.0) + low)
        mean = 5.0 * th.tanh(mean / 5.0)
        std = nn.functional.softplus(std + self.raw_init_std) + 1e-4
        return tanh_normal(mean, std)

    def rsample(self, dist: td.Distribution) -> tuple[th.Tensor, th.Tensor]:
        """A reparameterised (Box) or straight-through (the others) action, and the sample it came from: the
        Gaussian sample ``x`` before the tanh for Box actions, the action itself otherwise. REINFORCE scores
        the action at that sample (:meth:`log_prob`)."""
        if self.discrete or self.std_bounds is not None:
            action = dist.rsample()
            return action, action
        pre_tanh = dist.base_dist.base_dist.rsample()  # type: ignore[attr-defined]
        return th.tanh(pre_tanh), pre_tanh

    def log_prob(self, dist: td.Distribution, sample: th.Tensor) -> th.Tensor:
        """``ln q(a|s)`` of the action that ``sample`` (from :meth:`rsample`) gave: for Box actions the tanh-Normal
        density at the pre-tanh sample, with the tanh's correction there; exact for the others."""
        if self.discrete or self.std_bounds is not None:
            return dist.log_prob(sample)
        return tanh_normal_log_prob(dist, sample)  # type: ignore[arg-type]

    def entropy(self, dist: td.Distribution, sample: th.Tensor) -> th.Tensor:
        """The entropy of ``q(.|s)``: exact, except for the tanh-Normal, which has no closed form: there the
        reparameterised estimate ``-ln q(a|s)`` at the action that ``sample`` gave."""
        if self.discrete or self.std_bounds is not None:
            return dist.entropy()
        return -self.log_prob(dist, sample)

    def mode(self, dist: td.Distribution) -> th.Tensor:
        """The most likely action (deterministic acting): the argmax one-hot (per slice), the more likely value
        of each bit, or the tanh-Normal's mode."""
        if len(self.sizes) == 1:
            return one_hot_mode(dist)  # type: ignore[arg-type]
        if self.std_bounds is not None:
            return dist.mean.clamp(-1.0, 1.0)  # tanh(mu): inside the bounds already
        return dist.mode if self.discrete else tanh_normal_mode(dist)  # type: ignore[arg-type]

    def explore(self, action: th.Tensor, amount: float) -> th.Tensor:
        """Dreamer V1's exploration of a batch of model-space actions: Gaussian noise of std ``amount`` on Box
        actions (clipped to [-1, 1]); otherwise each categorical slice (or bit) replaced, with probability
        ``amount``, by a uniformly random one."""
        if not self.discrete:
            return th.clamp(action + amount * th.randn_like(action), -1.0, 1.0)
        if self.binary:
            replace = th.rand(action.shape, device=action.device) < amount
            return th.where(replace, th.randint_like(action, 2), action)
        parts = []
        for part in action.split(self.sizes, dim=-1):
            random = nn.functional.one_hot(th.randint(part.shape[-1], part.shape[:-1], device=part.device), part.shape[-1]).to(
                part.dtype
            )
            replace = th.rand(part.shape[:-1], device=part.device) < amount
            parts.append(th.where(replace.unsqueeze(-1), random, part))
        return th.cat(parts, dim=-1)


class Behavior(NamedTuple):
    """One behaviour learned in imagination: an actor, its critic (and slow target), and their optimizers."""

    actor: Actor
    critic: Critic
    critic_target: Critic | None
    actor_optimizer: th.optim.Optimizer
    critic_optimizer: th.optim.Optimizer


class Reconstruction(NamedTuple):
    """What the world model makes of observed sequences (:meth:`DreamerPolicy.reconstruct`), batch first ``(B, L, ...)``."""

    #: the observations as the networks read them (:meth:`DreamerPolicy.preprocess`): images centred on 0
    observations: dict[str, th.Tensor]
    #: the encoder's embeddings ``e_t``
    embed: th.Tensor
    #: the posterior model states, filtered as in training
    posterior: LatentState
    #: the decoder's reconstruction of every observation key from the posterior states, in the space of ``observations``
    reconstruction: dict[str, th.Tensor]


class WorldModel(nn.Module):
    """Encoder, RSSM, decoder (one head per observation key), RewardModel and the optional ContinueModel; the
    arguments are :class:`DreamerPolicy`'s."""

    def __init__(
        self,
        observation_space: spaces.Dict,
        image_keys: list[str],
        action_dim: int,
        net_arch: dict[str, list[int]],
        activation: type[nn.Module],
        deterministic_size: int,
        latent: Latent,
        hidden_size: int,
        cnn_depth: int,
        cnn_output_dim: int | None,
        continue_model: bool,
        cnn_layout: str = "padded",
        norm: str | None = None,
        symlog_inputs: bool = False,
        observation_loss: str = "gaussian",
        value_bins: int | None = None,
    ) -> None:
        super().__init__()
        self.encoder = MultiEncoder(
            observation_space,
            image_keys,
            net_arch["encoder"],
            cnn_depth,
            cnn_output_dim,
            activation,
            cnn_layout,
            norm,
            symlog_inputs,
        )
        self.rssm = RSSM(self.encoder.output_dim, action_dim, deterministic_size, latent, hidden_size, activation, norm)
        features = self.rssm.feature_size
        self.decoder = MultiDecoder(
            features, observation_space, self.encoder, image_keys, net_arch["decoder"], activation, observation_loss, norm
        )
        self.reward_model = RewardModel(features, net_arch["reward"], activation, norm, value_bins)
        self.continue_model = ContinueModel(features, net_arch["continue"], activation, norm) if continue_model else None


class DreamerPolicy(BasePolicy):
    """World model and actor-critic of Dreamer, with recurrent ``predict``.

    :param observation_space: observation space (Box, Discrete, MultiDiscrete, MultiBinary or a flat Dict of them)
    :param action_space: action space (Box with finite bounds, Discrete, MultiDiscrete or MultiBinary)
    :param lr_schedule: learning-rate schedule of the world model (the actor and critic optimizers start
        with it and are set by the algorithm before every update)
    :param net_arch: hidden layers of the MLPs: one list for all of them, or a dict with any of the keys
        ``encoder``, ``decoder``, ``reward``, ``continue``, ``actor``, ``critic`` (defaults: ``default_net_arch``)
    :param activation_fn: activation of every network (ELU in Dreamer V1)
    :param deterministic_size: size of the GRU state ``h_t``
    :param stochastic_size: size of the stochastic state ``z_t``: Gaussian dimensions, or the number of
        categorical variables when ``latent_classes`` is set
    :param latent_classes: None for Dreamer V1's Gaussian ``z_t``; an int for DreamerV2's vector of
        ``stochastic_size`` one-hot categorical variables with this many classes each
    :param hidden_size: width of the RSSM's hidden layers
    :param cnn_depth: channels of the first convolution (doubled at each of the four layers)
    :param cnn_layout: ``"padded"`` (each convolution halves a 64x64 image's side, to a 4x4 map) or ``"valid"``
        (the papers' code, for 64x64 images: unpadded convolutions to a 2x2 map and a decoder from a 1x1 map
        with kernels 5, 5, 6, 6; about 30% fewer convolution operations)
    :param features_extractor_kwargs: SB3's name for encoder options: ``cnn_output_dim`` (or its SB3 alias
        ``features_dim``) adds a linear projection of each image embedding to that size
    :param continue_model: learn a ContinueModel that predicts episode termination
    :param target_critic: keep a slow copy of the critic for the lambda-return targets
    :param actor_init_std: initial std of the actor's Gaussian before the tanh (Box actions)
    :param actor_std_bounds: None (the tanh-Normal actor of Dreamer V1 and V2), or ``(low, high)``: DreamerV3's
        Normal actor for Box actions, mean ``tanh(mu)`` and std in ``[low, high]`` ((0.1, 1) in the paper's code)
    :param norm: None (Dreamer V1, V2), or ``"layer"``/``"rms"``: LayerNorm or RMSNorm after every hidden layer of
        every MLP, CNN and the GRU (DreamerV3)
    :param symlog_inputs: feed vector observations through symlog into the encoder (DreamerV3)
    :param observation_loss: ``"gaussian"`` (unit-variance Gaussian reconstruction, Dreamer V1, V2) or
        ``"symlog_mse"`` (DreamerV3's squared error, of vectors in symlog space)
    :param value_bins: None (unit-Gaussian reward and value heads) or the number of two-hot bins of DreamerV3's
        reward model and critic (255), whose output layers start at zero
    :param unimix: mix this much of the uniform distribution into the latent and actor categoricals (DreamerV3: 0.01)
    :param deterministic_latent: the categorical ``z_t`` that deterministic acting (``predict(...,
        deterministic=True)``) feeds the actor: ``"mean"``, each variable's class probabilities (as a Gaussian ``z_t``
        gives its mean), or ``"mode"``, its most likely class. Training never uses it. Measured on saved models
        (docs/benchmarks.md): a DreamerV2 agent acting on modes drifted off CartPole's track, on means it balanced
        for all 500 steps; DreamerV3's Pendulum and CartPole agents scored higher on modes, so its default is
        ``"mode"``. The authors' code samples ``z_t`` when it evaluates.
    :param return_normalization: divide the actor's returns and advantages by DreamerV3's percentile scale
        (:class:`~sb3_dreamer.common.normalizers.PercentileReturnNormalizer`, one per critic)
    :param normalize_images: scale uint8 images to [0, 1] (then centred on 0); pass False for images
        that are already normalised (VecNormalize)
    :param optimizer_class: optimizer of the world model, actor and critic
    :param optimizer_kwargs: extra optimizer arguments
    :param behavior_optimizer_kwargs: extra arguments of the actor and critic optimizers (None: ``optimizer_kwargs``)
    """

    #: how observations are routed to CNNs: "never" (MlpPolicy), "required" (CnnPolicy) or "auto" (MultiInputPolicy)
    image_mode: ClassVar[str] = "auto"
    #: hidden layers of each MLP when ``net_arch`` does not say
    default_net_arch: ClassVar[dict[str, list[int]]] = DEFAULT_NET_ARCH

    def __init__(
        self,
        observation_space: spaces.Space,
        action_space: spaces.Space,
        lr_schedule: Schedule,
        net_arch: list[int] | dict[str, list[int]] | None = None,
        activation_fn: type[nn.Module] = nn.ELU,
        deterministic_size: int = 200,
        stochastic_size: int = 30,
        latent_classes: int | None = None,
        hidden_size: int = 200,
        cnn_depth: int = 32,
        cnn_layout: str = "padded",
        features_extractor_kwargs: dict[str, Any] | None = None,
        continue_model: bool = True,
        target_critic: bool = False,
        actor_init_std: float = 5.0,
        actor_std_bounds: tuple[float, float] | None = None,
        norm: str | None = None,
        symlog_inputs: bool = False,
        observation_loss: str = "gaussian",
        value_bins: int | None = None,
        unimix: float = 0.0,
        deterministic_latent: str = "mean",
        return_normalization: bool = False,
        normalize_images: bool = True,
        optimizer_class: type[th.optim.Optimizer] = th.optim.Adam,
        optimizer_kwargs: dict[str, Any] | None = None,
        behavior_optimizer_kwargs: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(
            observation_space,
            action_space,
            features_extractor_kwargs=features_extractor_kwargs,
            normalize_images=normalize_images,
            optimizer_class=optimizer_class,
            optimizer_kwargs=optimizer_kwargs,
            squash_output=isinstance(action_space, spaces.Box),
        )
        self._check_spaces()
        self.obs_spaces = self._as_dict(observation_space)
        self.image_keys = self._image_keys()
        self.net_arch = net_arch
        self.activation_fn = activation_fn
        self.deterministic_size = deterministic_size
        self.stochastic_size = stochastic_size
        self.latent_classes = latent_classes
        self.hidden_size = hidden_size
        self.cnn_depth = cnn_depth
        if cnn_layout not in CNN_LAYOUTS:
            raise ValueError(f"cnn_layout must be one of {CNN_LAYOUTS}, got {cnn_layout!r}.")
        self.cnn_layout = cnn_layout
        self.use_continue_model = continue_model
        self.use_target_critic = target_critic
        self.actor_init_std, self.actor_std_bounds = actor_init_std, actor_std_bounds
        if norm is not None and norm not in NORMS:
            raise ValueError(f"norm must be one of {NORMS} or None, got {norm!r}.")
        if observation_loss not in OBSERVATION_LOSSES:
            raise ValueError(f"observation_loss must be one of {OBSERVATION_LOSSES}, got {observation_loss!r}.")
        self.norm, self.symlog_inputs, self.observation_loss = norm, symlog_inputs, observation_loss
        self.value_bins, self.unimix, self.return_normalization = value_bins, unimix, return_normalization
        self.deterministic_latent = deterministic_latent
        self.behavior_optimizer_kwargs = behavior_optimizer_kwargs
        arch = dict(self.default_net_arch)
        if isinstance(net_arch, dict):
            unknown = set(net_arch) - set(arch)
            if unknown:
                raise ValueError(f"Unknown net_arch keys {sorted(unknown)}; expected some of {sorted(arch)}.")
            arch.update(net_arch)
        elif net_arch is not None:
            arch = {key: list(net_arch) for key in arch}
        extractor = dict(self.features_extractor_kwargs)
        cnn_output_dim = extractor.pop("cnn_output_dim", extractor.pop("features_dim", None))
        if extractor:
            raise ValueError(f"Unknown features_extractor_kwargs {sorted(extractor)}; expected cnn_output_dim.")

        self.world_model = WorldModel(
            self.obs_spaces,
            self.image_keys,
            action_dim(action_space),
            arch,
            activation_fn,
            deterministic_size,
            GaussianLatent(stochastic_size)
            if latent_classes is None
            else CategoricalLatent(stochastic_size, latent_classes, unimix, deterministic_latent),
            hidden_size,
            cnn_depth,
            cnn_output_dim,
            continue_model,
            cnn_layout,
            norm,
            symlog_inputs,
            observation_loss,
            value_bins,
        )
        self.arch = arch
        self.initial_lr = lr_schedule(1)
        self.optimizer = self.make_optimizer(self.world_model)
        self.actor, self.critic, self.critic_target, self.actor_optimizer, self.critic_optimizer = self.make_behavior()
        #: the behaviour whose actor acts in ``forward``/``predict``; see :meth:`acting_as`
        self.acting = "task"

    def make_optimizer(self, module: nn.Module, optimizer_kwargs: dict[str, Any] | None = None) -> th.optim.Optimizer:
        """An optimizer of ``optimizer_class`` for the module's parameters (the algorithm sets its learning rate),
        with ``optimizer_kwargs`` (default: the policy's)."""
        kwargs = self.optimizer_kwargs if optimizer_kwargs is None else optimizer_kwargs
        return self.optimizer_class(module.parameters(), lr=self.initial_lr, **kwargs)

    def make_behavior(self) -> Behavior:
        """A fresh actor, critic (and slow target critic) and their optimizers, sized for the model state."""
        features = self.world_model.rssm.feature_size
        actor = Actor(
            features,
            self.action_space,
            self.arch["actor"],
            self.activation_fn,
            self.actor_init_std,
            self.norm,
            self.unimix,
            self.actor_std_bounds,
        )

        def make_critic() -> Critic:
            normalizer = PercentileReturnNormalizer() if self.return_normalization else None
            return Critic(
                features, self.arch["critic"], self.activation_fn, self.norm, self.value_bins, return_normalizer=normalizer
            )

        critic = make_critic()
        critic_target = None
        if self.use_target_critic:
            critic_target = make_critic()
            critic_target.load_state_dict(critic.state_dict())
            critic_target.requires_grad_(False)
        kwargs = self.behavior_optimizer_kwargs
        return Behavior(actor, critic, critic_target, self.make_optimizer(actor, kwargs), self.make_optimizer(critic, kwargs))

    def behaviors(self) -> dict[str, Behavior]:
        """The behaviours trained in imagination, by name; ``"task"`` maximises the predicted reward."""
        return {"task": Behavior(self.actor, self.critic, self.critic_target, self.actor_optimizer, self.critic_optimizer)}

    @contextmanager
    def acting_as(self, behavior: str) -> Iterator[None]:
        """Act with another behaviour's actor inside the block, e.g. Plan2Explore's ``"explore"``."""
        if behavior not in self.behaviors():
            raise ValueError(f"Unknown behaviour {behavior!r}; this policy has {sorted(self.behaviors())}.")
        previous, self.acting = self.acting, behavior
        try:
            yield
        finally:
            self.acting = previous

    # ---------------------------------------------------------------- spaces
    def _check_spaces(self) -> None:
        name = type(self).__name__
        check_action_space(self.action_space)
        check_observation_space(self.observation_space)
        if isinstance(self.observation_space, spaces.Dict) and self.image_mode != "auto":
            raise UnsupportedSpaceError(f"Dict observation spaces need MultiInputPolicy, not {name}.")
        if self.image_mode == "required" and not is_image_key(self.observation_space, self.normalize_images):
            raise NotAnImageError(
                f"CnnPolicy needs image observations (3-D Box, uint8 in [0, 255]), not {self.observation_space}. "
                "Use MlpPolicy for vectors, MultiInputPolicy for Dicts, or pass normalize_images=False for "
                "images that are already normalised (VecNormalize)."
            )

    @staticmethod
    def _as_dict(observation_space: spaces.Space) -> spaces.Dict:
        if isinstance(observation_space, spaces.Dict):
            return observation_space
        return spaces.Dict({OBS_KEY: observation_space})

    def _image_keys(self) -> list[str]:
        if self.image_mode == "never":
            return []
        return [key for key, space in self.obs_spaces.spaces.items() if is_image_key(space, self.normalize_images)]

    def _get_constructor_parameters(self) -> dict[str, Any]:
        data = super()._get_constructor_parameters()
        data.update(
            lr_schedule=self._dummy_schedule,  # type: ignore[arg-type]
            net_arch=self.net_arch,
            activation_fn=self.activation_fn,
            deterministic_size=self.deterministic_size,
            stochastic_size=self.stochastic_size,
            latent_classes=self.latent_classes,
            hidden_size=self.hidden_size,
            cnn_depth=self.cnn_depth,
            cnn_layout=self.cnn_layout,
            features_extractor_kwargs=self.features_extractor_kwargs,
            continue_model=self.use_continue_model,
            target_critic=self.use_target_critic,
            actor_init_std=self.actor_init_std,
            actor_std_bounds=self.actor_std_bounds,
            norm=self.norm,
            symlog_inputs=self.symlog_inputs,
            observation_loss=self.observation_loss,
            value_bins=self.value_bins,
            unimix=self.unimix,
            deterministic_latent=self.deterministic_latent,
            return_normalization=self.return_normalization,
            optimizer_class=self.optimizer_class,
            optimizer_kwargs=self.optimizer_kwargs,
            behavior_optimizer_kwargs=self.behavior_optimizer_kwargs,
        )
        return data

    # ---------------------------------------------------------------- observations and actions
    def preprocess(self, observations: dict[str, th.Tensor], batch_dims: int) -> dict[str, th.Tensor]:
        """Observations as the networks read them: floats, one-hot for discrete parts, images centred on 0,
        vectors flattened. The first ``batch_dims`` dimensions are batch dimensions."""
        out = {}
        for key, space in self.obs_spaces.spaces.items():
            obs = observations[key]
            batch_shape = obs.shape[:batch_dims]
            flat = obs.reshape(-1, *obs.shape[batch_dims:])
            x = preprocess_obs(flat, space, normalize_images=self.normalize_images)
            if key in self.image_keys:
                if self.normalize_images:
                    x = x - 0.5
                out[key] = x.reshape(*batch_shape, *x.shape[1:])
            else:
                out[key] = x.reshape(*batch_shape, -1)
        return out

    @property
    def image_offset(self) -> float:
        """What to add to a preprocessed image (or its reconstruction) to bring it back to [0, 1]."""
        return 0.5 if self.normalize_images else 0.0

    @th.no_grad()
    def reconstruct(self, observations: dict[str, th.Tensor], actions: th.Tensor, is_first: th.Tensor) -> Reconstruction:
        """Filter sequences with the RSSM, as the world model's training step does, and decode the posterior states
        (Dreamer V1, Fig. 5's reconstructions): what the model sees of the observations.

        :param observations: raw observations of every key ``(B, L, ...)``, as the replay buffer stores them
        :param actions: model-space actions ``(B, L, A)`` (:meth:`to_model_action`); ``actions[:, t]`` led to ``o_t``
        :param is_first: which rows start an episode ``(B, L)`` (the state restarts there)
        """
        world_model = self.world_model
        obs = self.preprocess(observations, batch_dims=2)
        embed = world_model.encoder(obs)
        posterior, _, _ = world_model.rssm.observe(embed, actions, is_first)
        return Reconstruction(obs, embed, posterior, world_model.decoder(posterior.features))

    def to_env_action(self, action: np.ndarray) -> np.ndarray:
        """Model-space actions (batch first: ``[-1, 1]``, one-hot, one-hot per dimension, or bits) to
        environment actions."""
        space = self.action_space
        if isinstance(space, spaces.Discrete):
            return (action.argmax(-1) + space.start).astype(space.dtype)
        if isinstance(space, spaces.MultiDiscrete):
            parts = np.split(action, np.cumsum(space.nvec.reshape(-1))[:-1], axis=-1)
            index = np.stack([part.argmax(-1) for part in parts], axis=-1).reshape(-1, *space.shape)
            return (index + space.start).astype(space.dtype)
        if isinstance(space, spaces.MultiBinary):
            return (action > 0.5).reshape(-1, *space.shape).astype(space.dtype)
        action = self.unscale_action(np.clip(action, -1.0, 1.0).reshape(-1, *space.shape))
        return action.astype(space.dtype)

    def to_model_action(self, action: np.ndarray) -> np.ndarray:
        """Environment actions (batch first) to model space: scaled to ``[-1, 1]``, one-hot (per dimension), or bits."""
        space = self.action_space
        if isinstance(space, spaces.Discrete):
            index = np.asarray(action).reshape(-1) - space.start
            return np.eye(int(space.n), dtype=np.float32)[index]
        if isinstance(space, spaces.MultiDiscrete):
            nvec = space.nvec.reshape(-1)
            index = (np.asarray(action) - space.start).reshape(-1, len(nvec))
            return np.concatenate([np.eye(int(n), dtype=np.float32)[index[:, i]] for i, n in enumerate(nvec)], axis=-1)
        if isinstance(space, spaces.MultiBinary):
            return np.asarray(action, dtype=np.float32).reshape(-1, int(np.prod(space.shape)))
        scaled = self.scale_action(np.asarray(action).reshape(-1, *space.shape))
        return scaled.reshape(scaled.shape[0], -1).astype(np.float32)

    # ---------------------------------------------------------------- acting
    def initial_state(self, batch_size: int) -> tuple[LatentState, th.Tensor, th.Tensor]:
        """What acting starts from: the zero model state, a zero previous action, and every row starting."""
        return (
            self.world_model.rssm.initial_state(batch_size, self.device),
            th.zeros(batch_size, self.actor.action_dim, device=self.device),
            th.ones(batch_size, dtype=th.bool, device=self.device),
        )

    def forward(  # type: ignore[override]
        self,
        observations: dict[str, th.Tensor],
        state: LatentState,
        prev_action: th.Tensor,
        episode_start: th.Tensor,
        deterministic: bool = False,
    ) -> tuple[th.Tensor, LatentState]:
        """One step of acting: update the belief with ``o_t`` (the posterior), then pick ``a_t``.

        Rows with ``episode_start`` restart from the zero state, exactly as ``is_first`` does in training.
        """
        embed = self.world_model.encoder(self.preprocess(observations, 1))
        state, _ = self.world_model.rssm.observe_step(state, prev_action, embed, episode_start, deterministic)
        actor = self.behaviors()[self.acting].actor
        dist = actor(state.features)
        action = actor.mode(dist) if deterministic else dist.sample()
        return action, state

    def set_training_mode(self, mode: bool) -> None:
        """Train or eval mode; a no-op when already in it. SB3 calls this before every rollout, and walking
        all modules costs more than a policy step (none of ours behaves differently in the two modes)."""
        if self.training != mode:
            super().set_training_mode(mode)

    def _predict(self, observation: PyTorchObs, deterministic: bool = False) -> th.Tensor:
        """One step from the initial state (the stateless entry point of SB3's ``BasePolicy``)."""
        obs = as_obs_dict(observation)
        batch = next(iter(obs.values())).shape[0]
        latent, zero_action, starts = self.initial_state(batch)
        return self(obs, latent, zero_action, starts, deterministic)[0]

    def predict(  # type: ignore[override]
        self,
        observation: np.ndarray | dict[str, np.ndarray],
        state: RecurrentState | None = None,
        episode_start: np.ndarray | None = None,
        deterministic: bool = False,
    ) -> tuple[np.ndarray, RecurrentState]:
        """Pick actions for a batch of observations and return the next recurrent state.

        :param observation: the observations (one, or a batch)
        :param state: ``(h, z, a)`` from the previous call, or None at the start of episodes
        :param episode_start: which rows start a new episode (their state is reset)
        :param deterministic: use the means of the latent distributions and the modes of the action distributions
        :return: the actions (in the environment's space) and the new state
        """
        check_observation(observation, self.observation_space)
        self.set_training_mode(False)
        obs_tensor, vectorized = self.obs_to_tensor(observation)
        obs = as_obs_dict(obs_tensor)
        batch = next(iter(obs.values())).shape[0]
        n_actions = self.actor.action_dim
        if state is None:
            latent, prev_action, starts = self.initial_state(batch)
        else:
            rssm = self.world_model.rssm
            expected = [(batch, rssm.deter_size), (batch, rssm.latent.size), (batch, n_actions)]
            got = [tuple(np.shape(s)) for s in state] if len(state) == 3 else None
            if got != expected:
                raise ValueError(f"Recurrent state must be a tuple of arrays with shapes {expected}, got {got}.")
            deter, stoch, prev_action = (th.as_tensor(np.asarray(s), dtype=th.float32, device=self.device) for s in state)
            latent = LatentState(deter, stoch)
            starts_np = np.zeros(batch, dtype=bool) if episode_start is None else np.asarray(episode_start, dtype=bool)
            if starts_np.shape != (batch,):
                raise ValueError(f"episode_start must have shape ({batch},), got {starts_np.shape}.")
            starts = th.as_tensor(starts_np, device=self.device)
        with th.no_grad():
            action, latent = self(obs, latent, prev_action, starts, deterministic)
        model_action = action.cpu().numpy()
        env_action = self.to_env_action(model_action)
        if not vectorized:
            env_action = env_action.squeeze(axis=0)
        return env_action, (latent.deter.cpu().numpy(), latent.stoch.cpu().numpy(), model_action)


class MlpPolicy(DreamerPolicy):
    """Dreamer policy for vector observations (images, if given, are flattened)."""

    image_mode = "never"


class CnnPolicy(DreamerPolicy):
    """Dreamer policy for image observations (uint8, channel-first or channel-last)."""

    image_mode = "required"


class MultiInputPolicy(DreamerPolicy):
    """Dreamer policy for Dict observations: a CNN for each image key, an MLP for each other key."""

    image_mode = "auto"
