"""Learning benchmark: an algorithm with a preset on one environment, several seeds, evaluation curves.

Prints each seed's evaluation curve (10 deterministic episodes every ``--eval-every`` steps), the random
policy's return on the same evaluation episodes, and a table of final and best returns and wall time.
``--minutes`` stops a seed's training at that wall-clock budget (then evaluates once more).

    OMP_NUM_THREADS=1 python benchmarks/learning.py --algo dreamer --preset SMALL_VECTOR --env Pendulum-v1 \\
        --seeds 0 1 2 --steps 20000 --jobs 2
    OMP_NUM_THREADS=1 python benchmarks/learning.py --algo dreamerv2 --preset DREAMERV2_SMALL_VECTOR \\
        --env CartPole-v1 --seeds 0 1 2 --steps 30000 --jobs 2
    OMP_NUM_THREADS=1 python benchmarks/learning.py --algo dreamerv2 --preset DREAMERV2_SMALL_VECTOR \\
        --env MultiDiscrete/CartPole-v1 --seeds 0 1 2 --steps 30000 --jobs 2
    OMP_NUM_THREADS=1 python benchmarks/learning.py --algo dreamerv2 --preset DREAMERV2_MINATAR \\
        --kwargs "{'imagination_starts': 512}" --policy CnnPolicy --env MinAtar/Breakout-image-v0 --seeds 0 \\
        --steps 1000000 --minutes 60 --eval-every 5000
"""

from __future__ import annotations

import argparse
import ast
import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from functools import partial

import gymnasium as gym
import numpy as np
import torch as th
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.evaluation import evaluate_policy

from sb3_dreamer import Dreamer, DreamerV2, DreamerV3, presets

ALGOS = {"dreamer": Dreamer, "dreamerv2": DreamerV2, "dreamerv3": DreamerV3}
EVAL_EPISODES = 10


class StopAfter(BaseCallback):
    """Stop ``learn`` once the wall clock passes ``deadline`` (a ``--minutes`` budget)."""

    def __init__(self, deadline: float) -> None:
        super().__init__()
        self.deadline = deadline
        self.spent = False

    def _on_step(self) -> bool:
        self.spent = time.time() >= self.deadline
        return not self.spent


def random_return(env_id: str | Callable[[], gym.Env], seed: int) -> float:
    """Mean return of uniformly random actions on the evaluation episodes (of ``gym.make(env_id)``, or of the
    environment a callable makes)."""
    env = gym.make(env_id) if isinstance(env_id, str) else env_id()
    env.action_space.seed(seed)
    returns = []
    for episode in range(EVAL_EPISODES):
        env.reset(seed=10_000 + seed + episode)
        total, done = 0.0, False
        while not done:
            _, reward, terminated, truncated, _ = env.step(env.action_space.sample())
            total, done = total + float(reward), terminated or truncated
        returns.append(total)
    return float(np.mean(returns))


def run(seed: int, args: argparse.Namespace) -> tuple[int, list[tuple[int, float, float]], float]:
    th.set_num_threads(1)
    import sb3_dreamer.envs  # noqa: F401  (registers the ids in worker processes)

    eval_env = gym.make(args.env)
    kwargs = {**getattr(presets, args.preset), **ast.literal_eval(args.kwargs)}
    model = ALGOS[args.algo](args.policy, args.env, seed=seed, **kwargs)
    curve, start = [], time.time()
    budget = StopAfter(start + 60 * args.minutes if args.minutes else float("inf"))
    while model.num_timesteps < args.steps and not budget.spent:
        model.learn(args.eval_every, callback=budget, reset_num_timesteps=False)
        eval_env.reset(seed=10_000 + seed)
        mean, std = evaluate_policy(model, eval_env, n_eval_episodes=EVAL_EPISODES, deterministic=True)
        curve.append((model.num_timesteps, mean, time.time() - start))
        print(f"seed {seed} step {model.num_timesteps:7d} eval {mean:8.2f} +- {std:6.2f} ({curve[-1][2]:5.0f} s)", flush=True)
    return seed, curve, random_return(args.env, seed)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--algo", choices=sorted(ALGOS), default="dreamer")
    parser.add_argument("--preset", default="SMALL_VECTOR", help="a dict in sb3_dreamer.presets")
    parser.add_argument("--kwargs", default="{}", help="a dict literal of arguments that override the preset's")
    parser.add_argument("--policy", default="MlpPolicy")
    parser.add_argument("--env", default="Pendulum-v1")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--steps", type=int, default=20_000)
    parser.add_argument("--eval-every", type=int, default=2_000)
    parser.add_argument("--minutes", type=float, default=None, help="wall-clock budget per seed")
    parser.add_argument("--jobs", type=int, default=1, help="seeds run in parallel, one torch thread each")
    args = parser.parse_args()
    with ProcessPoolExecutor(args.jobs) as pool:
        results = list(pool.map(partial(run, args=args), args.seeds))
    print(f"\n{args.algo} {args.preset} {args.kwargs} on {args.env}, up to {args.steps} steps")
    print("| seed | steps | final eval return (10 episodes) | best eval | random policy | wall time (min) |")
    print("|---|---|---|---|---|---|")
    for seed, curve, random in results:
        steps, final, wall = curve[-1]
        print(f"| {seed} | {steps} | {final:.2f} | {max(m for _, m, _ in curve):.2f} | {random:.2f} | {wall / 60:.1f} |")
    print(f"mean final eval return: {np.mean([curve[-1][1] for _, curve, _ in results]):.2f}")


if __name__ == "__main__":
    main()
