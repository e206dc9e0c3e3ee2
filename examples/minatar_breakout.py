"""Dreamer on MinAtar Breakout (10x10 images, 3 discrete actions); ``--pomdp`` hides the ball's trail.

pip install "sb3-dreamer[minatar]"
python examples/minatar_breakout.py --steps 200000
python examples/minatar_breakout.py --steps 300 --tiny   # a quick end-to-end check

Discrete actions use a straight-through one-hot actor. The image is channel-first uint8, which
SB3 recognises; the encoder uses 3x3 convolutions for images this small.
"""

import argparse

import gymnasium as gym
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.evaluation import evaluate_policy

from sb3_dreamer import TINY, Dreamer
from sb3_dreamer.envs import minatar_id

parser = argparse.ArgumentParser()
parser.add_argument("--steps", type=int, default=200_000, help="policy steps")
parser.add_argument("--pomdp", action="store_true", help="hide the trail channel (the ball's direction)")
parser.add_argument("--tiny", action="store_true", help="tiny networks and an early start, for a quick check")
args = parser.parse_args()

env_id = minatar_id("breakout", pomdp=args.pomdp)
env = make_vec_env(env_id, n_envs=1, seed=0)
model = Dreamer("CnnPolicy", env, verbose=1, seed=0, **(TINY if args.tiny else {}))
model.learn(args.steps, progress_bar=True)
model.save("dreamer_breakout")

eval_env = make_vec_env(env_id, seed=100)
mean, std = evaluate_policy(Dreamer.load("dreamer_breakout"), eval_env, n_eval_episodes=5)
random_env = gym.make(env_id)
random_returns = []
for episode in range(5):
    random_env.reset(seed=100 + episode)
    total, done = 0.0, False
    while not done:
        _, reward, terminated, truncated, _ = random_env.step(random_env.action_space.sample())
        total, done = total + reward, terminated or truncated
    random_returns.append(total)
print(f"{env_id} evaluation return: {mean:.2f} +/- {std:.2f} (random policy: {sum(random_returns) / 5:.2f})")
