"""Value targets computed on imagined trajectories."""

from __future__ import annotations

import torch as th


def lambda_returns(
    rewards: th.Tensor,
    values: th.Tensor,
    discounts: th.Tensor,
    lambda_: float | th.Tensor,
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
    :param lambda_: the lambda of the exponentially weighted average of n-step returns, or one lambda per step
        ``(H, N)`` (0 where the return must not look past step ``k + 1``, as at an episode's last step)
    """
    lambdas = th.as_tensor(lambda_, dtype=rewards.dtype, device=rewards.device).expand_as(rewards)
    next_return = values[-1]
    returns = []
    for k in reversed(range(rewards.shape[0])):
        next_return = rewards[k] + discounts[k] * ((1.0 - lambdas[k]) * values[k] + lambdas[k] * next_return)
        returns.append(next_return)
    return th.stack(returns[::-1])


def replay_lambda_returns(
    rewards: th.Tensor,
    boot: th.Tensor,
    is_first: th.Tensor,
    is_terminal: th.Tensor,
    gamma: float,
    lambda_: float,
) -> tuple[th.Tensor, th.Tensor]:
    """Lambda-returns along replayed sequences, bootstrapped at every step from the imagined lambda-return of that
    step's state (the replayed-value loss of DreamerV3's 2025 version, ``repl_loss`` of the authors' code)::

        R_t = r_{t+1} + gamma (1 - term_{t+1}) ((1 - lambda_{t+1}) b_{t+1} + lambda_{t+1} R_{t+1}),
        R_{L-1} = b_{L-1},

    with ``lambda_{t+1} = 0`` where ``o_{t+1}`` ends its episode (the next row starts a new one), so that no return
    reaches into the next episode. Rows are laid out as in :class:`~sb3_dreamer.common.buffers.SequenceSamples`
    (the reward of row ``t`` is received on arriving at ``o_t``).

    :param rewards: replayed rewards ``(B, L)``
    :param boot: the imagined lambda-return of each replayed state ``(B, L)``
    :param is_first: rows that start an episode ``(B, L)``
    :param is_terminal: rows whose observation ends its episode by termination ``(B, L)``
    :param gamma: discount factor
    :param lambda_: lambda of the lambda-returns
    :return: the returns of rows ``0 .. L-2`` ``(B, L - 1)`` and their weights: 0 for a row that ends its episode,
        whose next row belongs to another one, else 1
    """
    is_first, is_terminal = is_first.to(rewards.dtype), is_terminal.to(rewards.dtype)
    is_last = th.cat([is_first[:, 2:], th.zeros_like(is_first[:, :1])], 1)  # o_{t+1} ends its episode, t = 0 .. L-2
    returns = lambda_returns(
        rewards[:, 1:].T,
        boot[:, 1:].T,
        (gamma * (1.0 - is_terminal[:, 1:])).T,
        (lambda_ * (1.0 - is_last)).T,
    )
    return returns.T, 1.0 - is_first[:, 1:]
