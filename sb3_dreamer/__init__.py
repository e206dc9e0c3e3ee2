"""sb3-dreamer: the Dreamer family of world-model agents as Stable-Baselines3 algorithms."""

import os

# Headless MuJoCo rendering (DeepMind Control pixels) works out of the box with EGL.
os.environ.setdefault("MUJOCO_GL", "egl")

from sb3_dreamer.common.buffers import SequenceReplayBuffer
from sb3_dreamer.common.checkpoints import RunCheckpointCallback
from sb3_dreamer.common.checks import (
    CheckpointError,
    DreamerError,
    NonFiniteLossError,
    ObservationError,
    UnsupportedSpaceError,
)
from sb3_dreamer.dreamer import Dreamer
from sb3_dreamer.dreamer_v2 import DreamerV2
from sb3_dreamer.dreamer_v3 import DreamerV3
from sb3_dreamer.envs import register_envs
from sb3_dreamer.plan2explore import Plan2Explore
from sb3_dreamer.presets import (
    DREAMERV3_DMC,
    DREAMERV3_MINATAR,
    DREAMERV3_SMALL_CONTINUOUS,
    DREAMERV3_SMALL_PIXELS,
    DREAMERV3_SMALL_VECTOR,
    SMALL_PIXELS,
    SMALL_VECTOR,
    TINY,
)

register_envs()

__version__ = "0.1.0"

__all__ = [
    "DREAMERV3_DMC",
    "DREAMERV3_MINATAR",
    "DREAMERV3_SMALL_CONTINUOUS",
    "DREAMERV3_SMALL_PIXELS",
    "DREAMERV3_SMALL_VECTOR",
    "SMALL_PIXELS",
    "SMALL_VECTOR",
    "TINY",
    "CheckpointError",
    "Dreamer",
    "DreamerError",
    "DreamerV2",
    "DreamerV3",
    "NonFiniteLossError",
    "ObservationError",
    "Plan2Explore",
    "RunCheckpointCallback",
    "SequenceReplayBuffer",
    "UnsupportedSpaceError",
    "__version__",
    "register_envs",
]
