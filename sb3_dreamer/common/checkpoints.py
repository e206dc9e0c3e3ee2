"""Checkpoints a run resumes from exactly: the model ``.zip``, its replay, and the rest of what ``learn()`` needs.

A run folder holds ``checkpoint_<num_timesteps>/`` folders, each with ``model.zip`` (parameters, optimizer
states, counters), ``replay_buffer.pkl`` and ``run_state.pkl``: the random generators' states, the
training environments (pickled, when they can be), the belief the agent collects with, the step budget of
the ``learn()`` call and the checkpoint settings. Each one is written into a hidden ``.partial`` folder
and renamed into place when complete, so a crash mid-write never damages the latest complete checkpoint.
"""

from __future__ import annotations

import hashlib
import inspect
import io
import os
import pathlib
import pickle
import random
import shutil
import warnings
from typing import Any, TypeVar

import cloudpickle
import numpy as np
import torch as th
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.off_policy_algorithm import OffPolicyAlgorithm
from stable_baselines3.common.save_util import open_path
from stable_baselines3.common.vec_env import VecEnv, VecEnvWrapper

from sb3_dreamer.common.checks import CheckpointError
from sb3_dreamer.common.rssm import LatentState

#: a model of the Dreamer family: an SB3 off-policy algorithm whose ``_collect_state`` is the collection belief
#: ``(LatentState, previous action)`` or None (shared parts never import an algorithm)
Model = TypeVar("Model", bound=OffPolicyAlgorithm)

PREFIX = "checkpoint_"
MODEL_FILE, REPLAY_FILE, STATE_FILE = "model.zip", "replay_buffer.pkl", "run_state.pkl"
#: trailer after the pickle stream of a checked pickle: this marker, then the stream's SHA-256
CHECKSUM_MARKER = b"sb3_dreamer/sha256:"


class _HashingWriter:
    """File-like object that forwards writes and hashes them on the way."""

    def __init__(self, file: Any) -> None:
        self.file, self.digest = file, hashlib.sha256()

    def write(self, data: bytes) -> int:
        self.digest.update(data)
        return self.file.write(data)


def save_checked_pkl(path: str | pathlib.Path | io.BufferedIOBase, obj: Any) -> None:
    """Pickle ``obj`` like SB3's ``save_to_pkl``, followed by the stream's SHA-256, so that a truncated or
    damaged file is detected at load instead of unpickling into wrong data."""
    file = open_path(path, "w", suffix="pkl")
    writer = _HashingWriter(file)
    pickle.dump(obj, writer, protocol=pickle.HIGHEST_PROTOCOL)
    file.write(CHECKSUM_MARKER + writer.digest.digest())
    if isinstance(path, (str, pathlib.Path)):
        file.close()


def load_checked_pkl(path: str | pathlib.Path | io.BufferedIOBase) -> Any:
    """Load a pickle written by :func:`save_checked_pkl`, checking its SHA-256 first (a plain pickle, as
    SB3 writes it, loads unchecked).

    :raises CheckpointError: the checksum does not match, or the file cannot be unpickled
    """
    file = open_path(path, "r", suffix="pkl")
    try:
        start = file.tell()
        end = file.seek(0, io.SEEK_END)
        trailer = len(CHECKSUM_MARKER) + hashlib.sha256().digest_size
        if end - start >= trailer:
            file.seek(end - trailer)
            tail = file.read(trailer)
            if tail.startswith(CHECKSUM_MARKER):
                file.seek(start)
                digest, remaining = hashlib.sha256(), end - start - trailer
                while remaining > 0:
                    chunk = file.read(min(remaining, 1 << 24))
                    digest.update(chunk)
                    remaining -= len(chunk)
                if digest.digest() != tail[len(CHECKSUM_MARKER) :]:
                    raise CheckpointError(f"{path} is damaged: its checksum does not match its content.")
        file.seek(start)
        return pickle.load(file)
    except CheckpointError:
        raise
    except Exception as error:
        raise CheckpointError(
            f"Cannot unpickle {path} ({type(error).__name__}: {error}): it is truncated or corrupt."
        ) from error
    finally:
        if isinstance(path, (str, pathlib.Path)):
            file.close()


