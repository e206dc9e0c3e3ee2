"""RL Baselines3 Zoo integration: our algorithms, hyperparameter files and Optuna samplers in the Zoo's tables.

``python -m sb3_dreamer.zoo train --algo dreamer --env Pendulum-v1`` registers everything and runs the Zoo's
own command line. Users of ``python -m rl_zoo3.train`` get the same registration from a ``custom_envs.py``
in their working folder (the Zoo imports that module at start) holding one line, ``import sb3_dreamer.zoo``,
and pass ``--conf-file`` with :func:`hyperparams_file` (docs/zoo.md).
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

try:
    import optuna
    from rl_zoo3 import hyperparams_opt, utils
except ImportError as error:  # the optional extra
    raise ImportError(
        "The RL Zoo integration needs rl_zoo3: pip install 'sb3-dreamer[zoo]' (or pip install rl_zoo3)."
    ) from error

from sb3_dreamer import Dreamer, DreamerV2, DreamerV3, Plan2Explore, register_envs

#: Zoo names of our algorithms (``--algo``)
ALGOS = {"dreamer": Dreamer, "dreamerv2": DreamerV2, "dreamerv3": DreamerV3, "plan2explore": Plan2Explore}


def hyperparams_file(algo: str) -> Path:
    """The hyperparameter file shipped for a Zoo algorithm name, e.g. ``hyperparams_file("dreamer")``."""
    if algo not in ALGOS:
        raise ValueError(f"Unknown algorithm {algo!r}; ours are {sorted(ALGOS)}.")
    return Path(str(resources.files(__package__) / "hyperparams" / f"{algo}.yml"))


def sample_dreamer_params(trial: optuna.Trial, n_actions: int, n_envs: int, additional_args: dict) -> dict[str, Any]:
    """Optuna sampler of the main hyperparameters (``-optimize``): the three learning rates, discount,
    lambda, imagination horizon, free nats, entropy bonus, batch size and update frequency (train ratio)."""
    params = {
        "learning_rate": trial.suggest_float("learning_rate", 1e-4, 1e-3, log=True),
        "actor_learning_rate": trial.suggest_float("actor_learning_rate", 1e-5, 1e-3, log=True),
        "critic_learning_rate": trial.suggest_float("critic_learning_rate", 1e-5, 1e-3, log=True),
        "one_minus_gamma": trial.suggest_float("one_minus_gamma", 1e-3, 3e-2, log=True),
        "td_lambda": trial.suggest_categorical("td_lambda", [0.9, 0.95, 0.98]),
        "imagination_horizon": trial.suggest_categorical("imagination_horizon", [10, 15, 20]),
        "free_nats": trial.suggest_categorical("free_nats", [0.0, 1.0, 3.0]),
        "actor_entropy_coef": trial.suggest_float("actor_entropy_coef", 1e-5, 1e-2, log=True),
        "batch_size": trial.suggest_categorical("batch_size", [16, 32, 50]),
        "train_freq": trial.suggest_int("train_freq", 1, 10),
    }
    return convert_dreamer_params(params)


def convert_dreamer_params(sampled: dict[str, Any]) -> dict[str, Any]:
    """Turn a trial's sampled values into keyword arguments (``one_minus_gamma`` becomes ``gamma``)."""
    params = dict(sampled)
    params["gamma"] = 1 - params.pop("one_minus_gamma")
    return params


def sample_dreamerv3_params(trial: optuna.Trial, n_actions: int, n_envs: int, additional_args: dict) -> dict[str, Any]:
    """Optuna sampler of DreamerV3 (``-optimize``): only what the paper changes between domains, the model size (up
    to S) and the train ratio; every other hyperparameter stays the paper's."""
    return {
        "size": trial.suggest_categorical("size", ["XXS", "XS", "S"]),
        "train_ratio": trial.suggest_categorical("train_ratio", [32, 64, 128, 256, 512, 1024]),
    }


def convert_dreamerv3_params(sampled: dict[str, Any]) -> dict[str, Any]:
    """A DreamerV3 trial's sampled values are its keyword arguments as they are."""
    return dict(sampled)


#: the Optuna sampler and converter of each algorithm
SAMPLERS = {
    "dreamer": (sample_dreamer_params, convert_dreamer_params),
    "dreamerv2": (sample_dreamer_params, convert_dreamer_params),
    "dreamerv3": (sample_dreamerv3_params, convert_dreamerv3_params),
    "plan2explore": (sample_dreamer_params, convert_dreamer_params),
}


def register() -> None:
    """Add our algorithms to the Zoo's ``ALGOS``, its samplers and converters, and our env ids to gymnasium
    (idempotent)."""
    register_envs()
    for name, algo in ALGOS.items():
        utils.ALGOS[name] = algo
        hyperparams_opt.HYPERPARAMS_SAMPLER[name], hyperparams_opt.HYPERPARAMS_CONVERTER[name] = SAMPLERS[name]


register()
