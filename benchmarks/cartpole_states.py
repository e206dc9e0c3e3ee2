"""How a saved model plays cartpole: the pole and cart state behind each deterministic episode, on DMC's cartpole or
Gymnasium's CartPole-v1.

cartpole's reward is ``(1 + cos) / 2`` for the pole's angle times factors for a centred cart, small control and a
slow pole, so a return can come from balancing or from spinning the pole. Per episode this prints the return, how
far the pole's hinge turned (in turns; 0 for a pole that never falls over), the mean pole cosine, the largest cart
distance from the centre, the mean pole angular speed and the share of actions beyond 0.9 in magnitude, all read
from the env's dm_control physics after each policy step.

    MUJOCO_GL=egl OMP_NUM_THREADS=1 python benchmarks/cartpole_states.py runs/v1_pixels/dreamer/\\
DMC-cartpole-balance-pixels-v0_0/DMC-cartpole-balance-pixels-v0.zip --algo dreamer --episodes 3

CartPole-v1 pays 1 per step until the pole leans past 12 degrees or the cart leaves the track (|x| > 2.4), up to 500
steps, so a policy can balance the pole and still lose the episode to a slow drift of the cart. Per episode
(``--env CartPole-v1``) this prints the length, the cart's final and largest distance from the centre, the
largest pole angle, the mean probability of the actor's likelier action, and the critic's mean value (of the
posterior state) over the first and the last 50 steps: a critic that sees the drift values the last steps lower.

    OMP_NUM_THREADS=1 python benchmarks/cartpole_states.py runs/v3_cartpole_xs1024/dreamerv3/CartPole-v1_0/\\
checkpoints/checkpoint_000000004000/model.zip --algo dreamerv3 --env CartPole-v1 --episodes 5
"""

from __future__ import annotations

import argparse
import math

import numpy as np
import torch as th
from stable_baselines3.common.env_util import make_vec_env

from sb3_dreamer import Dreamer
from sb3_dreamer.common.rssm import LatentState
from sb3_dreamer.grid import algorithms

ALGOS = algorithms()  # "dreamer", "dreamerv2", "dreamerv3", "plan2explore", ...


def classic_episode_states(model: Dreamer, env_id: str, seed: int) -> dict[str, float]:
    """Play one deterministic episode of Gymnasium's CartPole (seeded) and summarise it from the observations
    (cart position ``x``, pole angle ``theta``) and the model: the actor's probabilities and the critic's values."""
    env = model._wrap_env(make_vec_env(env_id, n_envs=1, seed=seed))
    behavior = model.policy.behaviors()[model.policy.acting]
    obs, state, start = env.reset(), None, np.array([True])
    positions, angles, likelier, values = [], [], [], []
    done = False
    while not done:
        action, state = model.predict(obs, state, start, deterministic=True)
        with th.no_grad():
            features = LatentState(*(th.as_tensor(x, device=model.device) for x in state[:2])).features
            probs = behavior.actor(features).probs  # type: ignore[union-attr]
            values.append(float(behavior.critic(features)[0]))
        likelier.append(float(probs.max()))
        positions.append(float(obs[0, 0]))
        angles.append(abs(float(obs[0, 2])))
        obs, _, dones, _ = env.step(action)
        start, done = dones, bool(dones[0])
    env.close()
    tail = min(50, len(values))
    return dict(
        length=len(values),
        final_x=positions[-1],
        max_x=max(abs(x) for x in positions),
        max_angle=max(angles),
        likelier=float(np.mean(likelier)),
        first_values=float(np.mean(values[:tail])),
        last_values=float(np.mean(values[-tail:])),
    )


def episode_states(model: Dreamer, env_id: str, seed: int) -> dict[str, float]:
    """Play one deterministic episode of a DMC cartpole env (seeded) and summarise the simulator's state."""
    env = model._wrap_env(make_vec_env(env_id, n_envs=1, seed=seed))
    inner = env
    while hasattr(inner, "venv"):
        inner = inner.venv
    physics = inner.envs[0].unwrapped._physics  # type: ignore[attr-defined]
    obs, state, start = env.reset(), None, np.array([True])
    episode_return, angles, cosines, positions, speeds, large = 0.0, [], [], [], [], []
    done = False
    while not done:
        action, state = model.predict(obs, state, start, deterministic=True)
        obs, reward, dones, _ = env.step(action)
        episode_return, start, done = episode_return + float(reward[0]), dones, bool(dones[0])
        if done:  # the VecEnv has reset the physics: its state belongs to the next episode
            break
        angles.append(float(physics.named.data.qpos["hinge_1"][0]))
        cosines.append(float(np.ravel(physics.pole_angle_cosine())[0]))
        positions.append(abs(float(physics.cart_position())))
        speeds.append(abs(float(np.ravel(physics.angular_vel())[0])))
        large.append(float(np.abs(model.policy.to_model_action(np.asarray(action))).max() > 0.9))
    env.close()
    return dict(
        episode_return=episode_return,
        turns=(max(angles) - min(angles)) / (2 * math.pi),
        mean_cosine=float(np.mean(cosines)),
        max_cart_distance=max(positions),
        mean_angular_speed=float(np.mean(speeds)),
        large_actions=float(np.mean(large)),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("model", help="a saved model (.zip)")
    parser.add_argument("--algo", choices=sorted(ALGOS), default="dreamer")
    parser.add_argument("--env", default="DMC/cartpole-balance-pixels-v0")
    parser.add_argument("--episodes", type=int, default=3)
    parser.add_argument("--seed", type=int, default=20_000, help="env seed of the first episode (+1 per episode)")
    args = parser.parse_args()
    model = ALGOS[args.algo].load(args.model, device="cpu")
    if not args.env.startswith("DMC/"):
        print(
            "| episode | steps | final cart x | max abs x | max pole angle (rad) | likelier action's probability "
            "| value, first 50 steps | value, last 50 steps |"
        )
        print("|---|---|---|---|---|---|---|---|")
        for episode in range(args.episodes):
            s = classic_episode_states(model, args.env, args.seed + episode)
            print(
                f"| {episode} | {s['length']} | {s['final_x']:+.2f} | {s['max_x']:.2f} | {s['max_angle']:.3f} | "
                f"{s['likelier']:.2f} | {s['first_values']:.1f} | {s['last_values']:.1f} |"
            )
        return
    print("| episode | return | pole turns | mean pole cosine | max cart distance | mean pole speed | actions beyond 0.9 |")
    print("|---|---|---|---|---|---|---|")
    for episode in range(args.episodes):
        s = episode_states(model, args.env, args.seed + episode)
        print(
            f"| {episode} | {s['episode_return']:.1f} | {s['turns']:.1f} | {s['mean_cosine']:.3f} | "
            f"{s['max_cart_distance']:.2f} | {s['mean_angular_speed']:.2f} | {s['large_actions']:.0%} |"
        )


if __name__ == "__main__":
    main()
