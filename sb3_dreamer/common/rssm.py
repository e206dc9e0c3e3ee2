"""Recurrent state-space model (RSSM), Dreamer V1 Sec. 3 / PlaNet Sec. 3.

The model state ``s_t = (h_t, z_t)`` has a deterministic part ``h_t`` and a stochastic part ``z_t``:

- RecurrentModel       ``h_t = f(h_{t-1}, z_{t-1}, a_{t-1})``  (a GRU)
- TransitionModel      ``p(z_t | h_t)``                         (the prior, used in imagination)
- RepresentationModel  ``q(z_t | h_t, e_t)``                    (the posterior, ``e_t`` embeds ``o_t``)

``z_t`` is a diagonal Gaussian in Dreamer V1 (:class:`GaussianLatent`) and a vector of one-hot
categorical variables in DreamerV2 (:class:`CategoricalLatent`); the RSSM is the same for both.
"""

from __future__ import annotations

from typing import NamedTuple

import torch as th
import torch.nn.functional as F
from torch import distributions as td
from torch import nn

from sb3_dreamer.common.distributions import one_hot_mode, one_hot_straight_through
from sb3_dreamer.common.linear import GRUCell
from sb3_dreamer.common.networks import NormGRUCell, mlp
from sb3_dreamer.common.transforms import unimix_logits


class LatentState(NamedTuple):
    """Model state ``s_t = (h_t, z_t)``; any leading batch shape."""

    deter: th.Tensor
    stoch: th.Tensor

    @property
    def features(self) -> th.Tensor:
        """The concatenation ``[h_t, z_t]`` that every head (decoder, reward, actor, critic) reads."""
        return th.cat([self.deter, self.stoch], dim=-1)

    def detach(self) -> LatentState:
        """The same state cut from the autograd graph (``h_t`` and ``z_t`` detached)."""
        return LatentState(self.deter.detach(), self.stoch.detach())

    def flatten(self) -> LatentState:
        """Merge all leading dimensions into one batch dimension."""
        return LatentState(self.deter.reshape(-1, self.deter.shape[-1]), self.stoch.reshape(-1, self.stoch.shape[-1]))


class GaussianLatent(nn.Module):
    """Diagonal Gaussian stochastic state of Dreamer V1: ``std = softplus(x) + min_std``."""

    def __init__(self, size: int, min_std: float = 0.1) -> None:
        super().__init__()
        self.size = size
        self.param_size = 2 * size
        self.min_std = min_std

    def dist(self, params: th.Tensor) -> td.Independent:
        """The Gaussian over ``z_t`` given its parameters ``[mean, raw std]`` (last dimension ``2 * size``)."""
        mean, std = params.chunk(2, dim=-1)
        return td.Independent(td.Normal(mean, F.softplus(std) + self.min_std, validate_args=False), 1, validate_args=False)

    def sample(self, params: th.Tensor, deterministic: bool = False) -> th.Tensor:
        """A reparameterised sample of ``z_t``, or its mean when ``deterministic``."""
        dist = self.dist(params)
        return dist.mean if deterministic else dist.rsample()


#: what a deterministic categorical ``z_t`` is (:class:`CategoricalLatent`)
DETERMINISTIC_LATENTS = ("mean", "mode")


