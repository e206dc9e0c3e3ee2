"""Training one grid cell in its folder: fresh, or resumed from its latest checkpoint.

This module runs inside the Ray workers (and works without Ray). A cell's folder, as RL Baselines3 Zoo lays
out its logs (``<output>/<algo>/<EnvName>_<seed>/``):

- ``evaluations.npz``: ``timesteps``, ``results`` (one row of episode returns per evaluation), ``ep_lengths``,
  as SB3's ``EvalCallback`` writes it (the evaluations from before an interruption are kept);
- ``0.monitor.csv``: the training episodes (SB3's ``Monitor``);
- ``<EnvName>.zip``: the final model; ``best_model.zip``: the best evaluated one;
- ``tensorboard/``: the TensorBoard run;
- ``checkpoints/``: :class:`~sb3_dreamer.RunCheckpointCallback`'s checkpoints while the cell runs;
- ``cell.json`` (the cell's definition), ``attempts.jsonl`` (one line per start: process id, host, the
  policy step it started from), ``done.json`` (the summary, written last: the cell is finished) or
  ``error.txt`` (the traceback of the cell's own failure).
"""

from __future__ import annotations

import csv
import json
import math
import os
import socket
import time
import traceback
from typing import Any

import gymnasium as gym
import numpy as np
from stable_baselines3.common.callbacks import EvalCallback
from stable_baselines3.common.monitor import Monitor, ResultsWriter
from stable_baselines3.common.vec_env import DummyVecEnv, VecEnv

from sb3_dreamer.grid.cells import CELL_FILE, Cell, algorithms, env_name

DONE_FILE, ERROR_FILE, ATTEMPTS_FILE = "done.json", "error.txt", "attempts.jsonl"
CHECKPOINTS, TENSORBOARD, EVALUATIONS = "checkpoints", "tensorboard", "evaluations.npz"
#: the evaluation environment is seeded ``EVAL_SEED_OFFSET + seed`` before each evaluation
EVAL_SEED_OFFSET = 10_000


class ResumableMonitor(Monitor):
    """SB3's :class:`~stable_baselines3.common.monitor.Monitor` that survives pickling into a checkpoint: the
    pickle holds the log file's name and length instead of the open file, and unpickling reopens the file,
    cut back to that length (dropping the episodes logged after the checkpoint, which the resumed run plays
    again) and appends from there.

    :param env: the environment
    :param filename: the log file (``<filename>.monitor.csv``), or None for no file
    :param append: append to an existing log file instead of starting a new one (a run resumed in new
        environments)
    """

    def __init__(self, env: gym.Env, filename: str | None = None, append: bool = False) -> None:
        existing = filename is not None and append and os.path.isfile(_monitor_path(filename))
        super().__init__(env, filename=None)
        if filename is not None:
            self.results_writer = ResultsWriter(
                filename,
                header={"t_start": self.t_start, "env_id": str(env.spec and env.spec.id)},
                override_existing=not existing,
            )

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        writer = state.pop("results_writer", None)
        if writer is not None:
            writer.file_handler.flush()
            state["_log"] = (writer.file_handler.name, writer.file_handler.tell(), writer.logger.fieldnames)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        log = state.pop("_log", None)
        self.__dict__.update(state)
        self.results_writer = None
        if log is not None:
            name, length, fieldnames = log
            file = open(name, "r+t" if os.path.isfile(name) else "wt", newline="\n")  # kept open: the Monitor writes on
            file.seek(min(length, file.seek(0, os.SEEK_END)))
            file.truncate()
            writer = ResultsWriter.__new__(ResultsWriter)
            writer.file_handler, writer.logger = file, csv.DictWriter(file, fieldnames=fieldnames)
            self.results_writer = writer


def _monitor_path(filename: str) -> str:
    return filename if filename.endswith(Monitor.EXT) else f"{filename}.{Monitor.EXT}"


