"""Evaluating a grid's finished cells again, with the code installed now.

A change to how a model acts (not how it trains) changes what a grid reports, but not the weights it
learned. ``evaluate_grid`` loads each finished cell's final model (``<EnvName>.zip``) and plays the cell's
last evaluation again: the same evaluation environment, wrapped and seeded as the cell's own
:class:`~sb3_dreamer.grid.train.GridEvalCallback` seeded it, the same number of deterministic episodes. It writes
``reevaluation.csv`` into the output folder beside ``results.csv``.

The final model is the one evaluated last, except for the updates of the last rollout: SB3 runs a rollout's
callbacks (the evaluation at the budget) before the updates the rollout made due. A model that trained after
its last evaluation can score differently from the recorded return under unchanged code; one that did not
reproduces it exactly.

    python -m sb3_dreamer.grid evaluate runs/grid
"""

from __future__ import annotations

import csv
import dataclasses
import os

import numpy as np
from stable_baselines3.common.evaluation import evaluate_policy

from sb3_dreamer.grid.cells import algorithms, env_name, read_cell
from sb3_dreamer.grid.report import load_results
from sb3_dreamer.grid.train import EVAL_SEED_OFFSET, EVALUATIONS, make_eval_env

REEVALUATION_FILE = "reevaluation.csv"


@dataclasses.dataclass(frozen=True)
class Reevaluation:
    """One cell's last recorded evaluation and the same evaluation played now.

    :param algo: the cell's algorithm folder (its label)
    :param env: environment id
    :param seed: the cell's seed
    :param step: policy steps of the last recorded evaluation
    :param recorded: its mean return, as the run recorded it
    :param now: the mean return of the final model on the same episodes with the code installed now
    :param episodes: the episode returns behind ``now``
    """

    algo: str
    env: str
    seed: int
    step: int
    recorded: float
    now: float
    episodes: tuple[float, ...]


def evaluate_cell(folder: str, device: str = "cpu") -> Reevaluation:
    """Play a finished cell's last evaluation again with its final model.

    :param folder: the cell's folder (with ``cell.json``, ``evaluations.npz`` and ``<EnvName>.zip``)
    :param device: where the model runs
    """
    cell = read_cell(folder)
    if cell is None:
        raise FileNotFoundError(f"{folder} has no cell.json: not a grid cell.")
    path = os.path.join(folder, f"{env_name(cell.env)}.zip")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path} does not exist: the cell has not finished.")
    with np.load(os.path.join(folder, EVALUATIONS)) as data:
        step, recorded = int(data["timesteps"][-1]), float(data["results"][-1].mean())
    cls = algorithms()[cell.algo]
    model = cls.load(path, device=device)
    env = make_eval_env(cls, cell.env)
    env.seed(EVAL_SEED_OFFSET + cell.seed)
    returns, _ = evaluate_policy(
        model, env, n_eval_episodes=cell.n_eval_episodes, deterministic=True, return_episode_rewards=True
    )
    env.close()
    episodes = tuple(float(value) for value in returns)  # type: ignore[union-attr]
    return Reevaluation(cell.name, cell.env, cell.seed, step, recorded, float(np.mean(episodes)), episodes)


def evaluate_grid(output: str, device: str = "cpu") -> list[Reevaluation]:
    """Evaluate every finished cell of a grid's output folder again and write ``reevaluation.csv``.

    :param output: the grid's output folder
    :param device: where the models run
    """
    found = [evaluate_cell(result.folder, device) for result in load_results(output) if result.status == "done"]
    with open(os.path.join(output, REEVALUATION_FILE), "w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(["algo", "env", "seed", "step", "recorded_return", "return_now", "episode_returns"])
        for row in found:
            episodes = " ".join(f"{value:g}" for value in row.episodes)
            writer.writerow([row.algo, row.env, row.seed, row.step, f"{row.recorded:g}", f"{row.now:g}", episodes])
    return found


def format_reevaluations(rows: list[Reevaluation]) -> str:
    """A Markdown table of the recorded and the replayed final evaluations."""
    lines = ["| algo | env | seed | step | recorded | now |", "|---|---|---|---|---|---|"]
    lines += [f"| {r.algo} | {r.env} | {r.seed} | {r.step} | {r.recorded:.1f} | {r.now:.1f} |" for r in rows]
    return "\n".join(lines)
