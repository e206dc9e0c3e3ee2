"""Load a saved model (any of our algorithms) and record a video of it acting.

python examples/walker_pixels.py --steps 300 --tiny                 # writes dreamer_walker.zip
python examples/record_video.py dreamer_walker.zip --env DMC/walker-walk-pixels-v0 --steps 200

SB3's ``VecVideoRecorder`` writes an .mp4 (through moviepy) of the frames that ``render()`` returns;
DeepMind Control renders headless with EGL. ``predict`` carries the recurrent state across steps.
"""

import argparse

import numpy as np
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.vec_env import VecVideoRecorder

from sb3_dreamer import Dreamer, DreamerV2, Plan2Explore

ALGOS = {"dreamer": Dreamer, "dreamerv2": DreamerV2, "plan2explore": Plan2Explore}

parser = argparse.ArgumentParser()
parser.add_argument("path", help="a .zip saved by model.save()")
parser.add_argument("--env", default="DMC/walker-walk-pixels-v0")
parser.add_argument("--algo", choices=sorted(ALGOS), default="dreamer")
parser.add_argument("--steps", type=int, default=500, help="policy steps to record")
parser.add_argument("--output", default="videos", help="folder of the .mp4")
args = parser.parse_args()

model = ALGOS[args.algo].load(args.path)
env = make_vec_env(args.env, seed=0, env_kwargs=dict(render_mode="rgb_array"))
env = VecVideoRecorder(env, args.output, record_video_trigger=lambda step: step == 0, video_length=args.steps)
obs, state, starts, total = env.reset(), None, np.ones(1, dtype=bool), 0.0
for _ in range(args.steps):
    action, state = model.predict(obs, state=state, episode_start=starts, deterministic=True)
    obs, reward, starts, _ = env.step(action)
    total += float(reward[0])
env.close()  # writes the video
print(f"recorded {args.steps} steps (return {total:.1f}) to {args.output}/")
