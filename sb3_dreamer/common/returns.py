"""Value targets computed on imagined trajectories."""

from __future__ import annotations

import torch as th


def lambda_returns(
    rewards: th.Tensor,
    values: th.Tensor,
    discounts: th.Tensor,
    lambda_: float,
) -> th.Tensor:
    """TD(lambda) returns of Dreamer V1, Eq. 6, computed backwards in time.

    All inputs have shape ``(H, N)``; row ``k`` belongs to the imagined state ``s_{k+1}`` reached after
    the ``k``-th imagined action. The result, also ``(H, N)``, holds the return of ``s_0 .. s_{H-1}``::

        V^lambda_k = r_{k+1} + d_{k+1} * ((1 - lambda) * v_{k+1} + lambda * V^lambda_{k+1}),
        V^lambda_{H-1} = r_H + d_H * v_H,

    where ``d`` is the discount ``gamma`` times the predicted continue probability.

    :param rewards: predicted rewards ``r_1 .. r_H``
    :param values: critic values ``v_1 .. v_H`` (the last one bootstraps)
    :param discounts: discounts ``d_1 .. d_H``
    :param lambda_: the lambda of the exponentially weighted average of n-step returns
    """
    next_return = values[-1]
    returns = []
    for k in reversed(range(rewards.shape[0])):
        next_return = rewards[k] + discounts[k] * ((1.0 - lambda_) * values[k] + lambda_ * next_return)
        returns.append(next_return)
    return th.stack(returns[::-1])
