"""Dreamer on DeepMind Control walker-walk from 64x64 pixels, the paper's setting (action repeat 2).

python examples/walker_pixels.py --steps 500000          # paper-size model: days on a CPU, use a GPU
python examples/walker_pixels.py --steps 2000 --tiny     # a quick end-to-end check
"""

import argparse

import gymnasium as gym
import shimmy  # noqa: F401  (registers the dm_control/* ids)
from gymnasium.wrappers import AddRenderObservation
from stable_baselines3.common.evaluation import evaluate_policy
from stable_baselines3.common.monitor import Monitor

from sb3_dreamer import Dreamer


class ActionRepeat(gym.Wrapper):
    """Repeat each action ``repeat`` times, summing rewards and stopping at the episode's end."""

    def __init__(self, env: gym.Env, repeat: int):
        super().__init__(env)
        self.repeat = repeat

    def step(self, action):
        total = 0.0
        for _ in range(self.repeat):
            obs, reward, terminated, truncated, info = self.env.step(action)
            total += float(reward)
            if terminated or truncated:
                break
        return obs, total, terminated, truncated, info


def make_env() -> gym.Env:
    env = gym.make("dm_control/walker-walk-v0", render_mode="rgb_array", render_kwargs=dict(width=64, height=64))
    return Monitor(ActionRepeat(AddRenderObservation(env, render_only=True), repeat=2))


parser = argparse.ArgumentParser()
parser.add_argument("--steps", type=int, default=500_000, help="policy steps (env frames / 2)")
parser.add_argument("--tiny", action="store_true", help="tiny networks and an early start, for a quick check")
args = parser.parse_args()

kwargs = {}
if args.tiny:
    kwargs = dict(
        learning_starts=500,
        batch_size=4,
        sequence_length=10,
        policy_kwargs=dict(deterministic_size=16, stochastic_size=4, hidden_size=16, net_arch=[16], cnn_depth=4),
    )
model = Dreamer("CnnPolicy", make_env(), verbose=1, tensorboard_log="runs", seed=0, **kwargs)
model.learn(args.steps, progress_bar=True)
model.save("dreamer_walker")
mean, std = evaluate_policy(Dreamer.load("dreamer_walker"), make_env(), n_eval_episodes=1)
print(f"walker-walk evaluation return: {mean:.1f}")
