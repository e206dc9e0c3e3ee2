"""Steps per second of each ready-made environment family, with random actions (docs/environments.md).

OMP_NUM_THREADS=1 python benchmarks/env_speed.py [--seconds 5]

For each env: policy steps per second without any rendering ("physics only": DMC proprioception,
MinAtar's grid), and with the observation or frame rendered each step ("with rendering"); env frames
per second are policy steps times the action repeat. Prints a Markdown table.
"""

import argparse
import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MUJOCO_GL", "egl")

import gymnasium as gym

import sb3_dreamer  # noqa: F401  (registers the ids)


def steps_per_second(env: gym.Env, seconds: float, render: bool = False) -> float:
    env.reset(seed=0)
    env.action_space.seed(0)
    steps, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        _, _, terminated, truncated, _ = env.step(env.action_space.sample())
        if render:
            env.render()
        steps += 1
        if terminated or truncated:
            env.reset()
    return steps / (time.perf_counter() - start)


# (label, physics-only env, rendering env, render() each step instead of rendered observations)
CASES = [
    ("DMC walker-walk", "DMC/walker-walk-proprio-v0", "DMC/walker-walk-pixels-v0", False),
    ("DMC cartpole-balance", "DMC/cartpole-balance-proprio-v0", "DMC/cartpole-balance-both-v0", False),
    ("DMC cheetah-run", "DMC/cheetah-run-proprio-v0", "DMC/cheetah-run-pixels-v0", False),
    ("DMC quadruped-walk (camera 2)", "DMC/quadruped-walk-proprio-v0", "DMC/quadruped-walk-pixels-v0", False),
    ("MinAtar Breakout (+ render() 160x160)", "MinAtar/Breakout-image-v0", "MinAtar/Breakout-image-v0", True),
    ("MinAtar Seaquest (+ render() 160x160)", "MinAtar/Seaquest-image-v0", "MinAtar/Seaquest-image-v0", True),
    ("POMDP/Pendulum-v1", "POMDP/Pendulum-v1", None, False),
]

parser = argparse.ArgumentParser()
parser.add_argument("--seconds", type=float, default=5.0, help="timing window per measurement")
args = parser.parse_args()

print("| environment | action repeat | physics only: steps/s | with rendering: steps/s | render cost per step |")
print("|---|---|---|---|---|")
for label, physics_id, render_id, call_render in CASES:
    env = gym.make(physics_id)
    repeat = getattr(env.unwrapped, "action_repeat", 1)
    physics = steps_per_second(env, args.seconds)
    if render_id is None:
        print(f"| {label} | {repeat} | {physics:,.0f} | - | - |")
        continue
    rendered = steps_per_second(gym.make(render_id, render_mode="rgb_array"), args.seconds, render=call_render)
    cost_ms = 1000 * (1 / rendered - 1 / physics)
    print(f"| {label} | {repeat} | {physics:,.0f} | {rendered:,.0f} | {cost_ms:.1f} ms |")
