"""Dreamer (V1): "Dream to Control: Learning Behaviors by Latent Imagination", Hafner et al., ICLR 2020.

https://arxiv.org/abs/1912.01603
"""

from __future__ import annotations

import io
import pathlib
from collections.abc import Callable
from typing import Any, ClassVar, NamedTuple, TypeVar

import numpy as np
import torch as th
from gymnasium import spaces
from matplotlib.figure import Figure as MatplotlibFigure  # without pyplot: no GUI backend involved
from stable_baselines3.common.base_class import maybe_make_env
from stable_baselines3.common.buffers import ReplayBuffer
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.logger import Figure, Image, TensorBoardOutputFormat, Video
from stable_baselines3.common.noise import ActionNoise
from stable_baselines3.common.off_policy_algorithm import OffPolicyAlgorithm
from stable_baselines3.common.policies import BasePolicy
from stable_baselines3.common.save_util import load_from_zip_file
from stable_baselines3.common.type_aliases import GymEnv, MaybeCallback, Schedule, TrainFrequencyUnit
from stable_baselines3.common.utils import FloatSchedule, obs_as_tensor, polyak_update, update_learning_rate
from stable_baselines3.common.vec_env import VecEnv
from torch import distributions as td
from torch.utils.checkpoint import checkpoint

from sb3_dreamer.common.buffers import SequenceReplayBuffer, SequenceSamples
from sb3_dreamer.common.checkpoints import RunCheckpointCallback, load_checked_pkl, load_checkpoint, save_checked_pkl
from sb3_dreamer.common.checks import (
    CheckpointError,
    NonFiniteLossError,
    UnsupportedSpaceError,
    check_action_space,
    check_observation_space,
    check_replay_buffer,
)
from sb3_dreamer.common.losses import frozen, kl_loss
from sb3_dreamer.common.memory import keep_freed_memory
from sb3_dreamer.common.policies import (
    Actor,
    Behavior,
    CnnPolicy,
    DreamerPolicy,
    MlpPolicy,
    MultiInputPolicy,
    as_obs_dict,
)
from sb3_dreamer.common.precision import PRECISIONS, resolve_precision
from sb3_dreamer.common.returns import lambda_returns, replay_lambda_returns
from sb3_dreamer.common.rssm import LatentState

SelfDreamer = TypeVar("SelfDreamer", bound="Dreamer")
#: rewards of imagined steps ``(H, N)`` from their features ``(H + 1, N, F)`` and the actions ``(H, N, A)``
RewardFn = Callable[[th.Tensor, th.Tensor], th.Tensor]
#: ``imagined_continue``: the continue probability, or its mode (0 or 1)
IMAGINED_CONTINUE = ("probability", "mode")


class Imagined(NamedTuple):
    """A chunk of imagined trajectories, detached, as the critic learns from them: features ``(H + 1, N, F)``,
    step weights and lambda-returns ``(H, N)``, the chunk's share of the start states and its logged means."""

    features: th.Tensor
    weights: th.Tensor
    returns: th.Tensor
    fraction: float
    metrics: dict[str, th.Tensor]


