"""The peer's side of ``benchmarks/world_model_fit.py``: sheeprl's DreamerV3 world model fitted, alone, on the same
replayed frames, with the same measure: ``1 - SSE(reconstruction) / SSE(mean image)`` on the same fixed batch.

Does our DreamerV3 world model learn to draw DMC cartpole-balance more slowly per update than another implementation
of the paper at the same sizes? Run with the Python of sheeprl's virtual environment (``benchmarks/speed.py`` makes
it; see ``benchmarks/sheeprl_dreamer_v1.py``); it does not import sb3_dreamer::

    MUJOCO_GL=egl OMP_NUM_THREADS=1 python benchmarks/world_model_fit.py --algo dreamerv3 --replay REPLAY.pkl \
        --export frames.npz
    OMP_NUM_THREADS=1 $SHEEPRL_PY benchmarks/sheeprl_world_model_fit.py frames.npz --updates 600 --every 100

sheeprl's own configuration (``exp=dreamer_v3 env=dmc algo=dreamer_v3_XS``, the 2023 paper's world model: Adam
1e-4, epsilon 1e-8, gradient clipping 1000, KL 0.5 / 0.1 with 1 free nat, unimix 1%, LayerNorm and SiLU), at our
size ``XXS`` (dense
units, GRU and hidden sizes 128, one hidden layer, 16 x 16 latents, CNN multiplier 16), float32, batch 16 x 64; the
world model is updated with sheeprl's ``world_model_learning``, as its training step does before behaviour learning.
Sequences are drawn uniformly from the replay's rows (``--seed``). Our rows hold ``(o_t, a_{t-1}, r_t)``; sheeprl's
hold ``(o_t, a_t, r_t)`` and shift the actions itself, so the actions are moved up one row.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
from sheeprl_dreamer_v3 import BATCH, SEQUENCE, XXS  # benchmarks/ is no package

#: our ``SIZES["XXS"]`` from pixels: sheeprl's XS (one hidden layer) at XXS's widths, CNN multiplier 16
XXS_PIXELS = ["algo=dreamer_v3_XS", *XXS, "algo.world_model.encoder.cnn_channels_multiplier=16"]
#: the arrays of each row, in the order :func:`sheeprl_batch` takes them (``fixed_`` + key: the fixed batch's)
ROW_KEYS = ("observations", "actions", "rewards", "is_first", "is_terminal")
TASK = [
    "exp=dreamer_v3",
    "env=dmc",
    "env.id=cartpole_balance",
    "env.wrapper.domain_name=cartpole",
    "env.wrapper.task_name=balance",
    "env.wrapper.from_pixels=True",
    "env.wrapper.from_vectors=False",
    "env.num_envs=1",
    "env.capture_video=False",
    "algo.cnn_keys.encoder=[rgb]",
    "algo.cnn_keys.decoder=[rgb]",
    "algo.mlp_keys.encoder=[]",
    "algo.mlp_keys.decoder=[]",
    "fabric.accelerator=cpu",
    "fabric.devices=1",
    "model_manager.disabled=True",
    "algo.run_test=False",
    "metric.log_level=0",
]


def sheeprl_batch(observations, actions, rewards, is_first, is_terminal) -> dict[str, torch.Tensor]:
    """Batch-first arrays in our row convention to sheeprl's time-first batch (actions moved up one row)."""
    next_actions = np.concatenate([actions[:, 1:], np.zeros_like(actions[:, :1])], axis=1)

    def time_first(x: np.ndarray, dtype: torch.dtype) -> torch.Tensor:
        return torch.as_tensor(np.ascontiguousarray(np.swapaxes(x, 0, 1))).to(dtype)

    return {
        "rgb": time_first(observations, torch.float32),
        "actions": time_first(next_actions, torch.float32),
        "rewards": time_first(rewards[..., None], torch.float32),
        "is_first": time_first(is_first[..., None], torch.float32),
        "terminated": time_first(is_terminal[..., None], torch.float32),
    }


def main() -> None:
    """Build sheeprl's world model, fit it on the exported replay, print one JSON line every ``--every`` updates."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("frames", help="the .npz written by world_model_fit.py --export")
    parser.add_argument("--updates", type=int, default=600)
    parser.add_argument("--every", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("overrides", nargs="*", help="further Hydra overrides of sheeprl's configuration")
    args = parser.parse_args()
    torch.set_num_threads(1)

    import gymnasium as gym
    import hydra
    from hydra import compose, initialize_config_module
    from omegaconf import OmegaConf
    from sheeprl.algos.dreamer_v3.agent import build_agent
    from sheeprl.algos.dreamer_v3.dreamer_v3 import world_model_learning, world_model_loss, world_model_loss_kwargs
    from sheeprl.utils.metric import MetricAggregator
    from sheeprl.utils.utils import dotdict

    with initialize_config_module(config_module="sheeprl.configs", version_base="1.3"):
        cfg = compose(config_name="config", overrides=TASK + XXS_PIXELS + list(args.overrides))
    cfg = dotdict(OmegaConf.to_container(cfg, resolve=True, throw_on_missing=True))
    MetricAggregator.disabled = True
    fabric = hydra.utils.instantiate(cfg.fabric, _convert_="all")
    fabric.seed_everything(args.seed)

    data = np.load(args.frames)
    observation_space = gym.spaces.Dict({"rgb": gym.spaces.Box(0, 255, data["observations"].shape[1:], np.uint8)})
    actions_dim = (data["actions"].shape[-1],)
    world_model, *_ = build_agent(fabric, actions_dim, True, cfg, observation_space)
    optimizer = hydra.utils.instantiate(cfg.algo.world_model.optimizer, params=world_model.parameters(), _convert_="all")
    optimizer = fabric.setup_optimizers(optimizer)
    print(json.dumps({"world_model_parameters": sum(p.numel() for p in world_model.parameters())}), flush=True)

    fixed = sheeprl_batch(*(data[f"fixed_{k}"] for k in ROW_KEYS))
    rows = {k: data[k] for k in ROW_KEYS}
    rng = np.random.default_rng(args.seed)

    def explained() -> float:
        with torch.no_grad():
            _, posteriors, recurrent_states, _ = world_model_loss(world_model, dict(fixed), **world_model_loss_kwargs(cfg))
            latents = torch.cat((posteriors.view(*posteriors.shape[:-2], -1), recurrent_states), -1)
            prediction = world_model.observation_model(latents)["rgb"].float()
        truth = fixed["rgb"] / 255.0 - 0.5
        mean_image = truth.mean(dim=(0, 1), keepdim=True)
        return float(1 - ((prediction - truth) ** 2).sum() / ((mean_image - truth) ** 2).sum())

    start = time.time()
    for update in range(1, args.updates + 1):
        starts = rng.integers(0, len(rows["actions"]) - SEQUENCE + 1, size=BATCH)
        index = starts[:, None] + np.arange(SEQUENCE)
        batch = sheeprl_batch(*(rows[k][index] for k in ROW_KEYS))
        batch["is_first"][0] = 1.0
        _, _, metrics = world_model_learning(fabric, cfg, world_model, optimizer, batch)
        if update % args.every == 0:
            row = {"update": update, "explained": round(explained(), 4), "minutes": (time.time() - start) / 60}
            print(json.dumps({**row, **{k: round(float(v), 3) for k, v in metrics.items()}}), flush=True)


if __name__ == "__main__":
    main()