class RunCheckpointCallback(BaseCallback):
    """Save everything a run needs to continue, every ``save_freq`` policy steps and when ``learn()`` ends;
    keep the latest ``keep_last`` checkpoints. Resume with ``Dreamer.resume(save_path)``.

    Checkpoints are taken between collection rounds, after the gradient updates of the round before, so a
    resumed run takes exactly the steps and updates the uninterrupted run would have taken.

    :param save_freq: policy steps (``num_timesteps``) between checkpoints
    :param save_path: the run folder
    :param keep_last: how many complete checkpoints to keep; older ones are deleted once a newer one is complete
    :param save_replay_buffer: include the replay buffer (without it a resumed run starts from an empty replay)
    :param verbose: 1 to print each checkpoint's path
    """

    def __init__(
        self, save_freq: int, save_path: str, keep_last: int = 2, save_replay_buffer: bool = True, verbose: int = 0
    ) -> None:
        super().__init__(verbose)
        if save_freq < 1 or keep_last < 1:
            raise ValueError(f"save_freq and keep_last must be positive, got {save_freq} and {keep_last}.")
        self.save_freq, self.save_path = save_freq, save_path
        self.keep_last, self.save_replay_buffer = keep_last, save_replay_buffer
        self.learn_args: dict[str, Any] = {}
        self.last_saved = 0

    def _init_callback(self) -> None:
        os.makedirs(self.save_path, exist_ok=True)
        self.last_saved = self.num_timesteps

    def _on_training_start(self) -> None:
        keys = ("total_timesteps", "log_interval", "tb_log_name", "progress_bar")
        self.learn_args = {key: self.locals[key] for key in keys if key in self.locals}

    def _on_rollout_start(self) -> None:
        if self.num_timesteps - self.last_saved >= self.save_freq:
            self.save()

    def _on_step(self) -> bool:
        return True

    def _on_training_end(self) -> None:
        if self.num_timesteps != self.last_saved:
            self.save()

    def save(self) -> str:
        """Write a checkpoint of the current state now, prune old ones, and return its folder."""
        settings = dict(save_freq=self.save_freq, keep_last=self.keep_last, save_replay_buffer=self.save_replay_buffer)
        folder = save_checkpoint(self.model, self.save_path, self.learn_args, settings)  # type: ignore[arg-type]
        self.last_saved = self.num_timesteps
        for old in checkpoints(self.save_path)[: -self.keep_last]:
            shutil.rmtree(old, ignore_errors=True)
        if self.verbose >= 1:
            print(f"Saved checkpoint {folder}")
        return folder


def checkpoints(run_folder: str) -> list[str]:
    """The complete checkpoint folders of a run, oldest first (unfinished ``.partial`` ones are not listed)."""
    if not os.path.isdir(run_folder):
        return []
    names = sorted(name for name in os.listdir(run_folder) if name.startswith(PREFIX))
    return [os.path.join(run_folder, name) for name in names if os.path.isfile(os.path.join(run_folder, name, STATE_FILE))]


def latest_checkpoint(path: str) -> str:
    """The checkpoint folder to resume from: ``path`` itself if it is one, else the run folder's latest."""
    if os.path.isfile(os.path.join(path, STATE_FILE)):
        return path
    found = checkpoints(path)
    if not found:
        raise CheckpointError(f"No complete checkpoint in {path!r} (expected {PREFIX}<steps>/ folders with {STATE_FILE}).")
    return found[-1]


def save_checkpoint(model: OffPolicyAlgorithm, run_folder: str, learn_args: dict[str, Any], settings: dict[str, Any]) -> str:
    """Write ``checkpoint_<num_timesteps>/`` atomically: into a ``.partial`` folder, then renamed into place."""
    name = f"{PREFIX}{model.num_timesteps:012d}"
    final, partial = os.path.join(run_folder, name), os.path.join(run_folder, f".{name}.partial")
    shutil.rmtree(partial, ignore_errors=True)
    os.makedirs(partial)
    model.save(os.path.join(partial, MODEL_FILE))
    if settings["save_replay_buffer"]:
        model.save_replay_buffer(os.path.join(partial, REPLAY_FILE))
    save_checked_pkl(os.path.join(partial, STATE_FILE), run_state(model, learn_args, settings))
    for file in os.listdir(partial):
        _fsync(os.path.join(partial, file))
    if os.path.exists(final):
        shutil.rmtree(final)
    os.replace(partial, final)
    _fsync(run_folder)
    return final


