"""The main job: a short Dreamer training on a built-in environment, saved and evaluated.

python -m sb3_dreamer                      # Pendulum-v1, SMALL_VECTOR preset, about 10 minutes on CPU
python -m sb3_dreamer --steps 20000 --output runs/pendulum.zip --tensorboard runs
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import time

import gymnasium as gym
import torch as th
from stable_baselines3.common.evaluation import evaluate_policy
from stable_baselines3.common.monitor import Monitor

from sb3_dreamer import SMALL_VECTOR, Dreamer


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m sb3_dreamer", description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="Pendulum-v1", help="gymnasium id with vector observations")
    parser.add_argument("--steps", type=int, default=10_000, help="policy steps to train")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", default="dreamer_pendulum.zip", help="where to save the model")
    parser.add_argument("--tensorboard", default=None, help="TensorBoard log folder")
    parser.add_argument("--eval-episodes", type=int, default=10)
    args = parser.parse_args()
    th.set_num_threads(1)

    eval_env = Monitor(gym.make(args.env))
    model = Dreamer("MlpPolicy", args.env, seed=args.seed, verbose=1, tensorboard_log=args.tensorboard, **SMALL_VECTOR)
    eval_env.reset(seed=args.seed + 1000)
    before, before_std = evaluate_policy(model, eval_env, n_eval_episodes=args.eval_episodes)
    print(f"Before training: mean return {before:.1f} +- {before_std:.1f} over {args.eval_episodes} episodes")

    start = time.time()
    model.learn(args.steps, progress_bar=True)
    print(f"Trained {model.num_timesteps} policy steps ({model._n_updates} gradient updates) in {time.time() - start:.0f} s")
    model.save(args.output)
    print(f"Saved {args.output}")

    loaded = Dreamer.load(args.output, env=eval_env)
    eval_env.reset(seed=args.seed + 1000)
    after, after_std = evaluate_policy(loaded, eval_env, n_eval_episodes=args.eval_episodes)
    print(f"After training ({args.output}): mean return {after:.1f} +- {after_std:.1f} over {args.eval_episodes} episodes")


if __name__ == "__main__":
    main()
