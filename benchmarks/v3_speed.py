"""DreamerV3's update time, acting rate and peak device memory by size and precision, on one device (ours only).

For each task, size and precision: a fresh ``DreamerV3`` collects ``--prefill`` random steps, takes 3 updates to warm
up, then ``--updates`` timed updates of the default batch (16 x 64, imagination from every state); then it acts with
``predict`` (recurrent state, deterministic) for ``--act-steps`` steps of the env, rendering included. One JSON line per
measurement, then a table. docs/benchmarks.md ("DreamerV3 on a GPU") has the figures of an NVIDIA H200::

    python benchmarks/v3_speed.py --device cuda
    OMP_NUM_THREADS=1 python benchmarks/v3_speed.py --device cpu --sizes XXS --updates 5
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np
import speed
import torch as th

from sb3_dreamer import DreamerV3

TASKS = {
    "vectors": ("CartPole-v1", "MlpPolicy"),
    "pixels": ("DMC/cartpole-balance-pixels-v0", "CnnPolicy"),
}


def _sync(device: th.device) -> None:
    if device.type == "cuda":
        th.cuda.synchronize(device)


def measure(task: str, size: str, precision: str, device: str, updates: int, prefill: int, act_steps: int) -> dict:
    """One cell: seconds per update, policy steps per second with ``predict``, peak device memory."""
    env_id, policy = TASKS[task]
    if th.device(device).type == "cuda":
        th.cuda.reset_peak_memory_stats()
    model = DreamerV3(policy, env_id, size=size, precision=precision, device=device, seed=0, learning_starts=prefill)
    model.learn(prefill)
    model._train_ratio = None  # train() takes the updates it is asked for
    for _ in range(3):
        model.train(1, model.batch_size)
    _sync(model.device)
    start = time.perf_counter()
    for _ in range(updates):
        model.train(1, model.batch_size)
    _sync(model.device)
    seconds_per_update = (time.perf_counter() - start) / updates
    env = model.get_env()
    obs, state, starts = env.reset(), None, np.ones(env.num_envs, dtype=bool)
    start = time.perf_counter()
    for _ in range(act_steps):
        action, state = model.predict(obs, state=state, episode_start=starts, deterministic=True)
        obs, _, starts, _ = env.step(action)
    acting = act_steps / (time.perf_counter() - start)
    peak = th.cuda.max_memory_allocated() / 2**20 if model.device.type == "cuda" else None
    return dict(
        task=env_id,
        size=size,
        precision=precision,
        computes_in=model.compute_precision,
        device=str(model.device),
        seconds_per_update=round(seconds_per_update, 4),
        policy_steps_per_s=round(acting, 1),
        peak_device_mb=None if peak is None else round(peak),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if th.cuda.is_available() else "cpu")
    parser.add_argument("--tasks", nargs="+", choices=sorted(TASKS), default=["vectors", "pixels"])
    parser.add_argument("--sizes", nargs="+", default=["XXS", "S", "M"], help="DreamerV3 sizes")
    parser.add_argument("--precisions", nargs="+", default=["32", "auto"], help="as DreamerV3(precision=...)")
    parser.add_argument("--updates", type=int, default=10, help="timed updates per cell")
    parser.add_argument("--prefill", type=int, default=1100, help="random steps before the first update")
    parser.add_argument("--act-steps", type=int, default=200, help="timed predict + env.step calls per cell")
    args = parser.parse_args()

    device = th.device(args.device)
    print(speed.describe_machine(speed.cpu_info()), flush=True)
    if device.type == "cuda":
        print(f"device: {th.cuda.get_device_name(device)}", flush=True)
    rows = []
    for task in args.tasks:
        for size in args.sizes:
            for precision in args.precisions:
                rows.append(measure(task, size, precision, args.device, args.updates, args.prefill, args.act_steps))
                print(json.dumps(rows[-1]), flush=True)
    print("\n| task | size | computes in | seconds per update | policy steps/s (predict + env) | peak device MB |")
    print("|---|---|---|---|---|---|")
    for row in rows:
        peak = "-" if row["peak_device_mb"] is None else f"{row['peak_device_mb']:,}"
        print(
            f"| {row['task']} | {row['size']} | {row['computes_in']} | {row['seconds_per_update']:.3f} | "
            f"{row['policy_steps_per_s']:.0f} | {peak} |"
        )


if __name__ == "__main__":
    main()