def _fsync(path: str) -> None:
    """Flush a file or folder to disk, so that a rename never points at unwritten data after a power loss."""
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def dump_envs(env: VecEnv) -> bytes:
    """Pickle a VecEnv with its wrappers, each wrapper as its attributes without the VecEnv it wraps.

    SB3's wrappers do not pickle whole: every ``VecEnvWrapper`` keeps ``class_attributes`` (its class's members,
    ABC internals among them, which no pickler takes), so image envs in ``VecTransposeImage`` could not be pickled,
    and ``VecNormalize`` pickles without its ``venv`` and its running ``returns``. :func:`load_envs` rebuilds the chain.

    :param env: the training environments, as ``model.get_env()`` returns them
    :return: the pickle (cloudpickle) of the innermost VecEnv and each wrapper's class and attributes
    """
    layers = []
    while isinstance(env, VecEnvWrapper):
        layers.append((type(env), {k: v for k, v in vars(env).items() if k not in ("venv", "class_attributes")}))
        env = env.venv
    return cloudpickle.dumps((env, layers))


def load_envs(data: bytes) -> VecEnv:
    """The VecEnv chain :func:`dump_envs` pickled (or a VecEnv pickled whole, as checkpoints before it held).

    :param data: what :func:`dump_envs` returned
    :return: the environments, each wrapper around the one it wrapped
    """
    env = cloudpickle.loads(data)
    if isinstance(env, VecEnv):
        return env
    env, layers = env
    for cls, attributes in reversed(layers):
        wrapper = cls.__new__(cls)  # no __init__ or __setstate__: the attributes are restored as they were
        wrapper.__dict__.update(attributes, venv=env, class_attributes=dict(inspect.getmembers(cls)))
        env = wrapper
    return env


def run_state(model: OffPolicyAlgorithm, learn_args: dict[str, Any], settings: dict[str, Any]) -> dict[str, Any]:
    """What the ``.zip`` and the replay do not hold: random generators, environments, collection belief, budget."""
    try:
        env = dump_envs(model.get_env())
    except Exception as error:  # envs with open handles (renderers, subprocesses) cannot be pickled
        warnings.warn(
            f"The training environments cannot be pickled ({error}); a resumed run starts new episodes.", stacklevel=2
        )
        env = None
    belief = None
    if model._collect_state is not None:
        latent, action = model._collect_state
        belief = (latent.deter.cpu(), latent.stoch.cpu(), action.cpu())
    return dict(
        algorithm=type(model).__name__,
        learn=learn_args,
        checkpoint=settings,
        env=env,
        collect_state=belief,
        rng=dict(
            python=random.getstate(),
            numpy=np.random.get_state(),
            torch=th.get_rng_state(),
            cuda=th.cuda.get_rng_state_all() if th.cuda.is_available() else None,
            action_space=model.action_space.np_random.bit_generator.state,
        ),
    )


def load_checkpoint(cls: type[Model], path: str, env: Any = None, device: th.device | str = "auto") -> Model:
    """Rebuild a model from a checkpoint (or a run folder's latest), ready to continue ``learn()``.

    Without ``env`` the pickled training environments continue their episodes where they stood, and the
    random generators and the collection belief are restored: the continuation is the uninterrupted run's.
    With ``env`` (or when the environments could not be pickled) the environments start new episodes.
    """
    folder = latest_checkpoint(path)
    state = load_checked_pkl(os.path.join(folder, STATE_FILE))
    if state.get("algorithm") != cls.__name__:
        raise CheckpointError(
            f"{folder} is a {state.get('algorithm')} checkpoint; resume it with that class, not {cls.__name__}."
        )
    continuing = env is None and state["env"] is not None
    if continuing:
        env = load_envs(state["env"])
    elif env is None:
        raise CheckpointError(f"{folder} holds no pickled environment (it could not be pickled): pass env=.")
    model = cls.load(os.path.join(folder, MODEL_FILE), env=env, device=device, force_reset=not continuing)
    if os.path.exists(os.path.join(folder, REPLAY_FILE)):
        model.load_replay_buffer(os.path.join(folder, REPLAY_FILE))
    if continuing:
        if state["collect_state"] is not None:
            deter, stoch, action = (tensor.to(model.device) for tensor in state["collect_state"])
            model._collect_state = (LatentState(deter, stoch), action)
        rng = state["rng"]
        random.setstate(rng["python"])
        np.random.set_state(rng["numpy"])
        th.set_rng_state(rng["torch"])
        if rng["cuda"] is not None and th.cuda.is_available():
            th.cuda.set_rng_state_all(rng["cuda"])
        model.action_space.np_random.bit_generator.state = rng["action_space"]
    model._checkpoint = dict(folder=os.path.dirname(folder), learn=state["learn"], settings=state["checkpoint"])
    return model