class Dreamer(OffPolicyAlgorithm):
    """
    Dreamer (V1): a world model learned from replayed sequences, and an actor-critic learned purely from
    trajectories imagined in its latent space, with analytic gradients through the learned dynamics.

    Paper: https://arxiv.org/abs/1912.01603 (Algorithm 1). Defaults are the paper's for DeepMind Control;
    ``num_timesteps`` counts policy steps (action repeat belongs to the environment), and the train ratio
    (replayed steps per policy step) is ``gradient_steps * batch_size * sequence_length / (train_freq * n_envs)``:
    625 with the defaults. The paper's 500 (100 updates of 50 x 50 steps per 1000 env frames at action
    repeat 2) is ``train_freq=5``, or ``train_ratio=500``; the default 4 keeps collection aligned with step
    budgets that are powers of two, as SB3's own tests and schedules expect.

    :param policy: the policy model to use (MlpPolicy, CnnPolicy, MultiInputPolicy, ...)
    :param env: the environment to learn from (if registered in Gym, can be str)
    :param learning_rate: world-model learning rate, a constant or a schedule of the remaining progress
    :param actor_learning_rate: actor learning rate, a constant or a schedule
    :param critic_learning_rate: critic (value model) learning rate, a constant or a schedule
    :param buffer_size: replay capacity in stored observations (rows), shared by the environments
    :param learning_starts: policy steps of uniformly random actions before learning starts
        (the paper's 5 seed episodes of 1000 frames at action repeat 2)
    :param batch_size: number of sequences per gradient update (B)
    :param sequence_length: length of each replayed sequence (L)
    :param train_freq: update the model every ``train_freq`` steps (or episodes, as ``(n, "episode")``);
        None: 4, or every step when training follows ``train_ratio``
    :param gradient_steps: gradient updates after each rollout (-1: as many as steps collected); None: 1
    :param train_ratio: replayed steps (``batch_size * sequence_length`` per update) per policy step, all envs
        counted: after every step, the updates that keep the replayed steps since ``learning_starts`` within
        one update of ``train_ratio`` times the policy steps run (several per step, or one every few steps).
        Give it instead of ``train_freq`` and ``gradient_steps`` (both is an error); None uses those, or the
        algorithm's ``default_train_ratio`` when neither is given
    :param gamma: discount factor
    :param td_lambda: lambda of the lambda-returns (Eq. 6)
    :param imagination_horizon: length H of imagined trajectories
    :param imagination_starts: number of posterior states, drawn at random from the B x L of the batch,
        that imagination starts from; None (the paper) starts from all of them
    :param free_nats: KL below this many nats is not penalised
    :param free_nats_per_step: clip the KL of each time step at ``free_nats`` (DreamerV3's free bits) instead of the
        KL averaged over batch and time (Dreamer V1, V2)
    :param kl_scale: weight of the KL term in the world-model loss (beta)
    :param kl_balance: KL balancing (DreamerV2, Algorithm 2): the prior gets this fraction of the KL's
        gradient and the posterior the rest; None (Dreamer V1) trains both with the plain KL
    :param continue_scale: weight of the ContinueModel's loss in the world-model loss
    :param imagined_continue: what discounts an imagined step besides ``gamma``: the ContinueModel's probability that
        the episode goes on (``"probability"``, Dreamer V1 with a continue model and DreamerV2's code) or its mode, 0 or
        1 (``"mode"``, DreamerV3's 2023 code)
    :param actor_gradient: how the actor learns from imagined returns (DreamerV2, Eq. 6): ``"dynamics"``
        (backpropagation through the learned dynamics, Dreamer V1), ``"reinforce"`` (score-function
        gradients with the critic as baseline), ``"auto"`` (REINFORCE for Discrete actions, dynamics for Box,
        DreamerV2's choice) or a float rho in [0, 1]: rho * REINFORCE + (1 - rho) * dynamics
    :param actor_entropy_coef: weight of the actor's entropy in its objective (0 in Dreamer V1; Dreamer V2 adds it)
    :param max_grad_norm: gradient-norm clip of all three optimizers
    :param model_max_grad_norm: gradient-norm clip of the world-model optimizer instead (DreamerV3: 1000, against
        100 for the actor and critic); None: ``max_grad_norm``
    :param exploration_noise: std of the Gaussian noise added to collected Box actions, or the probability
        of a uniformly random action for Discrete actions
    :param target_update_interval: copy the critic into a slow target critic every this many gradient
        updates and compute the lambda-returns with it; 0 (the paper) uses the critic itself
    :param tau: the slow critic's update rate: ``slow <- (1 - tau) slow + tau critic``; 1 copies (DreamerV2),
        DreamerV3 keeps an exponential moving average with 0.02 every update
    :param target_critic_regularizer: weight of DreamerV3's regulariser of the critic towards the slow critic's
        predictions, ``-ln p(v_slow(s))`` next to ``-ln p(V^lambda)``; when positive, the slow critic only regularises
        and the lambda-returns bootstrap from the critic itself (0: no regulariser)
    :param replay_critic_scale: weight of a second critic loss on the replayed sequences (DreamerV3's 2025 version,
        its replayed-value loss): the critic also regresses lambda-returns of the real rewards and terminations,
        bootstrapped at every step from the imagined return of that replayed state
        (:func:`~sb3_dreamer.common.returns.replay_lambda_returns`), with the same slow-critic regulariser;
        0 (the default) leaves it out; needs ``imagination_starts=None``
    :param image_log_interval: every this many gradient updates, log pictures of the world model to
        TensorBoard: reconstructions and open-loop prediction videos of image observations, a plot of open-loop
        predicted against true vector observations and rewards (0 disables; only when TensorBoard logs)
    :param precision: ``"32"`` (float32 throughout), ``"bf16-mixed"`` or ``"auto"``. With bf16-mixed the world
        model and imagination run under bfloat16 autocast (matrix products and activations in bf16; parameters,
        optimizer states, recurrent states, heads' outputs and losses in float32); acting stays in float32.
        Measured at the paper's sizes on a CPU with native bf16 (AVX512_BF16): 2.2x faster proprioceptive and
        2.1x faster pixel updates, 14% lower peak memory; on an AVX2-only CPU, which emulates bf16, about 11x
        slower (a warning says so). ``"auto"`` takes bf16-mixed where bf16 is native (CUDA with bf16, CPUs with
        AVX512_BF16 or AMX) and float32 elsewhere (:func:`~sb3_dreamer.common.precision.resolve_precision`)
    :param activation_checkpointing: recompute the activations of imagination (each imagined step, the reward,
        continue and value heads) in the backward pass instead of storing them (``torch.utils.checkpoint``, with
        the random draws replayed, so the updates are the same); measured with bf16-mixed: 16% lower peak
        memory, a fifth more time per update
    :param imagination_chunks: imagine the start states in this many chunks, backpropagating each chunk's
        share of the actor and critic losses before imagining the next: the same gradients and updates (up to
        the order of the random draws), with a chunk's activations in memory instead of the whole batch's;
        measured with bf16-mixed and 4 chunks: 40% lower peak memory, no slower
    :param world_model_chunks: run the encoder and the decoder over the batch's sequences in this many chunks:
        each chunk's reconstruction loss is backpropagated into the decoder and the model states before the next
        chunk is decoded, and the encoder's activations are recomputed chunk by chunk in the backward pass
        (``torch.utils.checkpoint``): the same gradients, with a chunk's encoder and decoder activations in memory
        instead of the whole batch's (from pixels, most of the world model's), for one more encoder forward pass
    :param replay_buffer_class: replay buffer class (a :class:`SequenceReplayBuffer`)
    :param replay_buffer_kwargs: keyword arguments of the replay buffer
    :param policy_kwargs: additional arguments for the policy on creation (see :class:`DreamerPolicy`)
    :param stats_window_size: window size for the rollout logging (episodes)
    :param tensorboard_log: the log location for tensorboard (if None, no logging)
    :param verbose: 0 no output, 1 info messages, 2 debug messages
    :param seed: seed for the pseudo random generators
    :param device: device (cpu, cuda, ...) on which the code should be run
    :param _init_setup_model: whether or not to build the network at the creation of the instance
    """

    policy_aliases: ClassVar[dict[str, type[BasePolicy]]] = {
        "MlpPolicy": MlpPolicy,
        "CnnPolicy": CnnPolicy,
        "MultiInputPolicy": MultiInputPolicy,
    }
    policy: DreamerPolicy
    replay_buffer: SequenceReplayBuffer
    #: the train ratio used when none of ``train_ratio``, ``train_freq`` and ``gradient_steps`` is given
    #: (None: SB3's schedule of ``train_freq=4, gradient_steps=1``)
    default_train_ratio: ClassVar[float | None] = None

    def __init__(
        self,
        policy: str | type[DreamerPolicy],
        env: GymEnv | str,
        learning_rate: float | Schedule = 6e-4,
        actor_learning_rate: float | Schedule = 8e-5,
        critic_learning_rate: float | Schedule = 8e-5,
        buffer_size: int = 1_000_000,
        learning_starts: int = 2500,
        batch_size: int = 50,
        sequence_length: int = 50,
        train_freq: int | tuple[int, str] | None = None,
        gradient_steps: int | None = None,
        train_ratio: float | None = None,
        gamma: float = 0.99,
        td_lambda: float = 0.95,
        imagination_horizon: int = 15,
        imagination_starts: int | None = None,
        free_nats: float = 3.0,
        free_nats_per_step: bool = False,
        kl_scale: float = 1.0,
        kl_balance: float | None = None,
        continue_scale: float = 1.0,
        imagined_continue: str = "probability",
        actor_gradient: str | float = "dynamics",
        actor_entropy_coef: float = 0.0,
        max_grad_norm: float = 100.0,
        model_max_grad_norm: float | None = None,
        exploration_noise: float = 0.3,
        target_update_interval: int = 0,
        tau: float = 1.0,
        target_critic_regularizer: float = 0.0,
        replay_critic_scale: float = 0.0,
        image_log_interval: int = 1000,
        precision: str = "32",
        activation_checkpointing: bool = False,
        imagination_chunks: int = 1,
        world_model_chunks: int = 1,
        replay_buffer_class: type[ReplayBuffer] | None = None,
        replay_buffer_kwargs: dict[str, Any] | None = None,
        policy_kwargs: dict[str, Any] | None = None,
        stats_window_size: int = 100,
        tensorboard_log: str | None = None,
        verbose: int = 0,
        seed: int | None = None,
        device: th.device | str = "auto",
        _init_setup_model: bool = True,
    ) -> None:
        if env is not None:  # made and checked here, before SB3's own assertions
            env = maybe_make_env(env, verbose)
            check_observation_space(env.observation_space)
            check_action_space(env.action_space)
            if isinstance(env.observation_space, spaces.Dict) and policy in ("MlpPolicy", "CnnPolicy"):
                raise UnsupportedSpaceError(f"Dict observation spaces need MultiInputPolicy, not {policy}.")
        sb3_schedule = train_freq is not None or gradient_steps is not None
        if train_ratio is not None and sb3_schedule:
            raise ValueError(
                f"Give train_ratio (replayed steps per policy step) or train_freq / gradient_steps, not both: got "
                f"train_ratio={train_ratio}, train_freq={train_freq}, gradient_steps={gradient_steps}."
            )
        if train_ratio is None and not sb3_schedule:
            train_ratio = self.default_train_ratio
        if train_ratio is not None and not train_ratio > 0:
            raise ValueError(f"train_ratio must be positive, got {train_ratio}.")
        if train_ratio is not None:  # SB3's loop calls train() after every step, which runs the updates due
            train_freq, gradient_steps = 1, 1
        super().__init__(
            policy,
            env,
            learning_rate,
            buffer_size=buffer_size,
            learning_starts=learning_starts,
            batch_size=batch_size,
            gamma=gamma,
            train_freq=4 if train_freq is None else train_freq,
            gradient_steps=1 if gradient_steps is None else gradient_steps,
            replay_buffer_class=replay_buffer_class or SequenceReplayBuffer,
            replay_buffer_kwargs=replay_buffer_kwargs,
            policy_kwargs=policy_kwargs,
            stats_window_size=stats_window_size,
            tensorboard_log=tensorboard_log,
            verbose=verbose,
            device=device,
            seed=seed,
            sde_support=False,
            support_multi_env=True,
            supported_action_spaces=(spaces.Box, spaces.Discrete, spaces.MultiDiscrete, spaces.MultiBinary),
        )
        self.actor_learning_rate = actor_learning_rate
        self.critic_learning_rate = critic_learning_rate
        self.sequence_length = sequence_length
        self._train_ratio = train_ratio
        #: updates run under ``train_ratio`` since the step counter last started from 0
        self._ratio_updates = 0
        self.td_lambda = td_lambda
        self.imagination_horizon = imagination_horizon
        self.imagination_starts = imagination_starts
        self.free_nats = free_nats
        self.free_nats_per_step = free_nats_per_step
        self.kl_scale = kl_scale
        self.kl_balance = kl_balance
        self.continue_scale = continue_scale
        if imagined_continue not in IMAGINED_CONTINUE:
            raise ValueError(f"imagined_continue must be one of {IMAGINED_CONTINUE}, got {imagined_continue!r}.")
        self.imagined_continue = imagined_continue
        self.actor_gradient = actor_gradient
        self.actor_entropy_coef = actor_entropy_coef
        self.max_grad_norm = max_grad_norm
        self.model_max_grad_norm = model_max_grad_norm
        self.exploration_noise = exploration_noise
        self.target_update_interval = target_update_interval
        if not 0.0 < tau <= 1.0:
            raise ValueError(f"tau must lie in (0, 1], got {tau}.")
        self.tau = tau
        self.target_critic_regularizer = target_critic_regularizer
        if replay_critic_scale < 0:
            raise ValueError(f"replay_critic_scale must be non-negative, got {replay_critic_scale}.")
        if replay_critic_scale > 0 and imagination_starts is not None:
            raise ValueError(
                "replay_critic_scale > 0 bootstraps from the imagined return of every replayed state: leave "
                f"imagination_starts=None (got {imagination_starts})."
            )
        self.replay_critic_scale = replay_critic_scale
        self.image_log_interval = image_log_interval
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}.")
        self.precision = precision
        self.activation_checkpointing = activation_checkpointing
        if imagination_chunks < 1:
            raise ValueError(f"imagination_chunks must be at least 1, got {imagination_chunks}.")
        self.imagination_chunks = imagination_chunks
        if world_model_chunks < 1:
            raise ValueError(f"world_model_chunks must be at least 1, got {world_model_chunks}.")
        self.world_model_chunks = world_model_chunks
        # Belief (h, z, last action) of the training environments: not in the .zip, but in checkpoints.
        self._collect_state: tuple[LatentState, th.Tensor] | None = None
        # Where load_checkpoint() found the model: run folder, learn() budget and checkpoint settings.
        self._checkpoint: dict[str, Any] = {}
        if _init_setup_model:
            self._setup_model()

    def _setup_model(self) -> None:
        # The policy gets what the algorithm's arguments decide (_build_policy_kwargs); the stored policy_kwargs
        # stay the caller's (never mutated: often a shared preset, and compared by ``load(..., policy_kwargs=...)``).
        policy_kwargs = self.policy_kwargs
        self.policy_kwargs = self._build_policy_kwargs(policy_kwargs)
        super()._setup_model()
        self.policy_kwargs = policy_kwargs
        if not isinstance(self.replay_buffer, SequenceReplayBuffer):
            raise TypeError(f"Dreamer needs a SequenceReplayBuffer, got {type(self.replay_buffer).__name__}.")
        self.reinforce_mix = self._reinforce_mix()
        #: the precision computed in on this device ("auto" resolved)
        self.compute_precision = resolve_precision(self.precision, self.device)
        self.actor_lr_schedule = FloatSchedule(self.actor_learning_rate)
        self.critic_lr_schedule = FloatSchedule(self.critic_learning_rate)
        # the policy builds every optimizer at the world model's rate; each gets its own before anything steps it
        self._update_learning_rates(1.0)

    def _build_policy_kwargs(self, policy_kwargs: dict[str, Any]) -> dict[str, Any]:
        """The policy's arguments: the caller's, plus the target critic that ``target_update_interval`` asks for."""
        return {**policy_kwargs, "target_critic": self.target_update_interval > 0}

    def _reinforce_mix(self) -> float:
        """rho of DreamerV2's Eq. 6: the weight of REINFORCE gradients against dynamics backpropagation."""
        named = {"dynamics": 0.0, "reinforce": 1.0, "auto": float(self.policy.actor.discrete)}
        if isinstance(self.actor_gradient, str):
            if self.actor_gradient not in named:
                raise ValueError(
                    f"actor_gradient must be one of {sorted(named)} or a float in [0, 1], got {self.actor_gradient!r}."
                )
            return named[self.actor_gradient]
        if not 0.0 <= self.actor_gradient <= 1.0:
            raise ValueError(f"actor_gradient as a mix must lie in [0, 1], got {self.actor_gradient}.")
        return float(self.actor_gradient)

    @staticmethod
    def _wrap_env(env: GymEnv, verbose: int = 0, monitor_wrapper: bool = True) -> VecEnv:
        """SB3's wrapping, after refusing spaces the world model cannot encode or the actor cannot act in
        (``load`` and ``set_env`` come through here)."""
        check_observation_space(env.observation_space)
        check_action_space(env.action_space)
        return OffPolicyAlgorithm._wrap_env(env, verbose, monitor_wrapper)

    @property
    def train_ratio(self) -> float | None:
        """Replayed steps per policy step: the ``train_ratio`` given, or the one ``train_freq`` and
        ``gradient_steps`` make (None when training every ``n`` episodes)."""
        if self._train_ratio is not None:
            return self._train_ratio
        if self.train_freq.unit != TrainFrequencyUnit.STEP:  # type: ignore[union-attr]
            return None
        replayed = self.batch_size * self.sequence_length
        if self.gradient_steps < 0:
            return float(replayed)
        return self.gradient_steps * replayed / (self.train_freq.frequency * self.n_envs)  # type: ignore[union-attr]

    # ------------------------------------------------------------------ collection
    def _setup_learn(
        self,
        total_timesteps: int,
        callback: MaybeCallback = None,
        reset_num_timesteps: bool = True,
        tb_log_name: str = "run",
        progress_bar: bool = False,
    ) -> tuple[int, BaseCallback]:
        env_reset = reset_num_timesteps or self._last_obs is None
        if self.device.type == "cpu":
            keep_freed_memory()  # updates reuse their large activations without page faults (common/memory.py)
        result = super()._setup_learn(total_timesteps, callback, reset_num_timesteps, tb_log_name, progress_bar)
        if env_reset:
            # The environments start new episodes: so do the beliefs and the replay streams.
            self._collect_state = None
            self.replay_buffer.mark_episode_starts()
        if reset_num_timesteps:
            self._ratio_updates = 0
        ratio = self.train_ratio
        if ratio is not None:
            self.logger.record("train/train_ratio", ratio)
            if self.verbose >= 1:
                print(f"Train ratio: {ratio:g} replayed steps per policy step")
        return result

    def _sample_action(
        self,
        learning_starts: int,
        action_noise: ActionNoise | None = None,
        n_envs: int = 1,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Random actions before ``learning_starts``, then the actor's sample plus exploration noise.

        The executed action (noise included) is what the belief is updated with at the next step.
        """
        if self.num_timesteps < learning_starts:
            action = np.array([self.action_space.sample() for _ in range(n_envs)])
            self._collect_state = None
            return action, self.policy.to_model_action(action)
        # the VecEnv's batch as it is (the policy's obs_to_tensor checks and reshapes what users pass to predict)
        obs = as_obs_dict(obs_as_tensor(self._last_obs, self.device))  # type: ignore[arg-type]
        if self._collect_state is None:
            latent, prev_action, starts = self.policy.initial_state(n_envs)
        else:
            latent, prev_action = self._collect_state
            starts = th.as_tensor(self._last_episode_starts, dtype=th.bool, device=self.device)
        with th.inference_mode():
            action, latent = self.policy(obs, latent, prev_action, starts)
            action = self._explore(action)
        self._collect_state = (latent, action)
        buffer_action = action.cpu().numpy()
        return self.policy.to_env_action(buffer_action), buffer_action

    def _explore(self, action: th.Tensor) -> th.Tensor:
        """Dreamer V1's exploration (:meth:`~sb3_dreamer.common.policies.Actor.explore`): additive Gaussian noise
        on Box actions, epsilon-random categorical slices (Discrete, MultiDiscrete) or bits (MultiBinary)."""
        if self.exploration_noise <= 0:
            return action
        return self.policy.actor.explore(action, self.exploration_noise)

    def _store_transition(
        self,
        replay_buffer: ReplayBuffer,
        buffer_action: np.ndarray,
        new_obs: np.ndarray | dict[str, np.ndarray],
        reward: np.ndarray,
        dones: np.ndarray,
        infos: list[dict[str, Any]],
    ) -> None:
        super()._store_transition(replay_buffer, buffer_action, new_obs, reward, dones, infos)
        self._last_episode_starts = dones

    # ------------------------------------------------------------------ training (Algorithm 1)
    def train(self, gradient_steps: int, batch_size: int) -> None:
        """Dreamer's update, Algorithm 1: for each gradient step, draw B sequences of length L from the
        replay, learn the world model on them ("dynamics learning"), then learn the actor and critic on
        trajectories imagined from the batch's posterior states ("behavior learning").

        With ``train_ratio`` SB3 calls this after every step, and ``gradient_steps`` is replaced by the number of
        updates due (:meth:`_updates_due`), often 0."""
        if self._train_ratio is not None:
            gradient_steps = self._updates_due(batch_size)
            if gradient_steps == 0:
                return
            self._ratio_updates += gradient_steps
        self.policy.set_training_mode(True)
        progress = self._current_progress_remaining
        self._update_learning_rates(progress)
        metrics: dict[str, list[th.Tensor]] = {}
        for _ in range(gradient_steps):
            batch = self.replay_buffer.sample(batch_size, self._vec_normalize_env, self.sequence_length)
            if self._pictures_due():
                self._log_world_model_pictures(batch)
            with self._autocast():
                posterior, embed, world_model_metrics = self._train_world_model(batch)
                behavior_metrics = self._train_behaviors(batch, posterior, embed)
            step_metrics = {**world_model_metrics, **behavior_metrics}
            self._check_finite(step_metrics)
            self._n_updates += 1
            self._update_target_critics()
            for key, value in step_metrics.items():
                metrics.setdefault(key, []).append(value)
        for key, values in metrics.items():
            self.logger.record(f"train/{key}", th.stack(values).mean().item())
        self.logger.record("train/n_updates", self._n_updates, exclude="tensorboard")
        self.logger.record("train/learning_rate", self.lr_schedule(progress))
        self.logger.record("replay/size", self.replay_buffer.size())
        self.logger.record("replay/bytes", self.replay_buffer.stored_nbytes)
        self.logger.record("replay/capacity_bytes", self.replay_buffer.nbytes)

    def _updates_due(self, batch_size: int) -> int:
        """Updates that bring the replayed steps since ``learning_starts`` to the largest multiple of
        ``batch_size * sequence_length`` not above ``train_ratio`` times the policy steps since then."""
        replayed_per_update = batch_size * self.sequence_length
        steps = max(self.num_timesteps - self.learning_starts, 0)
        return int(self._train_ratio * steps // replayed_per_update) - self._ratio_updates  # type: ignore[operator]

    def _check_finite(self, metrics: dict[str, th.Tensor]) -> None:
        """Stop at the first update whose losses are NaN or infinite (one host-device synchronisation)."""
        if bool(th.isfinite(th.stack([value.float() for value in metrics.values()])).all()):
            return
        bad = {key: value.item() for key, value in metrics.items() if not th.isfinite(value)}
        raise NonFiniteLossError(
            f"Training diverged at update {self._n_updates + 1} (policy step {self.num_timesteps}): {bad}. "
            "The parameters in memory are no longer usable; checkpoints written before stay intact. Check the "
            "rewards and observations for NaN, then resume from the last checkpoint with lower learning rates."
        )

    def _update_learning_rates(self, progress: float) -> None:
        update_learning_rate(self.policy.optimizer, self.lr_schedule(progress))
        for behavior in self.policy.behaviors().values():
            update_learning_rate(behavior.actor_optimizer, self.actor_lr_schedule(progress))
            update_learning_rate(behavior.critic_optimizer, self.critic_lr_schedule(progress))

    def _train_world_model(self, batch: SequenceSamples) -> tuple[LatentState, th.Tensor, dict[str, th.Tensor]]:
        """Dynamics learning: filter the sequences with the RSSM and maximise Eq. 10,
        reconstruction + reward (+ continue) log-likelihood - kl_scale * max(free_nats, KL(posterior || prior)).

        :return: the posterior states, the observation embeddings (both ``(B, L, ...)``) and the losses
        """
        policy, world_model = self.policy, self.policy.world_model
        n_chunks = min(self.world_model_chunks, batch.actions.shape[0])
        if n_chunks == 1:
            obs = policy.preprocess(batch.observations, batch_dims=2)
            embed = world_model.encoder(obs)
        else:  # the encoder's activations are recomputed chunk by chunk in the backward pass
            chunks = _chunks({key: x.tensor_split(n_chunks) for key, x in batch.observations.items()}, n_chunks)
            embed = th.cat([checkpoint(self._embed, chunk, use_reentrant=False) for chunk in chunks])
        posterior, prior_params, post_params = world_model.rssm.observe(embed, batch.actions, batch.is_first)
        features = posterior.features

        policy.optimizer.zero_grad(set_to_none=True)
        if n_chunks == 1:
            reconstruction = world_model.decoder.dists(features)
            reconstruction_loss = sum(-reconstruction[key].log_prob(obs[key]).mean() for key in obs)
        else:  # backpropagated into the decoder already; the model states get its gradient below
            reconstruction_loss, features_grad = self._reconstruction_backward(features, chunks)
        reward_loss = -world_model.reward_model.dist(features).log_prob(batch.rewards).mean()
        latent = world_model.rssm.latent
        kl_term, kl = kl_loss(post_params, prior_params, latent, self.free_nats, self.kl_balance, self.free_nats_per_step)
        loss = reconstruction_loss + reward_loss + self.kl_scale * kl_term
        metrics = {"reconstruction_loss": reconstruction_loss, "reward_loss": reward_loss, "kl": kl}
        if world_model.continue_model is not None:
            logits = world_model.continue_model(features)
            continue_loss = -td.Bernoulli(logits=logits, validate_args=False).log_prob((~batch.is_terminal).float()).mean()
            loss = loss + self.continue_scale * continue_loss
            metrics["continue_loss"] = continue_loss
        metrics["world_model_loss"] = loss
        self._backward(loss if n_chunks == 1 else loss + (features * features_grad).sum())
        self._apply_gradients(policy.optimizer, world_model.parameters(), self.model_max_grad_norm)
        return posterior, embed, {k: v.detach() for k, v in metrics.items()}

    def _embed(self, observations: dict[str, th.Tensor]) -> th.Tensor:
        """The embeddings ``e_t`` ``(b, L, E)`` of raw replayed observations ``(b, L, ...)``."""
        return self.policy.world_model.encoder(self.policy.preprocess(observations, batch_dims=2))

    def _reconstruction_backward(self, features: th.Tensor, chunks: list[dict[str, th.Tensor]]) -> tuple[th.Tensor, th.Tensor]:
        """Backpropagate the reconstruction loss ``-E[ln p(o_t | s_t)]`` (summed over observation keys) chunk by
        chunk of sequences into the decoder, from detached features, so that one chunk's decoder activations are
        alive at a time.

        :param features: the model states' features ``(B, L, F)``
        :param chunks: the raw observations ``(b, L, ...)`` of each chunk of sequences, in order
        :return: the loss (without a graph) and its gradient with respect to ``features``
        """
        total, grads, frames = features.new_zeros(()), [], features.shape[:2].numel()
        for chunk_features, chunk in zip(features.detach().tensor_split(len(chunks)), chunks, strict=True):
            chunk_features.requires_grad_(True)
            obs = self.policy.preprocess(chunk, batch_dims=2)
            reconstruction = self.policy.world_model.decoder.dists(chunk_features)
            loss = sum(-reconstruction[key].log_prob(obs[key]).sum() for key in obs) / frames
            self._backward(loss)
            total = total + loss.detach()
            grads.append(chunk_features.grad)
        return total, th.cat(grads)

    def _imagination_starts(self, posterior: LatentState, is_terminal: th.Tensor) -> tuple[LatentState, th.Tensor]:
        """Start states of imagination: the batch's posterior states (all, or ``imagination_starts`` of them),
        and their weights: 0 for a terminal state, whose imagined future lies beyond the episode's end (DreamerV2
        zeroes the discount there), 1 for the others.

        :return: the start states ``(N, ...)`` and their weights ``(N,)``
        """
        start = posterior.flatten().detach()
        weight = (~is_terminal.reshape(-1)).to(start.deter.dtype)
        n = start.deter.shape[0]
        if self.imagination_starts is None or self.imagination_starts >= n:
            return start, weight
        index = th.randperm(n, device=start.deter.device)[: self.imagination_starts]
        return LatentState(start.deter[index], start.stoch[index]), weight[index]

    def _train_behaviors(self, batch: SequenceSamples, posterior: LatentState, embed: th.Tensor) -> dict[str, th.Tensor]:
        """Behavior learning (Algorithm 1): the task actor-critic, in imagination, on the predicted reward (and the
        critic on the replayed sequences too, with ``replay_critic_scale``)."""
        start, start_weight = self._imagination_starts(posterior, batch.is_terminal)
        task = self.policy.behaviors()["task"]
        return self._train_behavior(start, start_weight, task, self._task_reward, replay=(batch, posterior))

    def _task_reward(self, features: th.Tensor, actions: th.Tensor) -> th.Tensor:
        """The RewardModel's prediction for reaching each imagined state ``s_1 .. s_H``."""
        return self.policy.world_model.reward_model(features[1:])

    def _train_behavior(
        self,
        start: LatentState,
        start_weight: th.Tensor,
        behavior: Behavior,
        reward_fn: RewardFn,
        replay: tuple[SequenceSamples, LatentState] | None = None,
    ) -> dict[str, th.Tensor]:
        """Behavior learning: imagine H steps from each posterior state with the actor, then maximise the
        lambda-returns and regress the critic onto them (Dreamer V1, Eqs. 7-8).

        The actor's objective is DreamerV2's Eq. 6: ``rho`` times REINFORCE (``ln q(a|s)`` times the
        advantage over the slow critic) plus ``1 - rho`` times the returns themselves (gradients through the
        dynamics), plus ``actor_entropy_coef`` times the entropy; each imagined step weighted by its
        discount, the predicted probability that the episode is still running there, and its start state's
        weight (0 from a terminal state, in the actor's and the critic's loss alike).

        With ``imagination_chunks`` > 1 the start states are imagined a chunk at a time and each chunk's share
        of the two losses is backpropagated before the next chunk is imagined: trajectories are independent,
        so the summed gradients (and each optimizer step) are those of the whole batch, with a chunk's
        activations in memory instead of the batch's.

        :param start: the start states ``(N, ...)``
        :param start_weight: the start states' weights ``(N,)`` (see :meth:`_imagination_starts`)
        :param reward_fn: rewards ``(H, N)`` of the imagined steps from their features ``(H + 1, N, F)`` and the
            actions taken ``(H, N, A)``
        :param replay: the replayed batch and its posterior states ``(B, L, ...)``, where the start states are all
            of them, for the critic's loss on replayed sequences (``replay_critic_scale``); None for a behaviour
            whose reward is not the replayed one
        """
        actor, critic = behavior.actor, behavior.critic
        size = start.deter.shape[0]
        n_chunks = min(self.imagination_chunks, size)
        chunks = zip(
            start.deter.tensor_split(n_chunks),
            start.stoch.tensor_split(n_chunks),
            start_weight.tensor_split(n_chunks),
            strict=True,
        )
        behavior.actor_optimizer.zero_grad(set_to_none=True)
        with frozen(self.policy.world_model, critic):  # and through the backward passes (recomputed with checkpointing)
            imagined = [
                self._actor_backward(LatentState(deter, stoch), weight, behavior, reward_fn, len(deter) / size)
                for deter, stoch, weight in chunks
            ]
        self._apply_gradients(behavior.actor_optimizer, actor.parameters())

        behavior.critic_optimizer.zero_grad(set_to_none=True)
        for chunk in imagined:
            critic_loss = -(chunk.weights * self._critic_log_likelihood(behavior, chunk.features[:-1], chunk.returns)).mean()
            self._backward(chunk.fraction * critic_loss)
            chunk.metrics["critic_loss"] = critic_loss.detach()
        metrics = {key: sum(chunk.fraction * chunk.metrics[key] for chunk in imagined) for key in imagined[0].metrics}
        if replay is not None and self.replay_critic_scale > 0:
            batch, posterior = replay
            boot = th.cat([chunk.returns[0] for chunk in imagined]).reshape(batch.rewards.shape)
            returns, weights = replay_lambda_returns(
                batch.rewards, boot, batch.is_first, batch.is_terminal, self.gamma, self.td_lambda
            )
            features = posterior.features.detach()[:, :-1]
            replay_loss = -(weights * self._critic_log_likelihood(behavior, features, returns)).mean()
            self._backward(self.replay_critic_scale * replay_loss)
            metrics.update(replay_critic_loss=replay_loss.detach(), replay_return=returns.mean().detach())
        self._apply_gradients(behavior.critic_optimizer, critic.parameters())
        if critic.return_normalizer is not None:  # after the actor's update (the same for any imagination_chunks)
            critic.return_normalizer.update(th.cat([chunk.returns for chunk in imagined], dim=1))
        return metrics

    def _critic_log_likelihood(self, behavior: Behavior, features: th.Tensor, returns: th.Tensor) -> th.Tensor:
        """``ln p(R | s)`` of the critic at states ``features`` for their returns, plus ``target_critic_regularizer``
        times ``ln p(v_slow(s) | s)`` towards its slow copy's predictions (DreamerV3), per state."""
        value_dist = behavior.critic.dist(features)
        log_likelihood = value_dist.log_prob(returns)
        if self.target_critic_regularizer > 0 and behavior.critic_target is not None:
            with th.no_grad():
                slow_values = behavior.critic_target(features)
            log_likelihood = log_likelihood + self.target_critic_regularizer * value_dist.log_prob(slow_values)
        return log_likelihood

    def _actor_backward(
        self, start: LatentState, start_weight: th.Tensor, behavior: Behavior, reward_fn: RewardFn, fraction: float
    ) -> Imagined:
        """Imagine from ``start`` and backpropagate ``fraction`` times the actor loss of these trajectories
        (the caller freezes the world model and the critic)."""
        world_model, actor, critic = self.policy.world_model, behavior.actor, behavior.critic
        # the returns bootstrap from the slow critic (DreamerV2), unless it regularises the critic instead (DreamerV3)
        target_critic = critic if self.target_critic_regularizer > 0 else (behavior.critic_target or critic)
        scale = 1.0 if critic.return_normalizer is None else critic.return_normalizer.scale
        rho = self.reinforce_mix
        features, actions, log_probs, entropy = self._imagine(start, actor)
        rewards = self._recomputed(reward_fn, features, actions)
        discounts = self.gamma * th.ones_like(rewards)
        if world_model.continue_model is not None:
            logits = self._recomputed(world_model.continue_model, features[1:])
            goes_on = th.sigmoid(logits) if self.imagined_continue == "probability" else (logits > 0).to(logits.dtype)
            discounts = discounts * goes_on
        values = self._recomputed(target_critic, features)  # v(s_0 .. s_H), once: bootstrap values and baseline
        returns = lambda_returns(rewards, values[1:], discounts, self.td_lambda)
        # weight of imagined step k: its discount gamma^k times the probability (or mode) that the episode runs there
        # (times the start state's weight: 0 when the episode has ended at s_0)
        weights = th.cumprod(th.cat([start_weight.unsqueeze(0), discounts[:-1]]), 0).detach()
        objective = self.actor_entropy_coef * entropy
        if rho > 0:
            advantage = ((returns - values[:-1]) / scale).detach()
            objective = objective + rho * log_probs * advantage
        if rho < 1:
            objective = objective + (1 - rho) * returns / scale
        actor_loss = -(weights * objective).mean()
        self._backward(fraction * actor_loss)
        metrics = {
            "actor_loss": actor_loss.detach(),
            "actor_entropy": entropy.mean().detach(),
            "imagined_return": returns.mean().detach(),
            "imagined_reward": rewards.mean().detach(),
        }
        return Imagined(features.detach(), weights, returns.detach(), fraction, metrics)

    def _imagine(self, start: LatentState, actor: Actor) -> tuple[th.Tensor, th.Tensor, th.Tensor, th.Tensor]:
        """Roll the prior forward ``H`` steps with actions sampled from ``actor`` (reparameterised or
        straight-through), so that returns are differentiable in the actor's parameters (not recorded when
        ``reinforce_mix`` is 1, where no gradient takes that path).

        :return: features of ``s_0 .. s_H`` ``(H + 1, N, F)``; at ``s_0 .. s_{H-1}``: the actions taken
            ``(H, N, A)``, their log-probabilities at fixed actions (REINFORCE; zeros when ``reinforce_mix`` is 0)
            ``(H, N)``, and the actor's entropy ``(H, N)`` (:meth:`~sb3_dreamer.common.policies.Actor.entropy`)
        """
        rssm, reinforce = self.policy.world_model.rssm, self.reinforce_mix > 0
        # pure REINFORCE (rho = 1) takes no gradient through the dynamics: the imagined states, rewards and values
        # are then computed without recording them for a backward pass that would never visit them
        dynamics = self.reinforce_mix < 1

        def step(deter: th.Tensor, stoch: th.Tensor) -> tuple[th.Tensor, ...]:
            state = LatentState(deter, stoch)
            dist = actor(state.features.detach())
            action, sample = actor.rsample(dist)
            entropy = actor.entropy(dist, sample)
            log_prob = actor.log_prob(dist, sample.detach()) if reinforce else th.zeros_like(entropy)
            return (*rssm.imagine_step(state, action if dynamics else action.detach()), action, entropy, log_prob)

        state, features, steps = start, [start.features], []
        for _ in range(self.imagination_horizon):
            deter, stoch, *outputs = self._recomputed(step, state.deter, state.stoch)
            state = LatentState(deter, stoch)
            features.append(state.features)
            steps.append(outputs)
        actions, entropies, log_probs = (th.stack(values) for values in zip(*steps, strict=True))
        return th.stack(features), actions, log_probs, entropies

    def _recomputed(self, fn: Callable[..., Any], *args: th.Tensor) -> Any:
        """``fn(*args)``; with ``activation_checkpointing``, its activations are recomputed in the backward pass
        instead of stored (``torch.utils.checkpoint`` replays the random draws, so the result is the same)."""
        if not self.activation_checkpointing:
            return fn(*args)
        return checkpoint(fn, *args, use_reentrant=False)

    def _autocast(self) -> th.autocast:
        """The forward passes' precision: bfloat16 autocast when computing in bf16-mixed, else a no-op."""
        return th.autocast(self.device.type, dtype=th.bfloat16, enabled=self.compute_precision == "bf16-mixed")

    def _step(self, optimizer: th.optim.Optimizer, loss: th.Tensor, parameters: Any, max_norm: float | None = None) -> None:
        """Backpropagate ``loss``, clip the gradient norm (at ``max_norm``, default ``max_grad_norm``) and step."""
        optimizer.zero_grad(set_to_none=True)
        self._backward(loss)
        self._apply_gradients(optimizer, parameters, max_norm)

    def _backward(self, loss: th.Tensor) -> None:
        """Add the gradients of ``loss`` (backpropagated outside autocast, as torch recommends)."""
        with th.autocast(self.device.type, enabled=False):
            loss.backward()

    def _apply_gradients(self, optimizer: th.optim.Optimizer, parameters: Any, max_norm: float | None = None) -> None:
        """Clip the norm of the accumulated gradients to ``max_norm`` (default ``max_grad_norm``) and take the
        optimizer step."""
        th.nn.utils.clip_grad_norm_(parameters, self.max_grad_norm if max_norm is None else max_norm)
        optimizer.step()

    def _update_target_critics(self) -> None:
        """Every ``target_update_interval`` updates, move each slow critic towards its critic: a hard copy with
        ``tau = 1`` (DreamerV2), an exponential moving average of the parameters otherwise (DreamerV3)."""
        for behavior in self.policy.behaviors().values():
            if behavior.critic_target is not None and self._n_updates % self.target_update_interval == 0:
                if self.tau >= 1.0:
                    behavior.critic_target.load_state_dict(behavior.critic.state_dict())
                else:
                    polyak_update(behavior.critic.parameters(), behavior.critic_target.parameters(), self.tau)

    def _pictures_due(self) -> bool:
        """Whether this update logs world-model pictures: every ``image_log_interval`` updates, with TensorBoard."""
        if self.image_log_interval <= 0 or self._n_updates % self.image_log_interval != 0:
            return False
        return any(isinstance(output, TensorBoardOutputFormat) for output in self.logger.output_formats)

    @th.no_grad()
    def _log_world_model_pictures(self, batch: SequenceSamples, n_sequences: int = 4, context: int = 5) -> None:
        """TensorBoard pictures of the world model on the batch's first sequences: for each image key, the
        reconstructions (truth, reconstruction, error) as an image and the open-loop prediction
        (:meth:`~sb3_dreamer.common.rssm.RSSM.open_loop`: ``context`` observed steps, then imagined from the
        actions taken; truth, prediction, error side by side) as a video; for vector keys and the reward, a
        figure of the open-loop prediction against the truth."""
        policy, world_model = self.policy, self.policy.world_model
        sequences = {key: value[:n_sequences] for key, value in batch.observations.items()}
        actions, is_first = batch.actions[:n_sequences], batch.is_first[:n_sequences]
        obs, embed, _, reconstruction = policy.reconstruct(sequences, actions, is_first)
        open_loop = world_model.rssm.open_loop(embed, actions, is_first, min(context, actions.shape[1] - 1))
        prediction = world_model.decoder(open_loop.features)
        exclude = ("stdout", "log", "json", "csv")
        for key in policy.image_keys:
            truth, recon, pred = (_rgb(x[key] + policy.image_offset) for x in (obs, reconstruction, prediction))
            frames = truth[0, :8], recon[0, :8]  # (T, 3, H, W)
            rows = th.cat([*frames, (frames[1] - frames[0]).abs()], dim=-2)  # truth / reconstruction / error
            grid = th.cat(list(rows), -1).clamp(0, 1)  # frames side by side: (3, 3H, 8W)
            self.logger.record(f"world_model/reconstruction_{key}", Image(grid.cpu(), "CHW"), exclude)
            video = th.cat([truth, pred, (pred - truth).abs()], dim=-1).clamp(0, 1)  # (N, T, 3, H, 3W)
            self.logger.record(f"world_model/open_loop_{key}", Video(video.cpu(), fps=10), exclude)
        vectors = {key: (obs[key][0], prediction[key][0]) for key in obs if key not in policy.image_keys}
        vectors["reward"] = (batch.rewards[0], world_model.reward_model(open_loop.features[0]))
        self.logger.record("world_model/open_loop_vectors", Figure(_open_loop_figure(vectors, context), close=True), exclude)

    # ------------------------------------------------------------------ saving
    @classmethod
    def load(  # type: ignore[override]
        cls: type[SelfDreamer],
        path: str | pathlib.Path | io.BufferedIOBase,
        env: GymEnv | None = None,
        device: th.device | str = "auto",
        custom_objects: dict[str, Any] | None = None,
        print_system_info: bool = False,
        force_reset: bool = True,
        **kwargs: Any,
    ) -> SelfDreamer:
        """SB3's ``load``, after checking that ``path`` is a readable ``.zip`` saved by this algorithm.

        :raises CheckpointError: the file is truncated or corrupt, was saved by another algorithm, or its
            parameters do not fit the model it describes
        """
        start = path.tell() if isinstance(path, io.BufferedIOBase) else None
        try:
            data, _, _ = load_from_zip_file(path, custom_objects=custom_objects, device="cpu")
        except FileNotFoundError:
            raise
        except Exception as error:
            raise CheckpointError(
                f"Cannot read {path} as a saved model ({type(error).__name__}: {error}): it is truncated, "
                "corrupt or not a .zip written by model.save()."
            ) from error
        if start is not None:
            path.seek(start)  # type: ignore[union-attr]
        policy_class = (data or {}).get("policy_class")
        if not (isinstance(policy_class, type) and issubclass(policy_class, tuple(cls.policy_aliases.values()))):
            name = f"{policy_class.__module__}.{policy_class.__qualname__}" if isinstance(policy_class, type) else policy_class
            raise CheckpointError(
                f"{path} does not hold a {cls.__name__} model: its policy is {name}. "
                "Load it with the algorithm class that saved it."
            )
        try:
            return super().load(path, env, device, custom_objects, print_system_info, force_reset, **kwargs)
        except (KeyError, RuntimeError, TypeError) as error:
            raise CheckpointError(f"{path} does not fit the {cls.__name__} it describes: {error}") from error

    @classmethod
    def load_checkpoint(
        cls: type[SelfDreamer], path: str, env: GymEnv | None = None, device: th.device | str = "auto"
    ) -> SelfDreamer:
        """Rebuild the model saved by :class:`~sb3_dreamer.RunCheckpointCallback` (a checkpoint folder, or a run
        folder's latest checkpoint) with its replay, ready to continue. Without ``env`` the pickled training
        environments continue their episodes and the random generators are restored, so the continuation
        equals the uninterrupted run; a given ``env`` starts new episodes."""
        return load_checkpoint(cls, path, env, device)  # type: ignore[return-value]

    @classmethod
    def resume(
        cls: type[SelfDreamer],
        path: str,
        env: GymEnv | None = None,
        device: th.device | str = "auto",
        callback: MaybeCallback = None,
    ) -> SelfDreamer:
        """Continue an interrupted run from its checkpoint folder up to the step budget of the ``learn()`` call
        that wrote it, checkpointing on into the same folder as before.

        :param path: the run folder given to :class:`~sb3_dreamer.RunCheckpointCallback` (or one checkpoint in it)
        :param env: None to continue in the pickled training environments, or environments to start anew in
        :param device: device to load the model on
        :param callback: further callbacks for the rest of the run
        """
        model = cls.load_checkpoint(path, env, device)
        run = model._checkpoint
        learn_args = run["learn"]
        remaining = learn_args["total_timesteps"] - model.num_timesteps
        if remaining <= 0:
            return model
        checkpointing = RunCheckpointCallback(save_path=run["folder"], **run["settings"])
        return model.learn(
            remaining,
            callback=[checkpointing, *([] if callback is None else [callback])],  # type: ignore[list-item]
            log_interval=learn_args.get("log_interval", 4),
            tb_log_name=learn_args.get("tb_log_name", cls.__name__),
            reset_num_timesteps=False,
            progress_bar=learn_args.get("progress_bar", False),
        )

    def save_replay_buffer(self, path: str | pathlib.Path | io.BufferedIOBase) -> None:
        """Save the replay buffer as a pickle followed by its SHA-256, which :meth:`load_replay_buffer` checks."""
        save_checked_pkl(path, self.replay_buffer)

    def load_replay_buffer(self, path: str | pathlib.Path | io.BufferedIOBase, truncate_last_traj: bool = True) -> None:
        """Load a replay buffer saved by :meth:`save_replay_buffer` (``truncate_last_traj`` applies to HER only).

        :raises CheckpointError: the file is unreadable, or holds a replay of other spaces or environments
        """
        buffer = load_checked_pkl(path)
        check_replay_buffer(buffer, self.observation_space, self.action_space, self.n_envs, str(path))
        buffer.device = self.device
        unused, self.replay_buffer = self.replay_buffer, buffer
        if (
            unused is not None
            and unused.size() == 0
            and getattr(unused, "_storage_id", None) != getattr(buffer, "_storage_id", None)
        ):
            unused.release()  # the empty memory-mapped buffer that load() built leaves no files behind

    def _excluded_save_params(self) -> list[str]:
        excluded = ["_collect_state", "_checkpoint", "actor_lr_schedule", "critic_lr_schedule", "compute_precision"]
        return [*super()._excluded_save_params(), *excluded]

    def _get_torch_save_params(self) -> tuple[list[str], list[str]]:
        return ["policy", "policy.optimizer", "policy.actor_optimizer", "policy.critic_optimizer"], []

    def learn(
        self: SelfDreamer,
        total_timesteps: int,
        callback: MaybeCallback = None,
        log_interval: int = 4,
        tb_log_name: str = "Dreamer",
        reset_num_timesteps: bool = True,
        progress_bar: bool = False,
    ) -> SelfDreamer:
        return super().learn(
            total_timesteps=total_timesteps,
            callback=callback,
            log_interval=log_interval,
            tb_log_name=tb_log_name,
            reset_num_timesteps=reset_num_timesteps,
            progress_bar=progress_bar,
        )


