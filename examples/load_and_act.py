"""Load a saved Dreamer and act with it, carrying the recurrent state by hand.

python -m sb3_dreamer --output dreamer_pendulum.zip     # train and save first
python examples/load_and_act.py dreamer_pendulum.zip --env Pendulum-v1 --episodes 3
"""

import argparse

import gymnasium as gym
import numpy as np

from sb3_dreamer import Dreamer

parser = argparse.ArgumentParser()
parser.add_argument("path")
parser.add_argument("--env", default="Pendulum-v1")
parser.add_argument("--episodes", type=int, default=3)
args = parser.parse_args()

model = Dreamer.load(args.path)
env = gym.make(args.env)
for episode in range(args.episodes):
    obs, _ = env.reset(seed=episode)
    state, episode_start, total, done = None, np.ones(1, dtype=bool), 0.0, False
    while not done:
        action, state = model.predict(obs, state=state, episode_start=episode_start, deterministic=True)
        obs, reward, terminated, truncated, _ = env.step(action)
        episode_start[:] = False
        total += float(reward)
        done = terminated or truncated
    print(f"episode {episode}: return {total:.1f}")
