"""Gymnasium ids for the ready-made environments; see docs/environments.md for the full list.

Naming (stable; a change of behaviour bumps the version suffix):

* ``DMC/<domain>-<task>-<obs>-v0`` with ``obs`` one of ``pixels``, ``proprio``, ``both``, and
  ``DMC/<domain>-<task>-proprio-pomdp-v0`` (velocities hidden); 64x64 pixels, action repeat 2.
* ``MinAtar/<Game>-image-v0`` and ``MinAtar/<Game>-image-pomdp-v0`` (``minatar`` extra).
* ``POMDP/<classic-control id>`` such as ``POMDP/Pendulum-v1``: velocities hidden.

``import sb3_dreamer`` registers them all. Gymnasium 1.x has no entry-point plugin mechanism any more
(it was removed in 1.0), so without that import use the module prefix:
``gym.make("sb3_dreamer:DMC/walker-walk-pixels-v0")``. Arguments of the factories can be overridden
at ``gym.make``, e.g. ``gym.make("DMC/walker-walk-pixels-v0", action_repeat=4, size=84)``.
"""

from __future__ import annotations

from gymnasium.envs.registration import register, registry

from sb3_dreamer.envs.dmc import OBS_MODES
from sb3_dreamer.envs.minatar import GAMES
from sb3_dreamer.envs.wrappers import CLASSIC_CONTROL_VELOCITIES

#: the DMC tasks with registered ids: dm_control's benchmarking set plus quadruped, as in Dreamer V1
DMC_TASKS = (
    "acrobot-swingup",
    "acrobot-swingup_sparse",
    "ball_in_cup-catch",
    "cartpole-balance",
    "cartpole-balance_sparse",
    "cartpole-swingup",
    "cartpole-swingup_sparse",
    "cheetah-run",
    "finger-spin",
    "finger-turn_easy",
    "finger-turn_hard",
    "fish-upright",
    "fish-swim",
    "hopper-stand",
    "hopper-hop",
    "humanoid-stand",
    "humanoid-walk",
    "humanoid-run",
    "manipulator-bring_ball",
    "pendulum-swingup",
    "point_mass-easy",
    "quadruped-walk",
    "quadruped-run",
    "reacher-easy",
    "reacher-hard",
    "swimmer-swimmer6",
    "swimmer-swimmer15",
    "walker-stand",
    "walker-walk",
    "walker-run",
)


def dmc_id(task: str, obs: str = "pixels", pomdp: bool = False) -> str:
    """The registered id of a DMC task, e.g. ``dmc_id("walker-walk", "proprio")``."""
    return f"DMC/{task}-{obs}{'-pomdp' if pomdp else ''}-v0"


def minatar_id(game: str, pomdp: bool = False) -> str:
    """The registered id of a MinAtar game, e.g. ``minatar_id("space_invaders")`` is ``MinAtar/SpaceInvaders-image-v0``."""
    return f"MinAtar/{game.title().replace('_', '')}-image{'-pomdp' if pomdp else ''}-v0"


def _register(new_id: str, entry_point: str, **kwargs) -> None:
    if new_id not in registry:
        register(new_id, entry_point=entry_point, kwargs=kwargs)


def register_envs() -> None:
    """Register every id listed in this module with gymnasium (idempotent)."""
    for task in DMC_TASKS:
        for obs in OBS_MODES:
            _register(dmc_id(task, obs), "sb3_dreamer.envs.dmc:make_dmc_env", task=task, obs=obs)
        pomdp_id = dmc_id(task, "proprio", pomdp=True)
        _register(pomdp_id, "sb3_dreamer.envs.dmc:make_dmc_env", task=task, obs="proprio", pomdp=True)
    for game in GAMES:
        for pomdp in (False, True):
            _register(minatar_id(game, pomdp), "sb3_dreamer.envs.minatar:make_minatar_env", game=game, pomdp=pomdp)
    for env_id in CLASSIC_CONTROL_VELOCITIES:
        _register(f"POMDP/{env_id}", "sb3_dreamer.envs.wrappers:make_pomdp_classic_env", env_id=env_id)
    for env_id in ("CartPole-v1", "Acrobot-v1", "MountainCar-v0"):
        _register(f"MultiDiscrete/{env_id}", "sb3_dreamer.envs.wrappers:make_multidiscrete_classic_env", env_id=env_id)
