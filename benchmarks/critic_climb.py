"""How fast DreamerV3's critic climbs to the value of a task that pays 1 per step for ever, with nothing else moving.

The critic of a fresh ``DreamerV3`` (two-hot, regularised towards its slow copy, the preset's learning rate) is trained
as ``Dreamer._train_behavior`` trains it: on lambda-returns of 15-step trajectories, weighted by their discounts, with
the slow copy updated after every step. The trajectories run through fixed random model states (no world model, no
actor, reward 1, no termination), so the true value is ``1 / (1 - gamma)`` (333 at DreamerV3's discount 0.997), and
the printout says how far a given number of updates brings the critic towards it. docs/benchmarks.md (DreamerV3 on
CartPole-v1) compares it with the critic of the real runs::

    OMP_NUM_THREADS=1 python benchmarks/critic_climb.py --size XXS --updates 6000
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")

import torch as th

from sb3_dreamer import DreamerV3
from sb3_dreamer.common.returns import lambda_returns


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="XXS", help="DreamerV3 model size")
    parser.add_argument("--critic-learning-rate", type=float, default=3e-5)
    parser.add_argument("--updates", type=int, default=6000)
    parser.add_argument("--every", type=int, default=250, help="print every this many updates")
    parser.add_argument("--starts", type=int, default=256, help="imagined trajectories per update")
    parser.add_argument("--states", type=int, default=4096, help="random model states the trajectories run through")
    parser.add_argument("--precision", default="32", help='"32", "bf16-mixed" or "auto", as DreamerV3(precision=...)')
    args = parser.parse_args()

    th.manual_seed(0)
    model = DreamerV3(
        "MlpPolicy",
        "CartPole-v1",
        size=args.size,
        critic_learning_rate=args.critic_learning_rate,
        precision=args.precision,
        seed=0,
    )
    behavior = model.policy.behaviors()["task"]
    rssm = model.policy.world_model.rssm
    classes, groups = rssm.latent.classes, rssm.latent.variables
    deter = th.tanh(th.randn(args.states, rssm.deter_size))
    stoch = th.nn.functional.one_hot(th.randint(0, classes, (args.states, groups)), classes).float().flatten(1)
    states = th.cat([deter, stoch], -1)
    horizon, n = model.imagination_horizon, args.starts
    print(
        f"size {args.size}, critic learning rate {args.critic_learning_rate:g}, precision {model.compute_precision}: "
        f"true value {1 / (1 - model.gamma):.0f}"
    )
    start = time.perf_counter()
    for update in range(1, args.updates + 1):
        features = states[th.randint(0, args.states, (horizon + 1, n))]  # (H + 1, N, F)
        with model._autocast():  # as in train(): forward passes in the model's compute precision
            with th.no_grad():
                values = behavior.critic(features)
            rewards, discounts = th.ones(horizon, n), model.gamma * th.ones(horizon, n)
            returns = lambda_returns(rewards, values[1:], discounts, model.td_lambda)
            weights = th.cumprod(th.cat([th.ones(1, n), discounts[:-1]]), 0)
            behavior.critic_optimizer.zero_grad(set_to_none=True)
            loss = -(weights * model._critic_log_likelihood(behavior, features[:-1], returns)).mean()
        model._backward(loss)
        model._apply_gradients(behavior.critic_optimizer, behavior.critic.parameters())
        model._n_updates = update
        model._update_target_critics()
        if update % args.every == 0:
            print(
                f"{update:6d} updates: mean value {values[0].mean():7.2f}, mean target {returns[0].mean():7.2f}, "
                f"{time.perf_counter() - start:5.0f} s",
                flush=True,
            )


if __name__ == "__main__":
    main()
