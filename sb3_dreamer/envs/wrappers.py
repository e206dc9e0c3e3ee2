"""Wrappers for gymnasium environments: partially observable variants of vector-observation environments, for
comparing memory-based agents, and action repeat."""

from __future__ import annotations

from collections.abc import Sequence

import gymnasium as gym
import numpy as np
from gymnasium import spaces

#: velocity entries of gymnasium's classic-control observations (as in RL Zoo's ``MaskVelocityWrapper``)
CLASSIC_CONTROL_VELOCITIES = {
    "CartPole-v1": (1, 3),  # cart velocity, pole angular velocity
    "Pendulum-v1": (2,),  # angular velocity
    "MountainCar-v0": (1,),
    "MountainCarContinuous-v0": (1,),
    "Acrobot-v1": (4, 5),  # both joints' angular velocities
}


class MaskObservation(gym.ObservationWrapper, gym.utils.RecordConstructorArgs):
    """Remove entries of a flat Box observation, so the agent must infer them from its history.

    :param env: an environment with a 1-D ``Box`` observation space
    :param hidden: indices of the entries to remove
    """

    def __init__(self, env: gym.Env, hidden: Sequence[int]) -> None:
        gym.utils.RecordConstructorArgs.__init__(self, hidden=tuple(hidden))
        gym.ObservationWrapper.__init__(self, env)
        space = env.observation_space
        if not isinstance(space, spaces.Box) or len(space.shape) != 1:
            raise ValueError(f"MaskObservation needs a 1-D Box observation space, got {space}.")
        size = space.shape[0]
        if not hidden or any(not 0 <= i < size for i in hidden):
            raise ValueError(f"hidden must list indices in [0, {size}), got {list(hidden)}.")
        self.kept = np.array([i for i in range(size) if i not in set(hidden)])
        self.observation_space = spaces.Box(space.low[self.kept], space.high[self.kept], dtype=space.dtype)

    def observation(self, observation: np.ndarray) -> np.ndarray:
        return observation[self.kept]


def mask_velocity(env: gym.Env) -> MaskObservation:
    """Hide the velocities of a classic-control task (:data:`CLASSIC_CONTROL_VELOCITIES`), e.g. ``CartPole-v1``."""
    env_id = env.spec.id if env.spec is not None else None
    if env_id not in CLASSIC_CONTROL_VELOCITIES:
        raise ValueError(
            f"mask_velocity knows the velocities of {sorted(CLASSIC_CONTROL_VELOCITIES)}, not {env_id!r}; "
            "use MaskObservation(env, hidden=[...]) for other environments."
        )
    return MaskObservation(env, CLASSIC_CONTROL_VELOCITIES[env_id])


def make_pomdp_classic_env(env_id: str, render_mode: str | None = None) -> MaskObservation:
    """``gym.make(env_id)`` with its velocities hidden (the ``POMDP/<id>`` environments)."""
    return mask_velocity(gym.make(env_id, render_mode=render_mode))


class InertActionDimension(gym.ActionWrapper, gym.utils.RecordConstructorArgs):
    """A Discrete-action env with ``MultiDiscrete([n, inert])`` actions: the first component is the env's action,
    the second does nothing. A test of factorised actors, which must learn to ignore it.

    :param env: an environment with Discrete(n) actions (starting at 0)
    :param inert: choices of the inert dimension
    """

    def __init__(self, env: gym.Env, inert: int = 3) -> None:
        gym.utils.RecordConstructorArgs.__init__(self, inert=inert)
        gym.ActionWrapper.__init__(self, env)
        if not isinstance(env.action_space, gym.spaces.Discrete) or env.action_space.start != 0:
            raise ValueError(f"InertActionDimension needs Discrete actions starting at 0, got {env.action_space}.")
        self.action_space = gym.spaces.MultiDiscrete([int(env.action_space.n), inert])

    def action(self, action: np.ndarray) -> int:
        """The env's action: the first component."""
        return int(action[0])


def make_multidiscrete_classic_env(env_id: str, render_mode: str | None = None) -> InertActionDimension:
    """``gym.make(env_id)`` with ``MultiDiscrete([n, 3])`` actions, the second inert (the ``MultiDiscrete/<id>``
    environments)."""
    return InertActionDimension(gym.make(env_id, render_mode=render_mode))


class ActionRepeat(gym.Wrapper, gym.utils.RecordConstructorArgs):
    """Repeat each action ``repeat`` times and sum the rewards, stopping early at the episode's end (Dreamer's
    action repeat, as :func:`~sb3_dreamer.envs.make_dmc_env` does for DeepMind Control): one policy step is
    ``repeat`` environment steps.

    :param env: the environment
    :param repeat: environment steps per policy step
    """

    def __init__(self, env: gym.Env, repeat: int) -> None:
        if repeat < 1:
            raise ValueError(f"repeat must be at least 1, got {repeat}.")
        gym.utils.RecordConstructorArgs.__init__(self, repeat=repeat)
        gym.Wrapper.__init__(self, env)
        self.repeat = repeat

    def step(self, action):
        total = 0.0
        for _ in range(self.repeat):
            observation, reward, terminated, truncated, info = self.env.step(action)
            total += float(reward)
            if terminated or truncated:
                break
        return observation, total, terminated, truncated, info
