"""Early, clear errors: what the world model can encode and act in, and what ``predict`` accepts.

Every refusal raises one of the exceptions below, so that bad input ends in a message from this package
that says what to do, never in a shape error deep inside torch or in a silently wrong action.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium import spaces
from stable_baselines3.common.preprocessing import is_image_space

from sb3_dreamer.common.buffers import OBS_KEY, SequenceReplayBuffer


class DreamerError(Exception):
    """Base class of the errors raised by sb3_dreamer on bad input."""


class UnsupportedSpaceError(DreamerError, ValueError):
    """An observation or action space the algorithms cannot learn from or act in."""


class NotAnImageError(UnsupportedSpaceError, AssertionError):
    """``CnnPolicy`` on observations that are not images (an AssertionError too, as SB3's NatureCNN raises)."""


class ObservationError(DreamerError, ValueError):
    """An observation given to ``predict`` that does not belong to the observation space."""


class CheckpointError(DreamerError, ValueError):
    """A ``.zip``, replay file or checkpoint folder that is unreadable or does not match the model."""


class NonFiniteLossError(DreamerError, FloatingPointError):
    """A loss became NaN or infinite during training."""


def _check_box(space: spaces.Box, what: str) -> None:
    if space.shape is None or len(space.shape) == 0 or int(np.prod(space.shape)) == 0:
        raise UnsupportedSpaceError(f"{what} must have at least one element and one dimension, got {space}.")
    if not (np.issubdtype(space.dtype, np.floating) or np.issubdtype(space.dtype, np.integer) or space.dtype == bool):
        raise UnsupportedSpaceError(f"{what} must have a numeric dtype, got {space.dtype}.")


def check_observation_space(observation_space: spaces.Space) -> None:
    """Raise :class:`UnsupportedSpaceError` naming any part of the observation space the world model cannot
    encode: Box (one or more dimensions), Discrete and MultiDiscrete (starting at 0), MultiBinary, or a
    flat, non-empty Dict of them."""
    if isinstance(observation_space, spaces.Dict):
        if len(observation_space.spaces) == 0:
            raise UnsupportedSpaceError("The observation Dict is empty: there is nothing to learn from.")
        subspaces = dict(observation_space.spaces)
    else:
        subspaces = {OBS_KEY: observation_space}
    supported = "Box, Discrete, MultiDiscrete, MultiBinary, and flat Dicts of them"
    for key, space in subspaces.items():
        what = f"Observation {key!r} ({space})"
        if isinstance(space, spaces.Box):
            _check_box(space, what)
        elif isinstance(space, (spaces.Discrete, spaces.MultiDiscrete)):
            if np.any(space.start != 0):
                raise UnsupportedSpaceError(f"{what} must start at 0; shift it with a gymnasium ObservationWrapper.")
            if isinstance(space, spaces.MultiDiscrete) and (space.nvec.ndim != 1 or space.nvec.size == 0):
                raise UnsupportedSpaceError(f"{what} must be a non-empty 1-D MultiDiscrete; flatten it first.")
        elif isinstance(space, spaces.MultiBinary):
            if int(np.prod(space.shape)) == 0:
                raise UnsupportedSpaceError(f"{what} is empty.")
        else:
            raise UnsupportedSpaceError(f"Dreamer cannot encode {what}; supported: {supported}.")


def check_action_space(action_space: spaces.Space) -> None:
    """Raise :class:`UnsupportedSpaceError` unless the actions are a float Box with finite bounds
    ``low < high`` (scaled to [-1, 1] by the actor's tanh), a Discrete with at least two actions, a non-empty
    MultiDiscrete with at least one choice in every dimension and two in some, or a non-empty MultiBinary."""
    what = f"The action space {action_space}"
    if isinstance(action_space, spaces.Box):
        _check_box(action_space, what)
        if not np.issubdtype(action_space.dtype, np.floating):
            raise UnsupportedSpaceError(f"{what} must have a float dtype; use Discrete or MultiDiscrete for integer actions.")
        if not (np.all(np.isfinite(action_space.low)) and np.all(np.isfinite(action_space.high))):
            raise UnsupportedSpaceError(f"{what} needs finite bounds: wrap the env with gymnasium's RescaleAction.")
        if not np.all(action_space.low < action_space.high):
            raise UnsupportedSpaceError(f"{what} needs low < high in every dimension.")
    elif isinstance(action_space, spaces.Discrete):
        if action_space.n < 2:
            raise UnsupportedSpaceError(f"{what} leaves nothing to choose.")
    elif isinstance(action_space, spaces.MultiDiscrete):
        if action_space.nvec.size == 0 or np.any(action_space.nvec < 1) or np.all(action_space.nvec < 2):
            raise UnsupportedSpaceError(f"{what} needs at least one choice in every dimension, and two in some.")
    elif isinstance(action_space, spaces.MultiBinary):
        if int(np.prod(action_space.shape)) == 0:
            raise UnsupportedSpaceError(f"{what} has no dimension to choose.")
    else:
        raise UnsupportedSpaceError(
            f"Dreamer supports Box, Discrete, MultiDiscrete and MultiBinary action spaces, not {action_space}; "
            "flatten Tuple or Dict actions into one of them with a gymnasium ActionWrapper."
        )


def check_observation(observation: Any, observation_space: spaces.Space) -> None:
    """Raise :class:`ObservationError` unless ``observation`` (one observation, or a batch of them) belongs to
    ``observation_space``: the right keys, shape, a real-valued dtype, finite values, and for discrete and
    image (uint8) parts, whole numbers within the space's range."""
    if isinstance(observation_space, spaces.Dict):
        if not isinstance(observation, dict):
            raise ObservationError(
                f"Expected a dict observation with keys {sorted(observation_space)}, got {type(observation).__name__}."
            )
        if set(observation) != set(observation_space.spaces):
            raise ObservationError(f"Expected observation keys {sorted(observation_space)}, got {sorted(observation)}.")
        parts = {key: (observation[key], observation_space[key]) for key in observation_space.spaces}
    else:
        if isinstance(observation, dict):
            raise ObservationError(f"Expected an array observation of space {observation_space}, got a dict.")
        parts = {OBS_KEY: (observation, observation_space)}
    batch = None
    for key, (value, space) in parts.items():
        try:
            array = np.asarray(value)
        except (ValueError, TypeError) as error:
            raise ObservationError(f"Observation {key!r} is not an array: {error}") from None
        if array.dtype.kind not in "biuf":
            raise ObservationError(f"Observation {key!r} must hold numbers, got dtype {array.dtype}.")
        shapes = _element_shapes(space)
        if array.shape in shapes:
            rows = 1
        elif array.ndim >= 1 and array.shape[1:] in shapes:
            rows = array.shape[0]
        else:
            raise ObservationError(
                f"Observation {key!r} has shape {array.shape}; expected one of {shapes}, "
                f"or a batch of them (n_envs first), for {space}."
            )
        if batch is not None and rows != batch:
            raise ObservationError(f"Observation parts disagree on the batch size: {batch} and {rows} ({key!r}).")
        batch = rows
        if array.dtype.kind == "f" and not np.all(np.isfinite(array)):
            raise ObservationError(f"Observation {key!r} holds NaN or infinite values.")
        bounds = _whole_number_bounds(space)
        if bounds is not None and (np.any(array != np.round(array)) or np.any(array < bounds[0]) or np.any(array > bounds[1])):
            raise ObservationError(f"Observation {key!r} must hold whole numbers within the bounds of {space}.")


def _element_shapes(space: spaces.Space) -> list[tuple[int, ...]]:
    """Shapes one observation of a (sub)space may have: as the VecEnv delivers it and, for images, with the
    channels moved (SB3's ``predict`` transposes channel-last images for a channel-first policy)."""
    if isinstance(space, spaces.Discrete):
        return [()]
    shape = tuple(space.shape)  # type: ignore[arg-type]
    if is_image_space(space, check_channels=False) and len(shape) == 3:
        return [shape, (shape[1], shape[2], shape[0])]
    return [shape]


def _whole_number_bounds(space: spaces.Space) -> tuple[Any, Any] | None:
    """``(low, high)`` of spaces whose values are whole numbers (discrete parts and uint8 images), else None."""
    if isinstance(space, spaces.Discrete):
        return 0, space.n - 1
    if isinstance(space, spaces.MultiDiscrete):
        return 0, space.nvec - 1
    if isinstance(space, spaces.MultiBinary):
        return 0, 1
    if isinstance(space, spaces.Box) and space.dtype == np.uint8:  # images may come channel-last: overall bounds
        return space.low.min(), space.high.max()
    return None


def check_replay_buffer(
    buffer: Any, observation_space: spaces.Space, action_space: spaces.Space, n_envs: int, source: str
) -> None:
    """Raise :class:`CheckpointError` unless ``buffer`` is a consistent :class:`SequenceReplayBuffer` for a model
    with these spaces and number of environments."""
    if not isinstance(buffer, SequenceReplayBuffer):
        raise CheckpointError(f"{source} holds a {type(buffer).__name__}, not a SequenceReplayBuffer.")
    for what, theirs, ours in [
        ("observation", buffer.observation_space, observation_space),
        ("action", buffer.action_space, action_space),
    ]:
        if theirs != ours:
            raise CheckpointError(f"{source} holds a replay of {what} space {theirs}; the model has {ours}.")
    if buffer.n_envs != n_envs:
        raise CheckpointError(
            f"{source} holds {buffer.n_envs} environment streams; the model has {n_envs} environments. "
            "Set an env with as many environments before loading it."
        )
    rows = (buffer.buffer_size, buffer.n_envs)
    observations = buffer.observations if isinstance(buffer.observations, dict) else {OBS_KEY: buffer.observations}
    arrays = {**observations, "actions": buffer.actions, "rewards": buffer.rewards, "is_first": buffer.is_first}
    broken = [key for key, array in arrays.items() if tuple(array.shape[:2]) != rows]
    if broken or np.any(buffer.env_pos >= buffer.buffer_size) or np.any(buffer.env_pos < 0):
        raise CheckpointError(f"{source} holds an inconsistent replay buffer (arrays {broken or 'positions'}).")
