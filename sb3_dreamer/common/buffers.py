"""Episode-aware sequence replay for world-model learning."""

from __future__ import annotations

import os
import uuid
from typing import Any, NamedTuple

import numpy as np
import torch as th
from gymnasium import spaces
from stable_baselines3.common.buffers import BaseBuffer, ReplayBuffer
from stable_baselines3.common.preprocessing import get_obs_shape
from stable_baselines3.common.vec_env import VecNormalize

from sb3_dreamer.common.memory import lazy_zeros

#: key under which a non-Dict observation is handled inside the world model
OBS_KEY = "observation"


class SequenceSamples(NamedTuple):
    """A batch of replayed sequences, batch first: ``(B, L, ...)``.

    Row ``t`` holds the observation ``o_t``, the action ``a_{t-1}`` that led to it (zero at an episode's
    first step) and the reward received on arriving at ``o_t``.
    """

    observations: dict[str, th.Tensor]
    actions: th.Tensor
    rewards: th.Tensor
    is_first: th.Tensor
    is_terminal: th.Tensor


def action_dim(action_space: spaces.Space) -> int:
    """Size of the action as the world model sees it: one-hot for Discrete, one one-hot per dimension
    concatenated for MultiDiscrete, flat for Box and MultiBinary."""
    if isinstance(action_space, spaces.Discrete):
        return int(action_space.n)
    if isinstance(action_space, spaces.MultiDiscrete):
        return int(action_space.nvec.sum())
    return int(np.prod(action_space.shape))