def _rgb(images: th.Tensor) -> th.Tensor:
    """Images ``(..., C, H, W)`` as 3 channels for TensorBoard: grey repeated, other channel counts (MinAtar's
    object layers) merged by their maximum."""
    if images.shape[-3] != 3:
        images = images.amax(dim=-3, keepdim=True)
    return images.expand(*images.shape[:-3], 3, *images.shape[-2:])


def _open_loop_figure(series: dict[str, tuple[th.Tensor, th.Tensor]], context: int, max_dims: int = 6) -> MatplotlibFigure:
    """A figure of predicted against true trajectories ``(L, D)`` or ``(L,)``, one panel per dimension
    (the first ``max_dims`` of each key), with the end of the observed context marked."""
    panels = [
        (f"{key}[{d}]" if truth.dim() > 1 else key, truth.reshape(len(truth), -1)[:, d], pred.reshape(len(pred), -1)[:, d])
        for key, (truth, pred) in series.items()
        for d in range(min(max_dims, truth.reshape(len(truth), -1).shape[1]))
    ]
    figure = MatplotlibFigure(figsize=(6, 1.6 * len(panels)))
    axes = figure.subplots(len(panels), 1, sharex=True, squeeze=False)
    for ax, (title, truth, pred) in zip(axes[:, 0], panels, strict=True):
        ax.plot(truth.cpu().numpy(), label="truth")
        ax.plot(pred.cpu().numpy(), label="open-loop prediction")
        ax.axvline(context - 0.5, color="grey", linestyle=":")
        ax.set_ylabel(title)
    axes[0, 0].legend(loc="upper right", fontsize="small")
    axes[-1, 0].set_xlabel("step in sequence (observed before the dotted line)")
    figure.tight_layout()
    return figure


def _chunks(parts: dict[str, tuple[th.Tensor, ...]], n_chunks: int) -> list[dict[str, th.Tensor]]:
    """``n_chunks`` dicts of observations from each key's ``n_chunks`` parts."""
    return [{key: values[i] for key, values in parts.items()} for i in range(n_chunks)]
