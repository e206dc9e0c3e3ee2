"""Loss terms shared by the Dreamer family."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch as th
from torch import distributions as td
from torch import nn

from sb3_dreamer.common.rssm import Latent


def kl_loss(
    posterior_params: th.Tensor,
    prior_params: th.Tensor,
    latent: Latent,
    free_nats: float,
    balance: float | None = None,
    free_nats_per_step: bool = False,
) -> tuple[th.Tensor, th.Tensor]:
    """KL regulariser of the world model, with free nats and optional KL balancing.

    * ``balance=None`` (Dreamer V1, Eq. 10 and Appendix A): ``max(free_nats, KL(q || p))``. Below
      ``free_nats`` the term is constant, so it stops pulling the posterior towards the prior once they are
      close enough (the clip applies to the KL averaged over batch and time, as in the reference code).
    * ``balance=alpha`` (DreamerV2, Algorithm 2): ``alpha * max(free, KL(sg(q) || p)) + (1 - alpha) *
      max(free, KL(q || sg(p)))``. The value is the KL's, but the prior gets the fraction ``alpha`` of its
      gradient and the posterior ``1 - alpha``: the prior learns to predict faster than the posterior
      learns to be predictable.
    * DreamerV3 (world model learning) is the balanced form with ``free_nats_per_step``: the dynamics loss
      ``max(1, KL(sg(q) || p))`` and the representation loss ``max(1, KL(q || sg(p)))``, each clipped at every
      time step (the KL summed over the latent variables) before the mean, weighted 0.5 and 0.1. That is
      ``kl_scale = 0.6`` times ``balance = 0.5 / 0.6``.

    :param posterior_params: parameters of ``q(z_t | h_t, e_t)`` ``(..., P)``
    :param prior_params: parameters of ``p(z_t | h_t)`` ``(..., P)``
    :param latent: the latent type that turns parameters into distributions
    :param free_nats: the clip (free nats, or DreamerV3's free bits)
    :param balance: None for the plain KL, or the prior's share alpha of the gradient
    :param free_nats_per_step: clip the KL of each time step (DreamerV3) instead of its mean (Dreamer V1, V2)
    :return: the loss term and the unclipped mean KL (for logging)
    """

    def clipped(kl_steps: th.Tensor) -> th.Tensor:
        if free_nats_per_step:
            return th.clamp(kl_steps, min=free_nats).mean()
        return th.clamp(kl_steps.mean(), min=free_nats)

    posterior, prior = latent.dist(posterior_params), latent.dist(prior_params)
    kl_steps = td.kl_divergence(posterior, prior)
    kl = kl_steps.mean()
    if balance is None:
        return clipped(kl_steps), kl
    train_prior = td.kl_divergence(latent.dist(posterior_params.detach()), prior)
    train_posterior = td.kl_divergence(posterior, latent.dist(prior_params.detach()))
    return balance * clipped(train_prior) + (1 - balance) * clipped(train_posterior), kl


@contextmanager
def frozen(*modules: nn.Module | None) -> Iterator[None]:
    """Disable gradients of the given modules' parameters, e.g. the world model while the actor learns
    through it: gradients still flow through their activations, but no parameter gradient is computed."""
    params = [p for m in modules if m is not None for p in m.parameters() if p.requires_grad]
    for p in params:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p in params:
            p.requires_grad_(True)
