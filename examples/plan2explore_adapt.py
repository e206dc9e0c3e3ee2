"""Plan2Explore: explore without the task reward, act zero-shot on the task, then adapt (few-shot).

python examples/plan2explore_adapt.py --steps 60000 --exploration-steps 40000
python examples/plan2explore_adapt.py --steps 300 --tiny       # a quick check

During the first ``exploration_steps`` the exploration actor collects data, maximising the disagreement of
the one-step ensemble; the task actor-critic learns from the same world model in imagination, on the
predicted task reward, without acting. Evaluation (``predict``) always uses the task actor.
"""

import argparse

from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.evaluation import evaluate_policy

from sb3_dreamer import SMALL_VECTOR, TINY, Plan2Explore

parser = argparse.ArgumentParser()
parser.add_argument("--env", default="DMC/cartpole-swingup_sparse-proprio-v0")
parser.add_argument("--steps", type=int, default=60_000, help="policy steps in all")
parser.add_argument("--exploration-steps", type=int, default=None, help="reward-free steps (default: half)")
parser.add_argument("--tiny", action="store_true", help="tiny networks and an early start, for a quick check")
args = parser.parse_args()

exploration_steps = args.exploration_steps or args.steps // 2
env_kwargs = dict(time_limit=1.0) if args.tiny else {}  # 1 simulated second: 50 policy steps
env = make_vec_env(args.env, seed=0, env_kwargs=env_kwargs)
eval_env = make_vec_env(args.env, seed=100, env_kwargs=env_kwargs)
preset = TINY if args.tiny else SMALL_VECTOR
model = Plan2Explore("MlpPolicy", env, exploration_steps=exploration_steps, verbose=1, seed=0, **preset)

model.learn(exploration_steps, progress_bar=True)
zero_shot, _ = evaluate_policy(model, eval_env, n_eval_episodes=3)
print(f"zero-shot return after {exploration_steps} reward-free steps: {zero_shot:.1f}")

model.learn(args.steps - exploration_steps, reset_num_timesteps=False, progress_bar=True)
adapted, _ = evaluate_policy(model, eval_env, n_eval_episodes=3)
print(f"return after {args.steps - exploration_steps} more steps of the task actor: {adapted:.1f}")
model.save("plan2explore_adapted")
