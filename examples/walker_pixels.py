"""Dreamer on DeepMind Control walker-walk from 64x64 pixels, the paper's setting (action repeat 2).

python examples/walker_pixels.py --steps 500000          # paper-size model: days on a CPU, use a GPU
python examples/walker_pixels.py --steps 300 --tiny      # a quick check: tiny model, 50-step episodes

The env id works wherever SB3 takes one: here ``make_vec_env`` for training and an ``EvalCallback``
whose eval env renders frames (its pixels are the same whatever the render mode); the last evaluation
episode is written to ``walker.gif``.
"""

import argparse

import imageio
import numpy as np
from stable_baselines3.common.callbacks import EvalCallback
from stable_baselines3.common.env_util import make_vec_env

from sb3_dreamer import TINY, Dreamer

ENV_ID = "DMC/walker-walk-pixels-v0"

parser = argparse.ArgumentParser()
parser.add_argument("--steps", type=int, default=500_000, help="policy steps (env frames / 2)")
parser.add_argument("--tiny", action="store_true", help="tiny networks and an early start, for a quick check")
args = parser.parse_args()

env_kwargs = dict(time_limit=2.5) if args.tiny else {}  # 2.5 simulated seconds: 100 control steps
env = make_vec_env(ENV_ID, n_envs=1, seed=0, env_kwargs=env_kwargs)
eval_env = make_vec_env(ENV_ID, n_envs=1, seed=100, env_kwargs=dict(render_mode="rgb_array", **env_kwargs))
eval_callback = EvalCallback(eval_env, n_eval_episodes=1, eval_freq=max(args.steps // 2, 1), verbose=1)
model = Dreamer("CnnPolicy", env, verbose=1, tensorboard_log="runs", seed=0, **(TINY if args.tiny else {}))
model.learn(args.steps, callback=eval_callback, progress_bar=True)
model.save("dreamer_walker")

model = Dreamer.load("dreamer_walker")
obs, state, starts, frames, total = eval_env.reset(), None, np.ones(1, bool), [], 0.0
while True:
    action, state = model.predict(obs, state=state, episode_start=starts, deterministic=True)
    frames.append(eval_env.render())
    obs, reward, starts, _ = eval_env.step(action)
    total += float(reward[0])
    if starts[0]:
        break
imageio.mimsave("walker.gif", frames, duration=50)
print(f"walker-walk evaluation return: {total:.1f} ({len(frames)} frames in walker.gif)")
