"""sheeprl's DreamerV3 on a Gymnasium vector task, trained and evaluated the way our grid evaluates DreamerV3.

The peer of the DreamerV3 CartPole-v1 rows of docs/benchmarks.md: does another implementation of the same paper,
at the same sizes and train ratio, hold CartPole-v1 where ours swings? It runs with the Python of the virtual
environment that ``benchmarks/speed.py`` makes for sheeprl 0.8.4 (torch pinned to ours; see
``benchmarks/sheeprl_dreamer_v1.py`` for the commands) and does not import sb3_dreamer.

``train`` runs sheeprl's own command line (``sheeprl exp=dreamer_v3 env=gym ...``) with these overrides and nothing
else changed from sheeprl's DreamerV3 defaults (the 2023 paper's: learning rates 1e-4 / 3e-5 / 3e-5, KL 0.5 / 0.1,
free nats 1, unimix 1%, two-hot 255 bins, discount 0.997, lambda 0.95, horizon 15, entropy 3e-4, critic EMA 0.02):

* our size ``XXS`` (``--size XXS``: GRU, hidden layers and MLP units 128, one hidden layer, 16 x 16 latents) or
  sheeprl's ``dreamer_v3_XS`` (``--size XS``);
* ``algo.replay_ratio = train_ratio / (16 * 64)`` (sheeprl counts gradient steps per policy step);
* one env, 1024 random steps before learning, a buffer that keeps every step, float32 (sheeprl's default),
  checkpoints every ``--eval-every`` policy steps, all kept, no test episode, no video.

``evaluate`` loads every checkpoint of a run and plays ``--episodes`` episodes with the actor's mode (sheeprl's
``greedy=True``; its player samples the latent state, torch seeded with the run's seed for each checkpoint), the env
seeded ``10000 + seed`` before each evaluation as in ``sb3_dreamer.grid``. It prints one line per checkpoint, with
the critic's mean value over the states played, and writes ``evaluations.npz`` in SB3's format (timesteps, results,
ep_lengths) into the run's folder::

    export OMP_NUM_THREADS=1 SHEEPRL_PY=~/.cache/sb3_dreamer/sheeprl-venv/bin/python
    $SHEEPRL_PY benchmarks/sheeprl_dreamer_v3.py train --seed 0 --train-ratio 128 --output runs/sheeprl_v3
    $SHEEPRL_PY benchmarks/sheeprl_dreamer_v3.py evaluate runs/sheeprl_v3/logs/runs/cartpole/xxs_128_s0/version_0
"""

from __future__ import annotations

import argparse
import glob
import os
import re
import shutil
import subprocess
import sys

import numpy as np

BATCH, SEQUENCE = 16, 64
#: our ``SIZES["XXS"]`` (sb3_dreamer/dreamer_v3/policies.py) in sheeprl's overrides; a test keeps the two equal
XXS = [
    "algo.dense_units=128",
    "algo.world_model.recurrent_model.recurrent_state_size=128",
    "algo.world_model.transition_model.hidden_size=128",
    "algo.world_model.representation_model.hidden_size=128",
    "algo.world_model.stochastic_size=16",
    "algo.world_model.discrete_size=16",
]


def train(args: argparse.Namespace) -> None:
    """sheeprl's command line with the overrides of the module's docstring."""
    sheeprl = shutil.which("sheeprl", path=os.path.dirname(sys.executable)) or "sheeprl"
    command = [
        sheeprl, "exp=dreamer_v3", "algo=dreamer_v3_XS", "env=gym", f"env.id={args.env}", "env.num_envs=1",
        "env.capture_video=False", "algo.mlp_keys.encoder=[state]", "algo.mlp_keys.decoder=[state]",
        "algo.cnn_keys.encoder=[]", "algo.cnn_keys.decoder=[]", f"algo.total_steps={args.steps}",
        f"algo.replay_ratio={args.train_ratio / (BATCH * SEQUENCE)}", "algo.learning_starts=1024",
        "fabric.accelerator=cpu", "fabric.devices=1", f"buffer.size={args.steps}", "buffer.memmap=False",
        "buffer.checkpoint=False", f"checkpoint.every={args.eval_every}",
        f"checkpoint.keep_last={args.steps // args.eval_every + 1}", "algo.run_test=False",
        "model_manager.disabled=True", f"seed={args.seed}", "metric.log_level=1",
        f"root_dir={args.env.split('-')[0].lower()}", f"run_name={args.size.lower()}_{args.train_ratio:g}_s{args.seed}",
        *(XXS if args.size == "XXS" else []), *args.overrides,
    ]  # fmt: skip
    print("$ " + " ".join(command), flush=True)
    subprocess.run(command, cwd=args.output, check=True)


