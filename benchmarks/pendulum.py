"""Benchmark: Dreamer with the SMALL_VECTOR preset on Pendulum-v1, several seeds.

Prints the evaluation curve of every seed and a table of the final evaluation return (10 episodes,
deterministic actions) and the wall time per seed. Random play scores about -1200.

    OMP_NUM_THREADS=1 python benchmarks/pendulum.py --seeds 0 1 2 --steps 20000 --jobs 2
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import time
from concurrent.futures import ProcessPoolExecutor
from functools import partial

import gymnasium as gym
import torch as th
from stable_baselines3.common.evaluation import evaluate_policy

from sb3_dreamer import SMALL_VECTOR, Dreamer


def run(seed: int, steps: int, eval_every: int, env_id: str) -> tuple[int, list[tuple[int, float]], float, float]:
    th.set_num_threads(1)
    eval_env = gym.make(env_id)
    model = Dreamer("MlpPolicy", env_id, seed=seed, **SMALL_VECTOR)
    curve = []
    start = time.time()
    while model.num_timesteps < steps:
        model.learn(eval_every, reset_num_timesteps=False)
        eval_env.reset(seed=10_000 + seed)
        mean, std = evaluate_policy(model, eval_env, n_eval_episodes=10, deterministic=True)
        curve.append((model.num_timesteps, mean))
        print(
            f"seed {seed} step {model.num_timesteps:6d} eval {mean:8.1f} +- {std:6.1f} ({time.time() - start:5.0f} s)",
            flush=True,
        )
    return seed, curve, curve[-1][1], time.time() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--steps", type=int, default=20_000)
    parser.add_argument("--eval-every", type=int, default=2_000)
    parser.add_argument("--env", default="Pendulum-v1")
    parser.add_argument("--jobs", type=int, default=1, help="seeds run in parallel, one torch thread each")
    args = parser.parse_args()
    with ProcessPoolExecutor(args.jobs) as pool:
        results = list(pool.map(partial(run, steps=args.steps, eval_every=args.eval_every, env_id=args.env), args.seeds))
    print(f"\nDreamer SMALL_VECTOR on {args.env}, {args.steps} steps")
    print("| seed | final eval return (10 episodes) | best eval | wall time (min) |")
    print("|---|---|---|---|")
    for seed, curve, final, wall in results:
        print(f"| {seed} | {final:.1f} | {max(m for _, m in curve):.1f} | {wall / 60:.1f} |")


if __name__ == "__main__":
    main()