class GridEvalCallback(EvalCallback):
    """SB3's :class:`~stable_baselines3.common.callbacks.EvalCallback` counting policy steps, not calls: it
    evaluates (deterministic actions) each time ``num_timesteps`` passes a multiple of ``every``, and at the
    end of training when the last evaluation is older than ``budget``. The evaluation environment is
    seeded with ``eval_seed`` before each evaluation, so that every evaluation plays the same episodes.
    A resumed run keeps the evaluations of ``evaluations.npz`` up to the step it resumes from.

    :param eval_env: the evaluation environment
    :param every: policy steps between evaluations
    :param budget: the run's budget in policy steps
    :param eval_seed: seed of the evaluation environment's first reset of each evaluation
    :param folder: where ``evaluations.npz`` and ``best_model.zip`` are written
    :param n_eval_episodes: episodes per evaluation
    """

    def __init__(self, eval_env: VecEnv, every: int, budget: int, eval_seed: int, folder: str, n_eval_episodes: int) -> None:
        super().__init__(
            eval_env,
            n_eval_episodes=n_eval_episodes,
            eval_freq=1,
            log_path=folder,
            best_model_save_path=folder,
            deterministic=True,
            verbose=0,
        )
        self.every, self.budget, self.eval_seed = every, budget, eval_seed
        self.last_bucket = 0

    def _init_callback(self) -> None:
        super()._init_callback()
        start = self.model.num_timesteps
        self.last_bucket = start // self.every
        path = f"{self.log_path}.npz"
        if os.path.isfile(path):  # a resumed run: the evaluations before its checkpoint stay
            with np.load(path) as data:
                keep = data["timesteps"] <= start
                self.evaluations_timesteps = [int(step) for step in data["timesteps"][keep]]
                self.evaluations_results = [list(map(float, row)) for row in data["results"][keep]]
                self.evaluations_length = [list(map(int, row)) for row in data["ep_lengths"][keep]]
            if self.evaluations_results:
                self.best_mean_reward = max(float(np.mean(row)) for row in self.evaluations_results)

    def _on_step(self) -> bool:
        bucket = self.num_timesteps // self.every
        if bucket <= self.last_bucket:
            return True
        self.last_bucket = bucket
        return self.evaluate()

    def _on_training_end(self) -> None:
        last = self.evaluations_timesteps[-1] if self.evaluations_timesteps else -1
        if last < min(self.budget, self.num_timesteps):
            self.evaluate()

    def evaluate(self) -> bool:
        """Evaluate now (``EvalCallback``'s evaluation: ``evaluations.npz``, best model, logger) and return
        whether training goes on."""
        self.eval_env.seed(self.eval_seed)
        return super()._on_step()  # eval_freq=1: it always evaluates

    @property
    def last_return(self) -> float:
        """Mean return of the latest evaluation (nan before the first)."""
        return float(np.mean(self.evaluations_results[-1])) if self.evaluations_results else float("nan")


def make_env(env_id: str, monitor_file: str | None = None, append: bool = False) -> VecEnv:
    """One environment in a ``DummyVecEnv``, wrapped in a :class:`ResumableMonitor`.

    :param env_id: Gymnasium id
    :param monitor_file: the Monitor's log file (``<monitor_file>.monitor.csv``), or None for none
    :param append: append to an existing log file
    """
    import sb3_dreamer  # noqa: F401  (registers sb3_dreamer's ids in a fresh worker)

    env = ResumableMonitor(gym.make(env_id), filename=monitor_file, append=append)
    return DummyVecEnv([lambda: env])


def make_eval_env(cls: type, env_id: str) -> VecEnv:
    """The evaluation environment, wrapped as the algorithm wraps its training env (channel-last images
    transposed), so that SB3's ``EvalCallback`` sees the same type.

    :param cls: the algorithm class
    :param env_id: Gymnasium id
    """
    return cls._wrap_env(make_env(env_id), monitor_wrapper=False)


def read_json(path: str) -> Any:
    """The JSON in a file, or None when the file does not exist."""
    if not os.path.isfile(path):
        return None
    with open(path) as file:
        return json.load(file)


def write_json(path: str, data: Any) -> None:
    """Write JSON atomically (a temporary file renamed into place)."""
    partial = f"{path}.partial"
    with open(partial, "w") as file:
        json.dump(data, file, indent=2)
    os.replace(partial, path)


def attempts(folder: str) -> list[dict[str, Any]]:
    """The starts of a cell, oldest first: ``pid``, ``host``, ``start_step`` (0: fresh; else the checkpoint's
    policy step it resumed from) and ``time``."""
    path = os.path.join(folder, ATTEMPTS_FILE)
    if not os.path.isfile(path):
        return []
    with open(path) as file:
        return [json.loads(line) for line in file if line.strip()]