def evaluate(args: argparse.Namespace) -> None:
    """``--episodes`` greedy episodes of every checkpoint of a run, as ``sb3_dreamer.grid`` evaluates."""
    import torch
    from lightning import Fabric
    from omegaconf import OmegaConf
    from sheeprl.algos.dreamer_v3.agent import build_agent
    from sheeprl.algos.dreamer_v3.utils import prepare_obs
    from sheeprl.utils.distribution import TwoHotEncodingDistribution
    from sheeprl.utils.env import make_env
    from sheeprl.utils.utils import dotdict

    cfg = dotdict(OmegaConf.to_container(OmegaConf.load(os.path.join(args.run, "config.yaml")), resolve=True))
    cfg.env.capture_video = False
    fabric = Fabric(accelerator="cpu", devices=1)
    env = make_env(cfg, cfg.seed, 0, None, "test")()
    actions_dim = [env.action_space.n]
    checkpoints = {
        int(re.search(r"ckpt_(\d+)_0", path).group(1)): path
        for path in glob.glob(os.path.join(args.run, "checkpoint", "ckpt_*_0.ckpt"))
    }
    steps = sorted(checkpoints)
    results, lengths = [], []
    for step in steps:
        state = torch.load(checkpoints[step], weights_only=False)
        _, _, critic, _, player = build_agent(
            fabric, actions_dim, False, cfg, env.observation_space, state["world_model"], state["actor"], state["critic"]
        )
        torch.manual_seed(cfg.seed)
        returns, episode_lengths, values = [], [], []
        for episode in range(args.episodes):
            obs = env.reset(seed=10_000 + cfg.seed if episode == 0 else None)[0]
            player.num_envs = 1
            player.init_states()
            done, total, length = False, 0.0, 0
            with torch.no_grad():
                while not done:
                    torch_obs = prepare_obs(fabric, obs, cnn_keys=cfg.algo.cnn_keys.encoder)
                    action = player.get_actions(torch_obs, greedy=True)[0].argmax(dim=-1).item()
                    latent = torch.cat((player.stochastic_state, player.recurrent_state), -1)
                    values.append(TwoHotEncodingDistribution(critic(latent), dims=1).mean.item())
                    obs, reward, terminated, truncated, _ = env.step(action)
                    done, total, length = terminated or truncated, total + float(reward), length + 1
            returns.append(total)
            episode_lengths.append(length)
        results.append(returns)
        lengths.append(episode_lengths)
        print(f"{step} {np.mean(returns):.1f} {returns} critic mean {np.mean(values):.1f}", flush=True)
    np.savez(os.path.join(args.run, "evaluations.npz"), timesteps=np.array(steps), results=np.array(results),
             ep_lengths=np.array(lengths))  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("train", help="train one seed with sheeprl's command line")
    run.add_argument("--env", default="CartPole-v1")
    run.add_argument("--seed", type=int, default=0)
    run.add_argument("--size", choices=["XXS", "XS"], default="XXS")
    run.add_argument("--train-ratio", type=float, default=128.0, help="replayed steps per policy step")
    run.add_argument("--steps", type=int, default=30_000, help="policy steps")
    run.add_argument("--eval-every", type=int, default=2000, help="policy steps between checkpoints")
    run.add_argument("--output", default=".", help="folder the run's logs/ go into")
    run.add_argument("overrides", nargs="*", help="further Hydra overrides of sheeprl's configuration")
    scores = commands.add_parser("evaluate", help="evaluate every checkpoint of a run")
    scores.add_argument("run", help="the run's folder (logs/runs/<root_dir>/<run_name>/version_0)")
    scores.add_argument("--episodes", type=int, default=10)
    args = parser.parse_args()
    {"train": train, "evaluate": evaluate}[args.command](args)


if __name__ == "__main__":
    main()
