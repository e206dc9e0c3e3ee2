"""Dreamer on DeepMind Control cartpole-balance from proprioception plus pixels (a Dict observation).

python examples/cartpole_both.py --steps 100000
python examples/cartpole_both.py --steps 300 --tiny      # a quick check: tiny model, 50-step episodes

``MultiInputPolicy`` gives the 64x64 image a CNN encoder and the 5-D proprioceptive vector an MLP,
concatenates the embeddings, and reconstructs both.
"""

import argparse

from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.evaluation import evaluate_policy

from sb3_dreamer import TINY, Dreamer

ENV_ID = "DMC/cartpole-balance-both-v0"

parser = argparse.ArgumentParser()
parser.add_argument("--steps", type=int, default=100_000, help="policy steps (env frames / 2)")
parser.add_argument("--tiny", action="store_true", help="tiny networks and an early start, for a quick check")
args = parser.parse_args()

env_kwargs = dict(time_limit=1.0) if args.tiny else {}  # 1 simulated second: 100 control steps
env = make_vec_env(ENV_ID, seed=0, env_kwargs=env_kwargs)
model = Dreamer("MultiInputPolicy", env, verbose=1, seed=0, **(TINY if args.tiny else {}))
print(f"observation space: {model.observation_space}")
model.learn(args.steps, progress_bar=True)
model.save("dreamer_cartpole_both")
eval_env = make_vec_env(ENV_ID, seed=100, env_kwargs=env_kwargs)
mean, std = evaluate_policy(Dreamer.load("dreamer_cartpole_both"), eval_env, n_eval_episodes=2)
print(f"cartpole-balance evaluation return: {mean:.1f} +/- {std:.1f}")
