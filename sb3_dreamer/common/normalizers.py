"""Return normalisation of DreamerV3 (Hafner et al., 2023, https://arxiv.org/abs/2301.04104v1, actor learning)."""

from __future__ import annotations

import torch as th
from torch import nn


class PercentileReturnNormalizer(nn.Module):
    """The scale ``S`` by which DreamerV3 divides returns and advantages in the actor loss: an exponential moving
    average (decay 0.99) of the 5th and 95th percentiles of the lambda-returns, and ``S = max(1, EMA(P95) - EMA(P5))``.

    Large returns are scaled down to a range of about 1; small ones are not scaled up (the floor of 1), so that
    with sparse or small rewards the entropy bonus is not amplified into noise. As in the authors' code the
    averages start at 0 without bias correction. The averages are buffers: saved and loaded with the model.

    :param decay: the EMA's decay per update
    :param low: the lower percentile
    :param high: the upper percentile
    """

    low: th.Tensor
    high: th.Tensor

    def __init__(self, decay: float = 0.99, low: float = 5.0, high: float = 95.0) -> None:
        super().__init__()
        self.decay, self.low_percentile, self.high_percentile = decay, low, high
        self.register_buffer("low", th.zeros(()))
        self.register_buffer("high", th.zeros(()))

    @property
    def scale(self) -> th.Tensor:
        """``S = max(1, EMA(P95) - EMA(P5))`` (a scalar tensor, no gradient)."""
        return (self.high - self.low).clamp(min=1.0)

    @th.no_grad()
    def update(self, returns: th.Tensor) -> None:
        """Move the averages towards the percentiles of this batch of returns (all of its entries)."""
        q = th.tensor([self.low_percentile, self.high_percentile], device=returns.device) / 100.0
        low, high = th.quantile(returns.detach().float().flatten(), q)  # linear interpolation, as numpy's percentile
        self.low.mul_(self.decay).add_((1.0 - self.decay) * low)
        self.high.mul_(self.decay).add_((1.0 - self.decay) * high)

    def extra_repr(self) -> str:
        """The settings, for ``print(module)``."""
        return f"decay={self.decay}, percentiles=({self.low_percentile}, {self.high_percentile})"