class SequenceReplayBuffer(ReplayBuffer):
    """Replay of whole episodes in one stream per environment, sampled as fixed-length sequences.

    Each observation is stored once: an episode of ``T`` transitions takes ``T + 1`` rows (its first
    observation, then one row per step holding the next observation). Images keep their dtype (uint8).
    There is no ``next_observations`` array, so SB3's ``optimize_memory_usage`` has nothing to add.

    A sampled sequence is ``L`` consecutive rows of one stream, never across the write head. It may
    cross an episode boundary: the row that starts the new episode has ``is_first`` set and the RSSM
    resets its state there; the first row of every sample is marked ``is_first`` too, since filtering
    starts from the zero state. ``dones`` holds terminations (the zero continue target); time-limit
    truncations are kept apart in ``timeouts`` and only start a new episode.

    :param buffer_size: capacity in rows (observations), shared evenly by the environments
    :param observation_space: observation space
    :param action_space: action space (Box, Discrete, MultiDiscrete or MultiBinary)
    :param device: device of the sampled tensors
    :param n_envs: number of parallel environments, one stream each
    :param optimize_memory_usage: must be False: observations are already stored once
    :param handle_timeout_termination: treat ``TimeLimit.truncated`` as truncation, not termination
    :param storage_dir: keep the observations in memory-mapped ``.npy`` files in this folder instead of RAM,
        for capacities beyond memory (the operating system pages them in and out). Pickling the buffer
        (``save_replay_buffer``, checkpoints) then stores the counters and a reference to these files, which
        must stay in place.
    """

    observations: np.ndarray | dict[str, np.ndarray]  # type: ignore[assignment]

    def __init__(
        self,
        buffer_size: int,
        observation_space: spaces.Space,
        action_space: spaces.Space,
        device: th.device | str = "auto",
        n_envs: int = 1,
        optimize_memory_usage: bool = False,
        handle_timeout_termination: bool = True,
        storage_dir: str | None = None,
    ) -> None:
        if optimize_memory_usage:
            raise ValueError("SequenceReplayBuffer stores each observation once already; leave optimize_memory_usage=False.")
        # ReplayBuffer.__init__ would allocate next_observations, which this layout does not need; BaseBuffer is
        # given the flat vector the world model sees (SB3's action size refuses a multi-dimensional MultiBinary).
        flat_actions = spaces.Box(-1.0, 1.0, (action_dim(action_space),), np.float32)
        BaseBuffer.__init__(self, buffer_size, observation_space, flat_actions, device, n_envs=n_envs)
        self.action_space = action_space
        self.buffer_size = max(buffer_size // n_envs, 1)  # rows per environment: the capacity is shared, as in SB3
        self.optimize_memory_usage = False
        self.handle_timeout_termination = handle_timeout_termination
        self.action_dim = action_dim(action_space)
        self.obs_shape = get_obs_shape(observation_space)  # type: ignore[assignment]
        size = (self.buffer_size, n_envs)
        self.storage_dir = storage_dir
        if storage_dir is not None:
            os.makedirs(storage_dir, exist_ok=True)
            self._storage_id = uuid.uuid4().hex[:12]  # each buffer its own files: a new model never overwrites a saved one's
        if isinstance(observation_space, spaces.Dict):
            self.observations = {
                key: self._allocate(f"observations_{key}", size + shape, observation_space[key].dtype)
                for key, shape in self.obs_shape.items()  # type: ignore[union-attr]
            }
        else:
            self.observations = self._allocate("observations", size + self.obs_shape, observation_space.dtype)
        self.actions = np.zeros((*size, self.action_dim), dtype=np.float32)
        self.rewards = np.zeros(size, dtype=np.float32)
        self.dones = np.zeros(size, dtype=np.float32)
        self.timeouts = np.zeros(size, dtype=np.float32)
        self.is_first = np.zeros(size, dtype=bool)
        self.env_pos = np.zeros(n_envs, dtype=np.int64)
        self.env_full = np.zeros(n_envs, dtype=bool)
        self._next_is_first = np.ones(n_envs, dtype=bool)

    def _allocate(self, name: str, shape: tuple[int, ...], dtype: Any) -> np.ndarray:
        """A zeroed array: in RAM (``lazy_zeros``: untouched pages are mapped lazily, so memory grows as the buffer
        fills), or a memory-mapped ``<storage_dir>/<name>.npy``."""
        if self.storage_dir is None:
            return lazy_zeros(shape, dtype)
        return np.lib.format.open_memmap(self._storage_path(name), mode="w+", dtype=dtype, shape=shape)

    def _storage_path(self, name: str) -> str:
        return os.path.join(self.storage_dir, f"{name}-{self._storage_id}.npy")  # type: ignore[arg-type]

    def release(self) -> None:
        """Delete the memory-mapped files of a buffer that is no longer used (nothing to do for a RAM buffer)."""
        if self.storage_dir is None:
            return
        names = [f"observations_{key}" for key in self.obs_shape] if isinstance(self.observations, dict) else ["observations"]  # type: ignore[union-attr]
        self.observations = {} if isinstance(self.observations, dict) else np.zeros((0,))
        for name in names:
            if os.path.exists(self._storage_path(name)):
                os.remove(self._storage_path(name))

    #: the arrays with one entry per row (and environment); observations are handled apart
    _ROW_ARRAYS: tuple[str, ...] = ("actions", "rewards", "dones", "timeouts", "is_first")

    def _stored_rows(self) -> int:
        """Rows ``0 .. n - 1`` hold every stream's data: the capacity once a stream has wrapped around."""
        return self.buffer_size if self.env_full.any() else int(self.env_pos.max())

    def __getstate__(self) -> dict[str, Any]:
        """Pickle state holding only the rows written so far (a checkpoint of 30k 64 x 64 frames is 0.4 GB, not the
        12 GB of a 1M-row capacity); memory-mapped observations are flushed and stored as references to their files."""
        state = self.__dict__.copy()
        rows = self._stored_rows()
        for name in self._ROW_ARRAYS:
            state[name] = getattr(self, name)[:rows]
        if self.storage_dir is not None:
            observations = self.observations if isinstance(self.observations, dict) else {OBS_KEY: self.observations}
            for array in observations.values():
                array.flush()  # type: ignore[union-attr]
            state["observations"] = None
        elif isinstance(self.observations, dict):
            state["observations"] = {key: value[:rows] for key, value in self.observations.items()}
        else:
            state["observations"] = self.observations[:rows]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        """Restore a pickled buffer at its full capacity: the stored rows copied into zeroed arrays (whose untouched
        pages the operating system maps only as they fill, as at construction)."""
        self.__dict__.update(state)
        for name in self._ROW_ARRAYS:
            setattr(self, name, _full_capacity(getattr(self, name), self.buffer_size))
        if self.storage_dir is None:
            if isinstance(self.observations, dict):
                self.observations = {key: _full_capacity(value, self.buffer_size) for key, value in self.observations.items()}
            else:
                self.observations = _full_capacity(self.observations, self.buffer_size)
        elif isinstance(self.observation_space, spaces.Dict):
            self.observations = {key: self._reopen(f"observations_{key}") for key in self.obs_shape}  # type: ignore[union-attr]
        else:
            self.observations = self._reopen("observations")

    def _reopen(self, name: str) -> np.ndarray:
        path = self._storage_path(name)
        if not os.path.exists(path):
            raise FileNotFoundError(f"The memory-mapped replay file {path} is missing; it must stay where it was written.")
        return np.lib.format.open_memmap(path, mode="r+")

    @property
    def nbytes(self) -> int:
        """Bytes of the buffer's arrays at full capacity (its bound: allocated up front, filled lazily)."""
        arrays = [getattr(self, name) for name in self._ROW_ARRAYS]
        obs = self.observations.values() if isinstance(self.observations, dict) else [self.observations]
        return sum(a.nbytes for a in [*arrays, *obs])

    @property
    def stored_nbytes(self) -> int:
        """Bytes of the rows stored so far: what the buffer holds in memory, and about what a checkpoint writes."""
        return self.nbytes * self.size() // (self.buffer_size * self.n_envs)

    def stream_sizes(self) -> np.ndarray:
        """Rows stored in each environment's stream."""
        return np.where(self.env_full, self.buffer_size, self.env_pos)

    def size(self) -> int:
        """Rows stored over all streams."""
        return int(self.stream_sizes().sum())

    def reset(self) -> None:
        super().reset()
        self.env_pos[:] = 0
        self.env_full[:] = False
        self._next_is_first[:] = True

    def mark_episode_starts(self) -> None:
        """Start a new episode in every stream: the algorithm calls it after it resets the environments."""
        self._next_is_first[:] = True

    def _write(
        self, env: int, obs: Any, action: np.ndarray, reward: float, first: bool, terminal: bool, timeout: bool
    ) -> None:
        i = self.env_pos[env]
        if isinstance(self.observations, dict):
            for key in self.observations:
                self.observations[key][i, env] = np.asarray(obs[key]).reshape(self.obs_shape[key])  # type: ignore[index]
        else:
            self.observations[i, env] = np.asarray(obs).reshape(self.obs_shape)
        self.actions[i, env] = action
        self.rewards[i, env] = reward
        self.is_first[i, env] = first
        self.dones[i, env] = terminal
        self.timeouts[i, env] = timeout
        self.env_pos[env] = (i + 1) % self.buffer_size
        self.env_full[env] |= self.env_pos[env] == 0
        self.pos, self.full = int(self.env_pos[0]), bool(self.env_full[0])

    def add(  # type: ignore[override]
        self,
        obs: np.ndarray | dict[str, np.ndarray],
        next_obs: np.ndarray | dict[str, np.ndarray],
        action: np.ndarray,
        reward: np.ndarray,
        done: np.ndarray,
        infos: list[dict[str, Any]],
    ) -> None:
        """Store one vectorised step; ``action`` is in the model's space (scaled Box or one-hot)."""
        action = np.asarray(action, dtype=np.float32).reshape(self.n_envs, self.action_dim)
        for env in range(self.n_envs):
            env_obs = {k: v[env] for k, v in obs.items()} if isinstance(obs, dict) else obs[env]
            env_next = {k: v[env] for k, v in next_obs.items()} if isinstance(next_obs, dict) else next_obs[env]
            timeout = bool(self.handle_timeout_termination and infos[env].get("TimeLimit.truncated", False))
            if self._next_is_first[env]:
                self._write(env, env_obs, np.zeros(self.action_dim, np.float32), 0.0, True, False, False)
            self._write(env, env_next, action[env], float(reward[env]), False, bool(done[env]) and not timeout, timeout)
            self._next_is_first[env] = bool(done[env])

    def sample(  # type: ignore[override]
        self, batch_size: int, env: VecNormalize | None = None, sequence_length: int = 50
    ) -> SequenceSamples:
        """Sample ``batch_size`` sequences of ``sequence_length`` rows (fewer while the buffer holds fewer).

        Streams are chosen uniformly, start rows uniformly among those whose whole window is stored.
        """
        sizes = self.stream_sizes()
        if sizes.max() == 0:
            raise RuntimeError("Cannot sample from an empty replay buffer.")
        candidates = np.flatnonzero(sizes > 0)
        length = int(min(sequence_length, sizes[candidates].min()))
        envs = candidates[np.random.randint(0, len(candidates), size=batch_size)]
        starts = np.random.randint(0, sizes[envs] - length + 1)
        oldest = np.where(self.env_full[envs], self.env_pos[envs], 0)
        rows = (oldest[:, None] + starts[:, None] + np.arange(length)) % self.buffer_size
        cols = envs[:, None]
        if isinstance(self.observations, dict):
            obs = {key: value[rows, cols] for key, value in self.observations.items()}
        else:
            obs = self.observations[rows, cols]
        obs = self._normalize_obs(obs, env)  # type: ignore[arg-type]
        obs_dict = obs if isinstance(obs, dict) else {OBS_KEY: obs}
        is_first = self.is_first[rows, cols]
        is_first[:, 0] = True
        return SequenceSamples(
            observations={key: th.as_tensor(value, device=self.device) for key, value in obs_dict.items()},
            actions=self.to_torch(self.actions[rows, cols]),
            rewards=self.to_torch(self._normalize_reward(self.rewards[rows, cols], env)),
            is_first=th.as_tensor(is_first, device=self.device),
            is_terminal=th.as_tensor(self.dones[rows, cols] > 0, device=self.device),
        )


def _full_capacity(rows: np.ndarray, capacity: int) -> np.ndarray:
    """``rows`` (the first ``n`` rows of a buffer array) at the front of a zeroed array of ``capacity`` rows."""
    if len(rows) == capacity:
        return rows
    array = lazy_zeros((capacity, *rows.shape[1:]), rows.dtype)
    array[: len(rows)] = rows
    return array
