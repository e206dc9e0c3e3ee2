"""Exploration benchmark: Plan2Explore's reward-free exploration against random actions, then zero-shot.

On a sparse task from vector observations (default MountainCarContinuous-v0: +100 only at the hilltop),
for each seed:

* state coverage after ``--steps`` policy steps: the number of cells of a ``--bins`` x ``--bins`` grid over
  the observation space's first two dimensions (position, velocity) that the collected observations
  visited, for Plan2Explore's exploration phase and for uniformly random actions over the same number of
  steps (what Dreamer collects before ``learning_starts``), plus the furthest position reached;
* the zero-shot task return: Plan2Explore's task actor, trained only in imagination on the reward the
  world model predicts from the exploration data, evaluated (10 deterministic episodes) right after
  exploration, next to the random policy's return.

    OMP_NUM_THREADS=1 python benchmarks/exploration.py --seeds 0 1 --jobs 2 --steps 12000 --minutes 25
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import time
from concurrent.futures import ProcessPoolExecutor
from functools import partial

import gymnasium as gym
import numpy as np
import torch as th
from learning import EVAL_EPISODES, random_return  # the sibling benchmark script
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.evaluation import evaluate_policy

from sb3_dreamer import SMALL_VECTOR, Plan2Explore


class Coverage:
    """Visited cells of a grid over the first two observation dimensions, and the largest first coordinate."""

    def __init__(self, space: gym.spaces.Box, bins: int) -> None:
        self.low, self.high, self.bins = space.low[:2], space.high[:2], bins
        self.cells: set[tuple[int, int]] = set()
        self.max_position = -np.inf

    def add(self, obs: np.ndarray) -> None:
        obs = np.atleast_2d(obs)[:, :2]
        index = np.clip(((obs - self.low) / (self.high - self.low) * self.bins).astype(int), 0, self.bins - 1)
        self.cells.update(map(tuple, index))
        self.max_position = max(self.max_position, float(obs[:, 0].max()))


class RecordCoverage(BaseCallback):
    """Adds every collected observation to a :class:`Coverage`; stops ``learn`` past the wall-clock deadline."""

    def __init__(self, coverage: Coverage, deadline: float) -> None:
        super().__init__()
        self.coverage, self.deadline = coverage, deadline

    def _on_step(self) -> bool:
        self.coverage.add(self.locals["new_obs"])
        return time.time() < self.deadline


def random_run(env_id: str, steps: int, seed: int, bins: int) -> tuple[Coverage, float]:
    """Coverage of ``steps`` uniformly random steps, and the random policy's mean return on the eval episodes."""
    env = gym.make(env_id)
    env.action_space.seed(seed)
    coverage = Coverage(env.observation_space, bins)
    obs, _ = env.reset(seed=seed)
    coverage.add(obs)
    for _ in range(steps):
        obs, _, terminated, truncated, _ = env.step(env.action_space.sample())
        coverage.add(obs)
        if terminated or truncated:
            obs, _ = env.reset()
            coverage.add(obs)
    return coverage, random_return(env_id, seed)


def run(seed: int, args: argparse.Namespace) -> dict[str, float]:
    th.set_num_threads(1)
    start = time.time()
    model = Plan2Explore("MlpPolicy", args.env, seed=seed, exploration_steps=args.steps, **SMALL_VECTOR)
    coverage = Coverage(model.observation_space, args.bins)
    callback = RecordCoverage(coverage, start + 60 * args.minutes)
    while model.num_timesteps < args.steps and time.time() < callback.deadline:
        model.learn(min(args.log_every, args.steps - model.num_timesteps), callback=callback, reset_num_timesteps=False)
        print(
            f"seed {seed} step {model.num_timesteps:6d} cells {len(coverage.cells):4d} "
            f"max position {coverage.max_position:+.3f} ({time.time() - start:5.0f} s)",
            flush=True,
        )
    steps = model.num_timesteps
    eval_env = gym.make(args.env)
    eval_env.reset(seed=10_000 + seed)
    zero_shot, _ = evaluate_policy(model, eval_env, n_eval_episodes=EVAL_EPISODES, deterministic=True)
    random_coverage, random_return = random_run(args.env, steps, seed, args.bins)
    return dict(
        seed=seed,
        steps=steps,
        cells=len(coverage.cells),
        max_position=coverage.max_position,
        random_cells=len(random_coverage.cells),
        random_max_position=random_coverage.max_position,
        zero_shot=zero_shot,
        random_return=random_return,
        minutes=(time.time() - start) / 60,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env", default="MountainCarContinuous-v0")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--steps", type=int, default=12_000, help="exploration steps")
    parser.add_argument("--minutes", type=float, default=30.0, help="wall-clock budget per seed")
    parser.add_argument("--bins", type=int, default=20)
    parser.add_argument("--log-every", type=int, default=2_000)
    parser.add_argument("--jobs", type=int, default=1, help="seeds run in parallel, one torch thread each")
    args = parser.parse_args()
    with ProcessPoolExecutor(args.jobs) as pool:
        results = list(pool.map(partial(run, args=args), args.seeds))
    print(f"\nPlan2Explore (SMALL_VECTOR) on {args.env}: coverage of a {args.bins}x{args.bins} grid, zero-shot return")
    print(
        "| seed | steps | P2E cells | random cells | P2E max position | random max position "
        "| zero-shot return | random return | minutes |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for r in results:
        print(
            f"| {r['seed']} | {r['steps']} | {r['cells']} | {r['random_cells']} | {r['max_position']:+.3f} | "
            f"{r['random_max_position']:+.3f} | {r['zero_shot']:.1f} | {r['random_return']:.1f} | {r['minutes']:.1f} |"
        )
    ratio = np.mean([r["cells"] / r["random_cells"] for r in results])
    print(f"mean coverage ratio (Plan2Explore / random): {ratio:.2f}")


if __name__ == "__main__":
    main()
