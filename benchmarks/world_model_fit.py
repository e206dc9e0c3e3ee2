"""Fit a fresh world model, alone, on a saved replay and report how much of the frames' variance around their mean
image its reconstructions explain: ``1 - SSE(reconstruction) / SSE(mean image)`` on one fixed batch of 16 x 64
replayed steps (0: no better than drawing the mean image; 1: exact). Behaviour learning does not run.

    MUJOCO_GL=egl OMP_NUM_THREADS=1 python benchmarks/world_model_fit.py --algo dreamerv3 --replay REPLAY.pkl \
        --env DMC/cartpole-balance-pixels-v0 --updates 1200 --every 200 [--learning-rate 6e-4] [--size XS]

``--algo dreamer`` uses ``SMALL_PIXELS``, ``--algo dreamerv3`` ``DREAMERV3_SMALL_PIXELS``.

``--export FILE.npz`` writes the replay's rows and the fixed batch instead of fitting, for the peer's side of the same
measurement (``benchmarks/sheeprl_world_model_fit.py``, sheeprl's DreamerV3 world model on the same frames).
"""

from __future__ import annotations

import argparse
import json
import time

import gymnasium as gym
import numpy as np
import torch as th

from sb3_dreamer import DREAMERV3_SMALL_PIXELS, SMALL_PIXELS, Dreamer, DreamerV3


def explained(model: Dreamer, batch) -> float:
    """``1 - SSE(reconstruction) / SSE(the batch's mean image)`` of the image key on ``batch``."""
    policy = model.policy
    with model._autocast():
        obs, _, _, reconstruction = policy.reconstruct(batch.observations, batch.actions, batch.is_first)
    key = policy.image_keys[0]
    truth, prediction = obs[key].float(), reconstruction[key].float()
    mean_image = truth.mean(dim=(0, 1), keepdim=True)
    return float(1 - ((prediction - truth) ** 2).sum() / ((mean_image - truth) ** 2).sum())


def export(model: Dreamer, fixed, path: str) -> None:
    """The first stream's stored rows (row ``t``: ``o_t``, the action ``a_{t-1}`` that led to it, ``r_t``, whether
    ``o_t`` starts an episode or ends one) and the fixed batch, as NumPy arrays in one ``.npz``."""
    buffer, key = model.replay_buffer, model.policy.image_keys[0]
    rows = int(buffer.stream_sizes()[0])
    frames = buffer.observations[key] if isinstance(buffer.observations, dict) else buffer.observations
    np.savez(
        path,
        observations=np.asarray(frames[:rows, 0]),
        actions=buffer.actions[:rows, 0],
        rewards=buffer.rewards[:rows, 0],
        is_first=buffer.is_first[:rows, 0],
        is_terminal=buffer.dones[:rows, 0] > 0,
        fixed_observations=fixed.observations[key].numpy(),
        fixed_actions=fixed.actions.numpy(),
        fixed_rewards=fixed.rewards.numpy(),
        fixed_is_first=fixed.is_first.numpy(),
        fixed_is_terminal=fixed.is_terminal.numpy(),
    )
    print(f"wrote {rows} rows and a fixed batch of {tuple(fixed.actions.shape[:2])} to {path}")


def main() -> None:
    """Build the model, load the replay, and print one JSON line every ``--every`` world-model updates."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--algo", choices=["dreamer", "dreamerv3"], required=True)
    parser.add_argument("--replay", required=True, help="a replay buffer saved by save_replay_buffer (or a checkpoint's)")
    parser.add_argument("--env", default="DMC/cartpole-balance-pixels-v0")
    parser.add_argument("--updates", type=int, default=1200)
    parser.add_argument("--every", type=int, default=200)
    parser.add_argument("--learning-rate", type=float, default=None, help="the world model's (default: the preset's)")
    parser.add_argument("--size", default=None, help="DreamerV3's model size (default: the preset's, XXS)")
    parser.add_argument("--precision", default=None, help="e.g. 32 or bf16-mixed (default: the preset's)")
    parser.add_argument("--export", default=None, help="write the replay and the fixed batch to this .npz and stop")
    args = parser.parse_args()
    th.set_num_threads(1)
    kwargs = dict(DREAMERV3_SMALL_PIXELS if args.algo == "dreamerv3" else SMALL_PIXELS)
    if args.learning_rate is not None:
        kwargs["learning_rate"] = args.learning_rate
    if args.size is not None:
        if args.algo != "dreamerv3":
            parser.error("--size is DreamerV3's")
        kwargs["size"] = args.size
    if args.precision is not None:
        kwargs["precision"] = args.precision
    model = (DreamerV3 if args.algo == "dreamerv3" else Dreamer)("CnnPolicy", gym.make(args.env), seed=0, **kwargs)
    model.load_replay_buffer(args.replay)
    model._update_learning_rates(1.0)
    np.random.seed(12345)
    fixed = model.replay_buffer.sample(16, None, 64)  # the same sequences for every model
    if args.export:
        export(model, fixed, args.export)
        return
    np.random.seed(0)
    start = time.time()
    for update in range(1, args.updates + 1):
        batch = model.replay_buffer.sample(model.batch_size, None, model.sequence_length)
        with model._autocast():
            _, _, metrics = model._train_world_model(batch)
        if update % args.every == 0:
            row = {"update": update, "explained": round(explained(model, fixed), 4), "minutes": (time.time() - start) / 60}
            print(json.dumps({**row, **{key: round(float(value), 3) for key, value in metrics.items()}}), flush=True)


if __name__ == "__main__":
    main()
