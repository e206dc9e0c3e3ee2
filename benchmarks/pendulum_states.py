"""How a saved model plays Pendulum-v1, and what its world model and critic make of balancing.

Pendulum-v1 pays ``-(theta^2 + 0.1 thetadot^2 + 0.001 u^2)`` per step (``theta`` = 0 upright), so a policy that
swings the pendulum up and then spins it through the top pays about 3 per step (-500 to -700 over 200 steps)
where one that stops and balances scores -100 to -200. Per deterministic episode this prints the return,
how many turns the pendulum made, the steps spent upright (``|theta| < 0.3``), the reward model's mean error (its
prediction at ``s_t`` is of the reward received on reaching ``s_t``), and the critic's mean value of the posterior
states upright and elsewhere. The same is printed for a hand-written controller (energy shaping, then
``u = -10 theta - 2 thetadot`` within 0.8 rad of the top; -145 on average) fed through the same world model, and,
from step 100 of each episode, the 15 rewards the world model predicts open-loop for the actions taken against the
real ones, and the actor's own 15-step imagination (its summed predicted rewards and the critic's value at its end).

    OMP_NUM_THREADS=1 python benchmarks/pendulum_states.py runs/v1_pendulum_s11_models/model_20010.zip --episodes 3
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

import gymnasium as gym
import numpy as np
import torch as th

from sb3_dreamer import Dreamer
from sb3_dreamer.common.policies import as_obs_dict
from sb3_dreamer.grid import algorithms

ALGOS = algorithms()  # "dreamer", "dreamerv2", "dreamerv3", "plan2explore", ...
UPRIGHT = 0.3  # rad
HORIZON = 15  # imagined steps from step 100


def balancing_controller(obs: np.ndarray) -> np.ndarray:
    """Energy shaping up to the energy of the pendulum at rest upright, then, within 0.8 rad of the top, a PD law
    (Pendulum-v1's linearised dynamics there are ``thetaddot = 15 theta + 3 u``). Its energy is
    ``thetadot^2 / 6 + 5 cos theta`` (a uniform rod of mass 1 and length 1, g = 10), and a torque ``u`` adds
    ``u thetadot`` per unit time. On the episodes seeded 20000-20049 it scores -145.2 on average (-367.4 at worst)."""
    theta, speed = float(np.arctan2(obs[1], obs[0])), float(obs[2])
    if abs(theta) < 0.8:
        return np.clip([-10.0 * theta - 2.0 * speed], -2.0, 2.0)
    energy = speed * speed / 6 + 5 * np.cos(theta)
    return np.clip([5.0 * (5.0 - energy) * (1.0 if speed >= 0 else -1.0)], -2.0, 2.0)


def episode_states(
    model: Dreamer, seed: int, controller: Callable[[np.ndarray], np.ndarray] | None = None
) -> dict[str, float]:
    """Play one episode of Pendulum-v1 (seeded) with the actor's mode, or with ``controller`` if given, filtering
    the world model's belief along it; summarise the pendulum, the reward model and the critic."""
    policy = model.policy
    world_model, behavior = policy.world_model, policy.behaviors()[policy.acting]
    env = gym.make("Pendulum-v1")
    obs, _ = env.reset(seed=seed)
    state, action, first = *policy.initial_state(1)[:2], th.ones(1, dtype=th.bool, device=model.device)
    angles, rewards, predicted, values, states, actions = [], [], [], [], [], []
    done = False
    while not done:
        with th.no_grad():
            observation = as_obs_dict(th.as_tensor(obs, dtype=th.float32, device=model.device)[None])
            action, state = policy(observation, state, action, first, deterministic=True)  # the acting step
            predicted.append(float(world_model.reward_model(state.features)[0]))
            values.append(float(behavior.critic(state.features)[0]))
        if controller is None:
            env_action = policy.to_env_action(action.cpu().numpy())[0]
        else:
            env_action = controller(obs)
            action = th.as_tensor(policy.to_model_action(env_action[None]), dtype=th.float32, device=model.device)
        angles.append(float(np.arctan2(obs[1], obs[0])))
        states.append(state)
        actions.append(action)
        obs, reward, terminated, truncated, _ = env.step(env_action)
        rewards.append(float(reward))
        first = th.zeros(1, dtype=th.bool, device=model.device)
        done = terminated or truncated
    env.close()
    th.manual_seed(seed)  # imagination samples the prior: the same draws for the same episode
    with th.no_grad():
        start = min(100, len(states) - HORIZON - 1)
        open_loop, own = states[start], states[start]
        open_loop_rewards, own_rewards = 0.0, 0.0
        for t in range(HORIZON):
            open_loop = world_model.rssm.imagine_step(open_loop, actions[start + t])
            open_loop_rewards += float(world_model.reward_model(open_loop.features)[0])
            own = world_model.rssm.imagine_step(own, behavior.actor.mode(behavior.actor(own.features)))
            own_rewards += float(world_model.reward_model(own.features)[0])
        own_end_value = float(behavior.critic(own.features)[0])
    upright = np.abs(angles) < UPRIGHT
    value = np.array(values)
    return dict(
        episode_return=float(np.sum(rewards)),
        turns=float(abs(np.unwrap(angles)[-1] - angles[0]) / (2 * np.pi)),
        upright_steps=int(upright.sum()),
        reward_error=float(np.mean(np.abs(np.array(predicted[1:]) - np.array(rewards[:-1])))),
        value_upright=float(value[upright].mean()) if upright.any() else float("nan"),
        value_elsewhere=float(value[~upright].mean()) if (~upright).any() else float("nan"),
        real_rewards=float(np.sum(rewards[start : start + HORIZON])),
        open_loop_rewards=open_loop_rewards,
        own_rewards=own_rewards,
        own_end_value=own_end_value,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("model", help="a saved model (.zip)")
    parser.add_argument("--algo", choices=sorted(ALGOS), default="dreamer")
    parser.add_argument("--episodes", type=int, default=3)
    parser.add_argument("--seed", type=int, default=20_000, help="env seed of the first episode (+1 per episode)")
    args = parser.parse_args()
    model = ALGOS[args.algo].load(args.model, device="cpu")
    model.policy.set_training_mode(False)
    print(
        "| who | episode | return | turns | upright steps | reward model error | critic, upright | critic, elsewhere "
        "| 15 rewards from step 100: real / open-loop | actor's imagination: rewards / critic at its end |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for who, controller in (("actor", None), ("controller", balancing_controller)):
        for episode in range(args.episodes):
            s = episode_states(model, args.seed + episode, controller)
            print(
                f"| {who} | {episode} | {s['episode_return']:.1f} | {s['turns']:.1f} | {s['upright_steps']} | "
                f"{s['reward_error']:.2f} | {s['value_upright']:.1f} | {s['value_elsewhere']:.1f} | "
                f"{s['real_rewards']:.1f} / {s['open_loop_rewards']:.1f} | {s['own_rewards']:.1f} / {s['own_end_value']:.1f} |"
            )


if __name__ == "__main__":
    main()
