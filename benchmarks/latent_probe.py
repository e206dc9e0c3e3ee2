"""What a saved Dreamer knows about DMC cartpole, and what its actor does with it: linear probes of the latent state.

The world model's latent state should hold the pole's angle and speed and the cart's position and speed. This
plays episodes of a DMC cartpole env from pixels, half of the actions random (so that upright, falling and
spinning poles are all seen), and fits a ridge regression from the posterior features ``[h_t, z_t]`` to the
simulator's state (pole cosine and sine, pole angular speed, cart position and speed) on five episodes. On
three more it prints the R^2 of that probe:

* on the posterior states (what the belief holds);
* on the prior's open-loop predictions ``k`` steps ahead (1, 5 and 15, the imagination horizon), from the
  posterior at ``t`` and the actions taken, decoded with the same probe (how well imagination tracks the
  simulator).

Then, for deterministic episodes from the usual upright start, the policy step at which the pole first leaves
``cos > 0.9`` (the fall), the fall's onset (the last step before it at which the pole turned at 0.5 rad/s or
slower), and the actor's mean action in magnitude before the onset and from the onset to the fall: a balancing
controller pushes back once the pole starts to fall.

Last, what pushing back would earn under the same actor: from the simulator's state 8 steps before the onset and at
the onset, a copy of the env plays ``--branch-steps`` policy steps closed loop with the actor, first as it is, then
with full force one way or the other for the first 4 steps. It prints the discounted return of each branch (the
model's ``gamma``) and the steps at which the pole is up (``cos > 0.9``): the improvement that the actor's
objective could find by changing what it does at one state.

    MUJOCO_GL=egl OMP_NUM_THREADS=1 python benchmarks/latent_probe.py runs/v1_pixels_s4/dreamer/\\
DMC-cartpole-balance-pixels-v0_4/DMC-cartpole-balance-pixels-v0.zip
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

import numpy as np
import torch as th
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.vec_env import VecEnv

from sb3_dreamer import Dreamer
from sb3_dreamer.common.rssm import RSSM
from sb3_dreamer.grid import algorithms

ALGOS = algorithms()
#: the simulator's state that the probe reads from the latent state
TARGETS = ("pole cos", "pole sin", "pole speed", "cart x", "cart speed")


def make_env(model: Dreamer, env_id: str, seed: int) -> tuple[VecEnv, Any]:
    """One env as the model acts in it (seeded ``seed``), and its MuJoCo physics."""
    env = model._wrap_env(make_vec_env(env_id, n_envs=1, seed=seed))
    inner = env
    while hasattr(inner, "venv"):
        inner = inner.venv
    return env, inner.envs[0].unwrapped._physics  # type: ignore[attr-defined]


def taking(model: Dreamer, state: tuple[np.ndarray, ...], action: np.ndarray) -> tuple[np.ndarray, ...]:
    """``predict``'s recurrent state with ``action`` (in the env's space) as the action taken, so that the next belief
    sees the action really taken."""
    return (state[0], state[1], model.policy.to_model_action(action).astype(np.float32))


def play(model: Dreamer, env_id: str, seed: int, random_share: float) -> dict[str, np.ndarray]:
    """One episode (env seeded ``seed``): the actor's mode, each action replaced by a uniform random one with
    probability ``random_share``.

    :return: per policy step, the posterior ``deter`` and ``stoch`` after observing ``o_t``, the action taken at
        ``t`` in the model's space, the simulator's state at ``t`` (:data:`TARGETS`) and its full physics state
    """
    env, physics = make_env(model, env_id, seed)
    rng = np.random.default_rng(seed)
    obs, state, start = env.reset(), None, np.array([True])
    steps: dict[str, list[np.ndarray]] = {"deter": [], "stoch": [], "action": [], "target": [], "physics": []}
    done = False
    while not done:
        action, state = model.predict(obs, state, start, deterministic=True)
        qpos, qvel = physics.named.data.qpos, physics.named.data.qvel
        angle = float(qpos["hinge_1"][0])
        target = [np.cos(angle), np.sin(angle), float(qvel["hinge_1"][0]), float(qpos["slider"][0]), float(qvel["slider"][0])]
        if rng.random() < random_share:  # the next belief must see the action really taken
            action = rng.uniform(-1, 1, size=action.shape).astype(np.float32)
            state = taking(model, state, action)
        values = (state[0][0], state[1][0], state[2][0], np.array(target), physics.get_state().copy())
        for key, value in zip(steps, values, strict=True):
            steps[key].append(value)
        obs, _, dones, _ = env.step(action)
        start, done = dones, bool(dones[0])
    env.close()
    return {key: np.asarray(values, dtype=np.float64 if key == "physics" else np.float32) for key, values in steps.items()}


def branch(
    model: Dreamer, env: VecEnv, physics: Any, episode: dict[str, np.ndarray], t: int, push: float | None, steps: int
) -> tuple[float, int]:
    """From step ``t`` of a recorded deterministic episode, ``steps`` policy steps in ``env`` restored to the
    simulator's state there: ``push`` (an action in the env's space, all dimensions alike) for the first 4 steps, or
    none, and the actor's mode after them, closed loop on the new observations from the belief of the episode at ``t``.

    :return: the discounted return (the model's ``gamma``) and the number of steps with the pole up (``cos > 0.9``)
    """
    env.reset()
    with physics.reset_context():
        physics.set_state(episode["physics"][t])
    state = (episode["deter"][t][None], episode["stoch"][t][None], episode["action"][t][None])
    if push is not None:
        state = taking(model, state, np.full_like(state[2], push))
    action = model.policy.to_env_action(state[2])
    total, discount, up = 0.0, 1.0, 0
    for k in range(steps):
        obs, reward, _, _ = env.step(action)
        total, discount = total + discount * float(reward[0]), discount * model.gamma
        up += int(np.cos(physics.named.data.qpos["hinge_1"][0]) > 0.9)
        action, state = model.predict(obs, state, np.array([False]), deterministic=True)
        if push is not None and k + 1 < 4:
            action = np.full_like(action, push)
            state = taking(model, state, action)
    return total, up


def fit_probe(features: np.ndarray, targets: np.ndarray, ridge: float = 1e-2) -> Callable[[np.ndarray], np.ndarray]:
    """Ridge regression on standardised features: ``targets ~ W [x, 1]``, penalty ``ridge`` times the number of rows.

    :return: the fitted map from features ``(N, F)`` to targets ``(N, T)``
    """
    mean, std = features.mean(0), features.std(0) + 1e-6

    def design(x: np.ndarray) -> np.ndarray:
        return np.c_[(x - mean) / std, np.ones(len(x))]

    a = design(features).astype(np.float64)
    weights = np.linalg.solve(a.T @ a + ridge * len(a) * np.eye(a.shape[1]), a.T @ targets)
    return lambda x: design(x) @ weights


def r_squared(predicted: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """The coefficient of determination of each target column."""
    return 1 - ((predicted - targets) ** 2).sum(0) / ((targets - targets.mean(0)) ** 2).sum(0)


def predict_ahead(rssm: RSSM, deter: th.Tensor, stoch: th.Tensor, actions: th.Tensor, k: int) -> tuple[th.Tensor, th.Tensor]:
    """The prior's open-loop prediction ``k`` steps ahead of each of ``N`` states, the latents at their means.

    :param deter: ``h_t`` ``(N, D)``
    :param stoch: ``z_t`` ``(N, S)``
    :param actions: ``(N + k, A)``, row ``t`` the action taken at step ``t``
    :return: ``h_{t+k}`` and ``z_{t+k}`` for each ``t``
    """
    n = deter.shape[0]
    with th.no_grad():
        for j in range(k):
            deter = rssm.recurrent_model(deter, stoch, actions[j : j + n])
            stoch = rssm.latent.sample(rssm.transition_model(deter), deterministic=True)
    return deter, stoch


def first(condition: np.ndarray) -> int | None:
    """The first index where ``condition`` holds, or None."""
    found = np.flatnonzero(condition)
    return int(found[0]) if len(found) else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("model", help="a saved model (.zip)")
    parser.add_argument("--algo", choices=sorted(ALGOS), default="dreamer")
    parser.add_argument("--env", default="DMC/cartpole-balance-pixels-v0")
    parser.add_argument("--seed", type=int, default=30_000, help="env seed of the first probe episode (+1 per episode)")
    parser.add_argument("--branch-steps", type=int, default=60, help="policy steps of each branch from a fall's onset")
    args = parser.parse_args()
    model = ALGOS[args.algo].load(args.model, device="cpu")
    rssm = model.policy.world_model.rssm
    episodes = [play(model, args.env, args.seed + k, random_share=0.5) for k in range(8)]
    train, test = episodes[:5], episodes[5:]
    probe = fit_probe(
        np.concatenate([np.c_[e["deter"], e["stoch"]] for e in train]), np.concatenate([e["target"] for e in train])
    )
    print("| R^2 of the probe | " + " | ".join(TARGETS) + " |")
    print("|---|" + "---|" * len(TARGETS))
    for k in (0, 1, 5, 15):
        predicted, truth = [], []
        for e in test:
            n = len(e["deter"]) - k
            deter, stoch = predict_ahead(
                rssm, *(th.as_tensor(e[key][:n]) for key in ("deter", "stoch")), th.as_tensor(e["action"]), k
            )
            predicted.append(probe(np.c_[deter.numpy(), stoch.numpy()]))
            truth.append(e["target"][k:])
        label = "posterior" if k == 0 else f"prior, {k} step{'s' if k > 1 else ''} ahead"
        print(
            f"| {label} | "
            + " | ".join(f"{v:.3f}" for v in r_squared(np.concatenate(predicted), np.concatenate(truth)))
            + " |"
        )
    print(
        "\n| deterministic episode (env seed) | pole cos first below 0.9 (the fall) | the fall's onset: last step "
        "before it at 0.5 rad/s or slower | mean abs action before the onset | mean abs action from onset to fall |"
    )
    print("|---|---|---|---|---|")
    onsets = {}
    for seed in (20_000, 20_001, 20_002):
        e = play(model, args.env, seed, random_share=0.0)
        fall = first(e["target"][:, 0] < 0.9)
        if fall is None:
            print(f"| {seed} | never | - | - | - |")
            continue
        slow = np.flatnonzero(np.abs(e["target"][:fall, 2]) <= 0.5)
        onset = int(slow[-1]) if len(slow) else 0
        onsets[seed] = (e, onset)
        actions = np.abs(e["action"]).max(axis=1)
        before = f"{actions[:onset].mean():.2f}" if onset else "-"
        print(f"| {seed} | {fall} | {onset} | {before} | {actions[onset:fall].mean():.2f} |")
    print(
        f"\n| episode | step | pole angle, speed | over {args.branch_steps} steps: the actor (return, steps up) | +1 for 4 "
        "steps, then the actor | -1 for 4 steps, then the actor |"
    )
    print("|---|---|---|---|---|---|")
    for seed, (e, onset) in onsets.items():
        env, physics = make_env(model, args.env, seed)
        for t in sorted({max(onset - 8, 0), onset}):
            cells = [branch(model, env, physics, e, t, push, args.branch_steps) for push in (None, 1.0, -1.0)]
            angle = np.arctan2(e["target"][t, 1], e["target"][t, 0])
            print(
                f"| {seed} | {t} | {angle:+.2f} rad, {e['target'][t, 2]:+.2f} rad/s | "
                + " | ".join(f"{total:.1f}, {up}" for total, up in cells)
                + " |"
            )
        env.close()


if __name__ == "__main__":
    main()
