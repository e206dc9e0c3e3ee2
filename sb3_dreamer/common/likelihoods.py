"""Output distributions of the prediction heads: each has ``mean`` (the prediction) and ``log_prob(target)``
(the likelihood the head is trained to maximise).

- :class:`UnitNormal`: a unit-variance Gaussian, Dreamer V1 and DreamerV2's likelihood of images, vectors,
  rewards and values.
- :class:`SquaredError`: DreamerV3's reconstruction loss, the summed squared error, of vectors in symlog space.
- :class:`TwoHot`: DreamerV3's discrete regression of rewards and values over exponentially spaced bins.
"""

from __future__ import annotations

import torch as th

from sb3_dreamer.common.distributions import unit_normal_log_prob
from sb3_dreamer.common.transforms import symexp, symlog, two_hot


class UnitNormal:
    """Gaussian of mean ``mean`` and unit variance over the last ``event_dims`` dimensions.

    :param mean: the predicted mean
    :param event_dims: how many trailing dimensions form one event (summed in ``log_prob``)
    """

    def __init__(self, mean: th.Tensor, event_dims: int) -> None:
        self.mean, self.event_dims = mean, event_dims

    def log_prob(self, value: th.Tensor) -> th.Tensor:
        """``ln N(value; mean, 1)``, summed over the event dimensions (:func:`unit_normal_log_prob`)."""
        return unit_normal_log_prob(self.mean, value, self.event_dims)


class SquaredError:
    """DreamerV3's reconstruction likelihood (the paper's prediction loss, the authors' ``MSEDist`` and
    ``SymlogDist``): ``log_prob`` is minus the squared error summed over the event, between the network's output and
    the target, the target taken to symlog space when ``symlog`` is set (vector observations); images are compared
    as they are.

    :param prediction: the network's output (in symlog space when ``symlog``)
    :param event_dims: how many trailing dimensions form one event
    :param symlog: compare in symlog space, and predict ``symexp(prediction)``
    """

    def __init__(self, prediction: th.Tensor, event_dims: int, symlog: bool = False) -> None:
        self.prediction, self.event_dims, self.symlog = prediction, event_dims, symlog

    @property
    def mean(self) -> th.Tensor:
        """The prediction in the target's space: ``symexp`` of the output for symlog targets."""
        return symexp(self.prediction) if self.symlog else self.prediction

    def log_prob(self, value: th.Tensor) -> th.Tensor:
        """``-||prediction - symlog(value)||^2`` (or ``-||prediction - value||^2``), summed over the event."""
        target = symlog(value) if self.symlog else value
        squared = (self.prediction - target) ** 2
        return -(squared.sum(dim=tuple(range(-self.event_dims, 0))) if self.event_dims else squared)


class TwoHot:
    """Discrete regression of a scalar (DreamerV3, "Symlog predictions"): a softmax over ``K``
    bins whose locations are ``symexp(grid)``, for an even ``grid`` (255 points over [-20, 20]).

    As in the authors' code, the two-hot target and the expectation are taken in symlog space: ``log_prob(y)`` is the
    cross-entropy with ``two_hot(symlog(y), grid)`` and ``mean`` is ``symexp(sum_i p_i grid_i)``. The paper writes
    ``sum_i p_i symexp(grid_i)``; with bins up to ``symexp(20) = 4.9e8``, float32 sums of that form are off by
    0.3 even for uniform probabilities, and a probability of 1e-9 on the outer bin moves the prediction by 0.5.
    The sum pairs each bin with its mirror image, so that uniform probabilities (a zero-initialised output layer)
    predict exactly 0.

    :param logits: the network's output ``(..., K)``
    :param grid: the bins in symlog space ``(K,)``, sorted and symmetric around 0
    """

    def __init__(self, logits: th.Tensor, grid: th.Tensor) -> None:
        self.logits, self.grid = logits.float(), grid

    @property
    def probs(self) -> th.Tensor:
        """The probability of each bin ``(..., K)``."""
        return th.softmax(self.logits, dim=-1)

    @property
    def mean(self) -> th.Tensor:
        """``symexp`` of the expected bin in symlog space, summed symmetrically (outer bins first, pairwise)."""
        weighted = self.probs * self.grid
        half = weighted.shape[-1] // 2
        pairs = weighted[..., :half].flip(-1) + weighted[..., -half:]  # bin i with bin K - 1 - i, innermost first
        middle = weighted[..., half:-half].sum(-1)  # the centre bin when K is odd
        return symexp(pairs.sum(-1) + middle)

    def log_prob(self, value: th.Tensor) -> th.Tensor:
        """``sum_i two_hot(symlog(value))_i ln p_i``: minus the cross-entropy with the two-hot target."""
        target = two_hot(symlog(value.float()), self.grid)
        return (target * th.log_softmax(self.logits, dim=-1)).sum(-1)
