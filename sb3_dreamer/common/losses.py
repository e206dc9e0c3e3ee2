"""Loss terms shared by the Dreamer family."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch as th
from torch import distributions as td
from torch import nn


def free_nats_kl(posterior: td.Distribution, prior: td.Distribution, free_nats: float) -> tuple[th.Tensor, th.Tensor]:
    """KL regulariser of the world model with free nats (Dreamer V1, Eq. 10 and Appendix A).

    ``max(free_nats, mean KL(posterior || prior))``: below ``free_nats`` the term is constant, so it stops
    pulling the posterior towards the prior once they are close enough (as in the reference code, the
    clip applies to the KL averaged over the batch and time).

    :return: the loss term and the unclipped mean KL (for logging)
    """
    kl = td.kl_divergence(posterior, prior).mean()
    return th.clamp(kl, min=free_nats), kl


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
