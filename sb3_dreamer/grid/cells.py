"""Grid cells: one algorithm on one environment with one seed, its settings and its folder.

A cell's folder is laid out as an RL Baselines3 Zoo log folder, ``<output>/<label>/<EnvName>_<seed>/``, where
``label`` is the algorithm's name unless the cell names a variant, and ``EnvName`` is the environment id with
``/`` replaced by ``-`` (the Zoo's ``EnvironmentName``).
"""

from __future__ import annotations

import dataclasses
import inspect
import itertools
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

#: file in a cell's folder holding its definition (what :meth:`Cell.to_dict` returns)
CELL_FILE = "cell.json"


def algorithms() -> dict[str, type]:
    """The algorithms a grid can run, by lower-case class name (``"dreamer"``, ``"dreamerv2"``, ``"plan2explore"``,
    and any later algorithm ``sb3_dreamer`` exports): every class in ``sb3_dreamer.__all__`` that subclasses
    :class:`~sb3_dreamer.Dreamer` (and so has ``resume``)."""
    import sb3_dreamer

    found = {}
    for name in sb3_dreamer.__all__:
        obj = getattr(sb3_dreamer, name)
        if inspect.isclass(obj) and issubclass(obj, sb3_dreamer.Dreamer):
            found[name.lower()] = obj
    return found


def preset(name: str | None) -> dict[str, Any]:
    """The keyword arguments of a preset of :mod:`sb3_dreamer.presets` by name (``"SMALL_VECTOR"``), or ``{}``
    for ``None``.

    :raises ValueError: no such preset
    """
    if name is None:
        return {}
    from sb3_dreamer import presets

    value = getattr(presets, name, None)
    if not name.isupper() or not isinstance(value, dict):
        known = sorted(key for key, val in vars(presets).items() if key.isupper() and isinstance(val, dict))
        raise ValueError(f"Unknown preset {name!r}; sb3_dreamer.presets has {known}.")
    return dict(value)


def env_name(env_id: str) -> str:
    """An environment id as a folder name, as the RL Zoo writes it: ``DMC/walker-walk-proprio-v0`` becomes
    ``DMC-walker-walk-proprio-v0``."""
    return env_id.replace("/", "-")


@dataclasses.dataclass(frozen=True)
class Cell:
    """One run of a grid: an algorithm with a preset and overrides, on one environment id, with one seed, for a
    budget of policy steps, evaluated every ``eval_freq`` policy steps.

    :param algo: algorithm name, a key of :func:`algorithms` (``"dreamer"``, ``"dreamerv2"``, ``"plan2explore"``)
    :param env: Gymnasium environment id (``sb3_dreamer``'s ids are registered in the workers)
    :param seed: seed of the model and of the training environment; the evaluation environment is seeded
        ``10_000 + seed`` before each evaluation, so that every evaluation plays the same episodes
    :param steps: budget in policy steps (``learn(total_timesteps=steps)``)
    :param preset: name of a preset in :mod:`sb3_dreamer.presets`, or None
    :param kwargs: constructor arguments that override the preset's (JSON-serialisable values)
    :param policy: policy name (``"MlpPolicy"``, ``"CnnPolicy"``, ``"MultiInputPolicy"``)
    :param eval_freq: policy steps between evaluations (at each multiple of it)
    :param n_eval_episodes: episodes per evaluation (deterministic actions)
    :param checkpoint_freq: policy steps between checkpoints (:class:`~sb3_dreamer.RunCheckpointCallback`);
        None: the evaluation frequency
    :param label: name of the algorithm's folder, for variants of one algorithm in one grid (default: ``algo``)
    """

    algo: str
    env: str
    seed: int
    steps: int
    preset: str | None = None
    kwargs: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    policy: str = "MlpPolicy"
    eval_freq: int = 2000
    n_eval_episodes: int = 10
    checkpoint_freq: int | None = None
    label: str | None = None

    def __post_init__(self) -> None:
        if self.steps < 1 or self.eval_freq < 1 or self.n_eval_episodes < 1:
            raise ValueError(f"steps, eval_freq and n_eval_episodes must be positive: {self}")
        if self.checkpoint_freq is not None and self.checkpoint_freq < 1:
            raise ValueError(f"checkpoint_freq must be positive: {self}")
        if "/" in self.name or self.name in ("", ".", ".."):
            raise ValueError(f"Cannot use {self.name!r} as a folder name.")

    @property
    def name(self) -> str:
        """The algorithm folder's name: ``label``, else ``algo``."""
        return self.label or self.algo

    @property
    def save_every(self) -> int:
        """Policy steps between checkpoints."""
        return self.checkpoint_freq or self.eval_freq

    def folder(self, output: str) -> str:
        """The cell's folder under a grid's output folder: ``<output>/<label>/<EnvName>_<seed>``."""
        return os.path.join(output, self.name, f"{env_name(self.env)}_{self.seed}")

    def model_kwargs(self) -> dict[str, Any]:
        """The constructor arguments: the preset's, updated with ``kwargs`` (``policy_kwargs`` merged key by key)."""
        merged = preset(self.preset)
        for key, value in self.kwargs.items():
            if key == "policy_kwargs" and isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
                merged[key] = {**merged[key], **value}
            else:
                merged[key] = value
        return merged

    def to_dict(self) -> dict[str, Any]:
        """The cell as a JSON-serialisable dict (what ``cell.json`` holds)."""
        data = dataclasses.asdict(self)
        data["kwargs"] = dict(self.kwargs)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Cell:
        """The cell a :meth:`to_dict` dict describes."""
        fields = {field.name for field in dataclasses.fields(cls)}
        return cls(**{key: value for key, value in data.items() if key in fields})


def make_grid(
    algos: Sequence[str],
    envs: Sequence[str],
    seeds: Iterable[int],
    steps: int,
    presets: Sequence[str | None] | str | None = None,
    kwargs: Mapping[str, Any] | None = None,
    **cell_kwargs: Any,
) -> list[Cell]:
    """Every combination of algorithm, environment and seed as a :class:`Cell`.

    :param algos: algorithm names (keys of :func:`algorithms`)
    :param envs: environment ids
    :param seeds: seeds
    :param steps: budget of every cell in policy steps
    :param presets: one preset name for all algorithms, or one per algorithm (None: no preset)
    :param kwargs: constructor arguments overriding the presets', for every cell
    :param cell_kwargs: further :class:`Cell` fields (``eval_freq``, ``n_eval_episodes``, ``policy``, ...)
    :raises ValueError: an unknown algorithm or preset, or a preset list of the wrong length
    """
    known = algorithms()
    unknown = [algo for algo in algos if algo not in known]
    if unknown:
        raise ValueError(f"Unknown algorithm(s) {unknown}; known: {sorted(known)}.")
    if presets is None or isinstance(presets, str):
        presets = [presets] * len(algos)
    if len(presets) != len(algos):
        raise ValueError(f"Give one preset for all algorithms or one per algorithm ({len(algos)}), not {len(presets)}.")
    for name in presets:
        preset(name)
    return [
        Cell(algo=algo, env=env, seed=int(seed), steps=steps, preset=name, kwargs=dict(kwargs or {}), **cell_kwargs)
        for (algo, name), env, seed in itertools.product(zip(algos, presets, strict=True), envs, seeds)
    ]


def read_cell(folder: str) -> Cell | None:
    """The cell a folder holds (its ``cell.json``), or None when it has none."""
    path = os.path.join(folder, CELL_FILE)
    if not os.path.isfile(path):
        return None
    with open(path) as file:
        return Cell.from_dict(json.load(file))
