"""Does a saved world model see the task? Its reconstructions of a fresh episode, as a picture.

Plays one episode of ``--env`` with uniformly random actions (seeded), filters it with the saved model's RSSM
(posterior states, as in training) and writes every ``--every``-th frame in a row above the decoder's
reconstruction of it. It prints the summed squared error per frame in the model's image space.

    MUJOCO_GL=egl OMP_NUM_THREADS=1 python benchmarks/reconstruct.py runs/v1_pixels/dreamer/\\
DMC-cartpole-balance-pixels-v0_0/checkpoints/checkpoint_000000012500/model.zip --algo dreamer \\
        --env DMC/cartpole-balance-pixels-v0 --output docs/img/reconstruction.png
"""

from __future__ import annotations

import argparse

import gymnasium as gym
import numpy as np
import torch as th
from PIL import Image

from sb3_dreamer import Dreamer
from sb3_dreamer.grid import algorithms

ALGOS = algorithms()  # "dreamer", "dreamerv2", "dreamerv3", "plan2explore", ...


def reconstruct(model: Dreamer, env_id: str, steps: int, seed: int) -> tuple[th.Tensor, th.Tensor]:
    """Frames ``(T, 3, H, W)`` of a random-action episode and the world model's reconstructions, both in [0, 1]."""
    env = gym.make(env_id)
    env.action_space.seed(seed)
    frames = [env.reset(seed=seed)[0]]
    actions = [env.action_space.sample() for _ in range(steps - 1)]
    frames += [env.step(action)[0] for action in actions]
    policy = model.policy
    key = policy.image_keys[0]
    images = th.as_tensor(np.stack(frames))
    if images.shape[-1] in (1, 3):  # channel-last env frames, as the training VecTransposeImage turns them
        images = images.permute(0, 3, 1, 2)
    # row t holds the action that led to frame t; row 0's is ignored, since the episode starts there
    model_actions = th.as_tensor(policy.to_model_action(np.stack(actions)))
    model_actions = th.cat([th.zeros_like(model_actions[:1]), model_actions])[None]
    is_first = th.zeros(1, steps, dtype=th.bool)
    is_first[0, 0] = True
    obs, _, _, reconstruction = policy.reconstruct({key: images[None]}, model_actions, is_first)
    truth, prediction = obs[key], reconstruction[key]
    error = ((prediction - truth) ** 2).sum((-3, -2, -1))[0]
    print(f"summed squared error per frame: mean {error.mean():.2f}, max {error.max():.2f}")
    return (truth[0] + policy.image_offset).clamp(0, 1), (prediction[0] + policy.image_offset).clamp(0, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("model", help="a saved model (.zip), e.g. a checkpoint's model.zip")
    parser.add_argument("--algo", choices=sorted(ALGOS), default="dreamer")
    parser.add_argument("--env", default="DMC/cartpole-balance-pixels-v0")
    parser.add_argument("--steps", type=int, default=64, help="policy steps of the episode")
    parser.add_argument("--every", type=int, default=8, help="show every this many frames")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--scale", type=int, default=2, help="upscale the picture this many times")
    parser.add_argument("--output", default="reconstruction.png")
    args = parser.parse_args()
    model = ALGOS[args.algo].load(args.model, device="cpu")
    truth, reconstruction = reconstruct(model, args.env, args.steps, args.seed)
    rows = [th.cat(list(x[:: args.every]), dim=-1) for x in (truth, reconstruction)]
    picture = (th.cat(rows, dim=-2).permute(1, 2, 0).numpy() * 255).astype(np.uint8)
    image = Image.fromarray(picture if picture.shape[-1] == 3 else picture[..., 0])
    image.resize((image.width * args.scale, image.height * args.scale), Image.NEAREST).save(args.output)
    print(f"truth above, reconstruction below: {args.output}")


if __name__ == "__main__":
    main()