class CategoricalLatent(nn.Module):
    """DreamerV2's stochastic state (Sec. 2.1, Fig. 2): ``variables`` one-hot categoricals of ``classes``
    classes each, flattened to one vector; samples pass straight-through gradients (Algorithm 1).

    :param unimix: DreamerV3's uniform mix (0.01): each categorical is ``(1 - unimix) softmax + unimix / K``,
        for the prior and the posterior alike, so that no class has a probability below ``unimix / K``
    :param deterministic: what a deterministic ``z_t`` is: ``"mean"``, each categorical's class probabilities, or
        ``"mode"``, its most likely class as a one-hot
    """

    def __init__(self, variables: int = 32, classes: int = 32, unimix: float = 0.0, deterministic: str = "mean") -> None:
        super().__init__()
        if deterministic not in DETERMINISTIC_LATENTS:
            raise ValueError(f"deterministic must be one of {DETERMINISTIC_LATENTS}, got {deterministic!r}.")
        self.variables, self.classes, self.unimix, self.deterministic = variables, classes, unimix, deterministic
        self.size = self.param_size = variables * classes

    def dist(self, params: th.Tensor) -> td.Independent:
        """Independent one-hot categoricals over ``z_t`` given the flat logits (last dimension ``variables * classes``)."""
        logits = unimix_logits(params.unflatten(-1, (self.variables, self.classes)), self.unimix)
        return td.Independent(one_hot_straight_through(logits), 1, validate_args=False)

    def sample(self, params: th.Tensor, deterministic: bool = False) -> th.Tensor:
        """A straight-through one-hot sample of ``z_t``, flattened to ``variables * classes``; when
        ``deterministic``, the mean (class probabilities) or the mode (argmax one-hot), as set at construction."""
        dist = self.dist(params)
        if not deterministic:
            sample = dist.rsample()
        elif self.deterministic == "mean":
            sample = dist.base_dist.probs
        else:
            sample = one_hot_mode(dist.base_dist)
        return sample.flatten(-2)


#: the stochastic-state types the RSSM supports
Latent = GaussianLatent | CategoricalLatent


class RecurrentModel(nn.Module):
    """``h_t = GRU(h_{t-1}, MLP([z_{t-1}, a_{t-1}]))``; with ``norm``, DreamerV3's normalised GRU
    (:class:`~sb3_dreamer.common.networks.NormGRUCell`) and input layer."""

    def __init__(
        self,
        stoch_size: int,
        action_dim: int,
        deter_size: int,
        hidden_size: int,
        activation: type[nn.Module],
        norm: str | None = None,
    ):
        super().__init__()
        self.input = mlp(stoch_size + action_dim, [hidden_size], None, activation, norm)
        self.gru = GRUCell(hidden_size, deter_size) if norm is None else NormGRUCell(hidden_size, deter_size, norm)

    def forward(self, deter: th.Tensor, stoch: th.Tensor, action: th.Tensor) -> th.Tensor:
        """The next deterministic state ``h_t`` from ``h_{t-1}``, ``z_{t-1}`` and ``a_{t-1}``. The GRU cell runs
        outside autocast, in float32 (CUDA's autocast would run it in bf16): rounding the recurrent state at
        every step would compound along sequences."""
        x = self.input(th.cat([stoch, action], dim=-1))
        with th.autocast(x.device.type, enabled=False):
            return self.gru(x.float(), deter.float())


class TransitionModel(nn.Module):
    """Prior ``p(z_t | h_t)``: parameters of the latent distribution from the deterministic state."""

    def __init__(
        self, deter_size: int, hidden_size: int, param_size: int, activation: type[nn.Module], norm: str | None = None
    ):
        super().__init__()
        self.net = mlp(deter_size, [hidden_size], param_size, activation, norm)

    def forward(self, deter: th.Tensor) -> th.Tensor:
        """Parameters of the prior over ``z_t`` given ``h_t`` (float32, also under bf16 autocast)."""
        return self.net(deter).float()


class RepresentationModel(nn.Module):
    """Posterior ``q(z_t | h_t, e_t)``: parameters of the latent distribution given the observation embedding."""

    def __init__(
        self,
        deter_size: int,
        embed_size: int,
        hidden_size: int,
        param_size: int,
        activation: type[nn.Module],
        norm: str | None = None,
    ):
        super().__init__()
        self.net = mlp(deter_size + embed_size, [hidden_size], param_size, activation, norm)

    def forward(self, deter: th.Tensor, embed: th.Tensor) -> th.Tensor:
        """Parameters of the posterior over ``z_t`` given ``h_t`` and the embedding ``e_t`` of ``o_t``."""
        return self.net(th.cat([deter, embed], dim=-1)).float()


