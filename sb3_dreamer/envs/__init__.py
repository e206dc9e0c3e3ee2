"""Ready-made environments for Dreamer agents: DeepMind Control (pixels, proprioception, both), MinAtar, POMDPs,
classic control with MultiDiscrete actions."""

from sb3_dreamer.envs.dmc import DeepMindControlEnv, make_dmc_env
from sb3_dreamer.envs.minatar import MinAtarEnv, make_minatar_env
from sb3_dreamer.envs.registration import DMC_TASKS, dmc_id, minatar_id, register_envs
from sb3_dreamer.envs.wrappers import ActionRepeat, InertActionDimension, MaskObservation, mask_velocity

__all__ = [
    "DMC_TASKS",
    "ActionRepeat",
    "DeepMindControlEnv",
    "InertActionDimension",
    "MaskObservation",
    "MinAtarEnv",
    "dmc_id",
    "make_dmc_env",
    "make_minatar_env",
    "mask_velocity",
    "minatar_id",
    "register_envs",
]