def train_cell(
    cell: Cell, folder: str, threads: int = 1, device: str = "auto", keep_checkpoints: bool = False
) -> dict[str, Any]:
    """Train one cell in its folder and return its summary (what ``done.json`` holds). A finished cell
    (``done.json``) returns its summary at once; a cell with checkpoints resumes from the latest; otherwise it
    starts afresh. Its own failure (a bad environment id, a diverged run) is written to ``error.txt`` and
    raised again.

    :param cell: the cell
    :param folder: its folder
    :param threads: torch threads (the cell's CPU share)
    :param device: the model's device, unless the cell's arguments name one
    :param keep_checkpoints: keep ``checkpoints/`` after the cell finishes (its replay can be large)
    :raises ValueError: the folder holds another cell
    """
    import torch as th

    done = read_json(os.path.join(folder, DONE_FILE))
    if done is not None:
        return done
    os.environ["OMP_NUM_THREADS"] = str(threads)
    th.set_num_threads(max(1, threads))
    os.makedirs(folder, exist_ok=True)
    stored = read_json(os.path.join(folder, CELL_FILE))
    if stored is not None and stored != json.loads(json.dumps(cell.to_dict())):
        raise ValueError(f"{folder} holds another cell ({stored}); give this one another label or output folder.")
    write_json(os.path.join(folder, CELL_FILE), cell.to_dict())
    if os.path.exists(os.path.join(folder, ERROR_FILE)):
        os.remove(os.path.join(folder, ERROR_FILE))
    try:
        return _train(cell, folder, device, keep_checkpoints)
    except BaseException:
        with open(os.path.join(folder, ERROR_FILE), "w") as file:
            file.write(traceback.format_exc())
        raise


def _train(cell: Cell, folder: str, device: str, keep_checkpoints: bool) -> dict[str, Any]:
    from sb3_dreamer import RunCheckpointCallback
    from sb3_dreamer.common.checkpoints import STATE_FILE, checkpoints, load_checked_pkl

    cls = algorithms()[cell.algo]
    checkpoint_folder = os.path.join(folder, CHECKPOINTS)
    found = checkpoints(checkpoint_folder)
    start_step = int(os.path.basename(found[-1]).rsplit("_", 1)[1]) if found else 0
    seconds_before = _seconds_before(attempts(folder), found[-1]) if found else 0.0
    with open(os.path.join(folder, ATTEMPTS_FILE), "a") as file:
        entry = dict(
            pid=os.getpid(), host=socket.gethostname(), start_step=start_step, time=time.time(), seconds_before=seconds_before
        )
        file.write(json.dumps(entry) + "\n")
    monitor_file = os.path.join(folder, "0")
    eval_env = make_eval_env(cls, cell.env)
    evaluation = GridEvalCallback(
        eval_env,
        every=cell.eval_freq,
        budget=cell.steps,
        eval_seed=EVAL_SEED_OFFSET + cell.seed,
        folder=folder,
        n_eval_episodes=cell.n_eval_episodes,
    )
    if found:
        pickled_env = load_checked_pkl(os.path.join(found[-1], STATE_FILE))["env"] is not None
        env = None if pickled_env else make_env(cell.env, monitor_file, append=True)
        model = cls.resume(checkpoint_folder, env=env, device=device, callback=evaluation)
        if (
            getattr(evaluation, "model", None) is None
        ):  # the budget was spent before the interruption: only the last evaluation
            model.learn(0, callback=evaluation, reset_num_timesteps=False, tb_log_name=cls.__name__)
    else:
        kwargs = {"device": device, **cell.model_kwargs()}
        env = make_env(cell.env, monitor_file)
        model = cls(cell.policy, env, seed=cell.seed, tensorboard_log=os.path.join(folder, TENSORBOARD), **kwargs)
        saving = RunCheckpointCallback(save_freq=cell.save_every, save_path=checkpoint_folder)
        model.learn(cell.steps, callback=[saving, evaluation], tb_log_name=cls.__name__)
    model.save(os.path.join(folder, f"{env_name(cell.env)}.zip"))
    runs = attempts(folder)
    summary = dict(
        cell.to_dict(),
        status="done",
        folder=folder,
        num_timesteps=int(model.num_timesteps),
        final_return=evaluation.last_return,
        best_return=float(evaluation.best_mean_reward),
        minutes=(seconds_before + time.time() - entry["time"]) / 60,
        wall_minutes=(time.time() - runs[0]["time"]) / 60,
        attempts=runs,
    )
    env_ = model.get_env()
    if env_ is not None:
        env_.close()
    eval_env.close()
    write_json(os.path.join(folder, DONE_FILE), summary)
    if not keep_checkpoints:
        import shutil

        shutil.rmtree(checkpoint_folder, ignore_errors=True)
    return summary


def _seconds_before(runs: list[dict[str, Any]], checkpoint: str) -> float:
    """Training seconds up to a checkpoint: those of the attempt that wrote it, from its start to the checkpoint's
    last file, plus the seconds that attempt had resumed with. Time spent after the checkpoint by an interrupted
    attempt, and between attempts, does not count (nan if the writer's own count is unknown)."""
    saved_at = max(os.path.getmtime(os.path.join(checkpoint, name)) for name in os.listdir(checkpoint))
    writers = [run for run in runs if run["time"] <= saved_at]
    if not writers:
        return math.nan
    writer = writers[-1]
    before = writer.get("seconds_before", 0.0 if writer["start_step"] == 0 else math.nan)
    return float(before) + saved_at - writer["time"]