class RSSM(nn.Module):
    """The recurrent state-space model: filtering on real sequences and imagination from the prior.

    :param norm: None, or ``"layer"``/``"rms"`` in the GRU and every hidden layer (DreamerV3)
    """

    def __init__(
        self,
        embed_size: int,
        action_dim: int,
        deter_size: int,
        latent: Latent,
        hidden_size: int,
        activation: type[nn.Module],
        norm: str | None = None,
    ) -> None:
        super().__init__()
        self.deter_size = deter_size
        self.action_dim = action_dim
        self.latent = latent
        self.recurrent_model = RecurrentModel(latent.size, action_dim, deter_size, hidden_size, activation, norm)
        self.transition_model = TransitionModel(deter_size, hidden_size, latent.param_size, activation, norm)
        self.representation_model = RepresentationModel(
            deter_size, embed_size, hidden_size, latent.param_size, activation, norm
        )

    @property
    def feature_size(self) -> int:
        """Size of the features ``[h_t, z_t]`` that the heads read."""
        return self.deter_size + self.latent.size

    def initial_state(self, batch_size: int, device: th.device) -> LatentState:
        """The all-zero state that starts every episode."""
        return LatentState(
            th.zeros(batch_size, self.deter_size, device=device), th.zeros(batch_size, self.latent.size, device=device)
        )

    def observe_step(
        self,
        state: LatentState,
        action: th.Tensor,
        embed: th.Tensor,
        is_first: th.Tensor,
        deterministic: bool = False,
    ) -> tuple[LatentState, th.Tensor]:
        """One filtering step. Rows with ``is_first`` restart from the zero state and zero action.

        :return: posterior state and posterior parameters
        """
        keep = (~is_first).to(embed.dtype).unsqueeze(-1)
        deter = self.recurrent_model(state.deter * keep, state.stoch * keep, action * keep)
        post_params = self.representation_model(deter, embed)
        return LatentState(deter, self.latent.sample(post_params, deterministic)), post_params

    def observe(self, embed: th.Tensor, actions: th.Tensor, is_first: th.Tensor) -> tuple[LatentState, th.Tensor, th.Tensor]:
        """Filter a batch of sequences ``(B, L, ...)``; ``actions[:, t]`` is the action that led to ``o_t``.

        The prior depends on ``h_t`` only, so it is computed once for all steps after the loop.

        :return: posterior states ``(B, L, ...)``, prior and posterior parameters ``(B, L, P)``
        """
        state = self.initial_state(embed.shape[0], embed.device)
        deters, stochs, posts = [], [], []
        # unbind, not embed[:, t]: each indexed step's backward would add a zero-padded gradient the size of the
        # whole sequence, L times over; unbind's backward stacks the L gradients once
        for action, step_embed, first in zip(actions.unbind(1), embed.unbind(1), is_first.unbind(1), strict=True):
            state, post = self.observe_step(state, action, step_embed, first)
            deters.append(state.deter)
            stochs.append(state.stoch)
            posts.append(post)
        states = LatentState(th.stack(deters, 1), th.stack(stochs, 1))
        return states, self.transition_model(states.deter), th.stack(posts, 1)

    def open_loop(self, embed: th.Tensor, actions: th.Tensor, is_first: th.Tensor, context: int) -> LatentState:
        """Open-loop prediction (Dreamer V1, Fig. 5): filter the first ``context`` steps of each sequence
        ``(B, L, ...)``, then predict the rest from the prior and the actions taken, observing nothing more.

        :return: states ``(B, L, ...)``: posterior for ``t < context``, prior samples after
        """
        posterior, _, _ = self.observe(embed[:, :context], actions[:, :context], is_first[:, :context])
        state = LatentState(posterior.deter[:, -1], posterior.stoch[:, -1])
        deters, stochs = [posterior.deter], [posterior.stoch]
        for t in range(context, actions.shape[1]):
            state = self.imagine_step(state, actions[:, t])
            deters.append(state.deter.unsqueeze(1))
            stochs.append(state.stoch.unsqueeze(1))
        return LatentState(th.cat(deters, 1), th.cat(stochs, 1))

    def imagine_step(self, state: LatentState, action: th.Tensor) -> LatentState:
        """``s_{t+1} ~ p(s_{t+1} | s_t, a_t)`` with a reparameterised sample from the prior."""
        deter = self.recurrent_model(state.deter, state.stoch, action)
        return LatentState(deter, self.latent.sample(self.transition_model(deter)))
