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
) -> tuple[th.Tensor, th.Tensor]:
    """KL regulariser of the world model, with free nats and optional KL balancing.

    * ``balance=None`` (Dreamer V1, Eq. 10 and Appendix A): ``max(free_nats, KL(q || p))``. Below
      ``free_nats`` the term is constant, so it stops pulling the posterior towards the prior once they are
      close enough (the clip applies to the KL averaged over batch and time, as in the reference code).
    * ``balance=alpha`` (DreamerV2, Algorithm 2): ``alpha * max(free, KL(sg(q) || p)) + (1 - alpha) *
      max(free, KL(q || sg(p)))``. The value is the KL's, but the prior gets the fraction ``alpha`` of its
      gradient and the posterior ``1 - alpha``: the prior learns to predict faster than the posterior
      learns to be predictable.

    :return: the loss term and the unclipped mean KL (for logging)
    """
    posterior, prior = latent.dist(posterior_params), latent.dist(prior_params)
    kl = td.kl_divergence(posterior, prior).mean()
    if balance is None:
        return th.clamp(kl, min=free_nats), kl
    train_prior = td.kl_divergence(latent.dist(posterior_params.detach()), prior).mean()
    train_posterior = td.kl_divergence(posterior, latent.dist(prior_params.detach())).mean()
    loss = balance * th.clamp(train_prior, min=free_nats) + (1 - balance) * th.clamp(train_posterior, min=free_nats)
    return loss, kl


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
