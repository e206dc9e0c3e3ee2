"""Transforms of DreamerV3 (Hafner, Pasukonis, Ba, Lillicrap, 2023, https://arxiv.org/abs/2301.04104v1):
the symlog squashing of inputs and targets, the two-hot encoding of a scalar over a fixed grid of bins, and the
uniform mix of categorical distributions ("unimix")."""

from __future__ import annotations

import torch as th


def symlog(x: th.Tensor) -> th.Tensor:
    """``symlog(x) = sign(x) ln(|x| + 1)``: the identity near 0, logarithmic for large magnitudes, odd."""
    return th.sign(x) * th.log1p(x.abs())


def symexp(x: th.Tensor) -> th.Tensor:
    """``symexp(x) = sign(x) (exp(|x|) - 1)``, the inverse of :func:`symlog`."""
    return th.sign(x) * th.expm1(x.abs())


def symlog_grid(bins: int = 255, limit: float = 20.0) -> th.Tensor:
    """The even grid ``[-limit, ..., +limit]`` of ``bins`` points in symlog space; :func:`symexp` of it is DreamerV3's
    exponentially spaced bins ``B = symexp([-20, ..., +20])`` (255 bins). Exactly symmetric in float32
    (``th.linspace`` alone is not, by about 1e-7), so that mirrored bins cancel."""
    grid = th.linspace(-limit, limit, bins, dtype=th.float64)
    return ((grid - grid.flip(0)) / 2).float()


def two_hot(x: th.Tensor, grid: th.Tensor) -> th.Tensor:
    """Two-hot encoding of scalars ``x`` ``(...)`` over the sorted bins ``grid`` ``(K,)`` (DreamerV3): a vector
    ``(..., K)`` with weight on the two bins around ``x``, inversely proportional to their distances, so that the
    weighted mean of the bins is ``x``. A value on a bin is one-hot there; values beyond the outer bins are
    clipped to them.
    """
    x = x.float().clamp(grid[0], grid[-1])
    above = th.searchsorted(grid, x.contiguous(), right=True).clamp(max=len(grid) - 1)  # first bin above x
    below = (above - 1).clamp(min=0)
    low, high = grid[below], grid[above]
    weight_above = ((x - low) / (high - low)).clamp(0.0, 1.0)  # at the last bin: below = K - 2, weight 1
    encoding = th.zeros(*x.shape, len(grid), dtype=x.dtype, device=x.device)
    encoding.scatter_add_(-1, below.unsqueeze(-1), (1.0 - weight_above).unsqueeze(-1))
    encoding.scatter_add_(-1, above.unsqueeze(-1), weight_above.unsqueeze(-1))
    return encoding


def unimix_logits(logits: th.Tensor, mix: float) -> th.Tensor:
    """Logits of the categorical ``(1 - mix) softmax(logits) + mix / K`` over the last dimension (DreamerV3:
    1% uniform), so that no class has a probability below ``mix / K`` and the KL stays finite."""
    if mix <= 0.0:
        return logits
    probs = th.softmax(logits.float(), dim=-1)
    return th.log((1.0 - mix) * probs + mix / logits.shape[-1])
