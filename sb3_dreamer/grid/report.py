"""The report of a grid's output folder: every evaluation as CSV, aggregate tables with stratified-bootstrap
confidence intervals, sample-efficiency curves and performance profiles.

The statistics and plots are rliable's (Agarwal et al., "Deep Reinforcement Learning at the Edge of the
Statistical Precipice", NeurIPS 2021), imported when a report is written (the ``grid`` extra). A cell's score at
a budget of ``B`` policy steps is the mean return of its last evaluation at or before ``B``; the runs of a task
are its seeds. Tables give ``rliable.metrics``' mean, median (of the per-task means) and interquartile mean
(IQM) with 95% confidence intervals from ``rliable.library.get_interval_estimates`` (percentile stratified
bootstrap over each task's runs); profiles come from ``rliable.library.create_performance_profile``.

Aggregates over several tasks are only meaningful on a common scale: they are computed when every task has a
``normalize`` range (``(low, high)``, e.g. random and best scores: ``(x - low) / (high - low)``); per-task
tables use raw returns.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import importlib
import math
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from types import ModuleType

import numpy as np

from sb3_dreamer.grid.cells import CELL_FILE, Cell, env_name
from sb3_dreamer.grid.runner import GRID_FILE
from sb3_dreamer.grid.train import DONE_FILE, ERROR_FILE, EVALUATIONS, read_json

#: the name of the aggregate over tasks in tables and plots
ALL_TASKS = "all tasks (normalized)"


@dataclasses.dataclass
class CellResult:
    """One cell of an output folder and its evaluations.

    :param algo: the algorithm's folder name (its label)
    :param env: environment id
    :param seed: seed
    :param folder: the cell's folder
    :param steps: evaluation steps (policy steps)
    :param returns: mean evaluation return at each of ``steps``
    :param budget: the cell's budget in policy steps (its last evaluation's step when unknown)
    :param status: ``"done"``, ``"failed"`` or ``"unfinished"``
    :param error: the failure's last line, for failed cells
    :param minutes: training minutes of a finished cell (its attempts' time up to the checkpoints it resumed from)
    """

    algo: str
    env: str
    seed: int
    folder: str
    steps: np.ndarray
    returns: np.ndarray
    budget: int
    status: str
    error: str = ""
    minutes: float = math.nan

    def score_at(self, budget: int) -> float:
        """The mean return of the last evaluation at or before ``budget``; nan when there is none, when the
        cell's own budget is below ``budget``, or when an unfinished cell has not been evaluated at ``budget`` yet."""
        if self.budget < budget or (self.status != "done" and (not len(self.steps) or self.steps[-1] < budget)):
            return math.nan
        index = np.searchsorted(self.steps, budget, side="right") - 1
        return float(self.returns[index]) if index >= 0 else math.nan

    def lowest_from(self, step: int, until: float = math.inf) -> float:
        """The lowest mean return of the evaluations from ``step`` to ``until`` (nan when there is none)."""
        window = self.returns[(self.steps >= step) & (self.steps <= until)]
        return float(window.min()) if len(window) else math.nan


def load_results(output: str) -> list[CellResult]:
    """Every cell of an output folder: the folders ``<output>/<algo>/<EnvName>_<seed>/`` (written by the grid or
    by the RL Zoo) and the cells of ``grid.json`` that have no evaluations yet, sorted by algo, env and seed."""
    found: dict[str, CellResult] = {}
    for algo in sorted(os.listdir(output)) if os.path.isdir(output) else []:
        algo_folder = os.path.join(output, algo)
        if not os.path.isdir(algo_folder):
            continue
        for name in sorted(os.listdir(algo_folder)):
            folder = os.path.join(algo_folder, name)
            if os.path.isdir(folder) and (os.path.isfile(os.path.join(folder, CELL_FILE)) or _has_evaluations(folder)):
                found[os.path.realpath(folder)] = _read_cell(algo, folder)
    grid = read_json(os.path.join(output, GRID_FILE)) or {"cells": []}
    for entry in grid["cells"]:
        cell = Cell.from_dict(entry)
        folder = cell.folder(output)
        if os.path.realpath(folder) not in found:
            found[os.path.realpath(folder)] = _result(cell.name, cell.env, cell.seed, folder, cell.steps)
    return sorted(found.values(), key=lambda result: (result.algo, result.env, result.seed))


def _has_evaluations(folder: str) -> bool:
    return os.path.isfile(os.path.join(folder, EVALUATIONS))


def _read_cell(algo: str, folder: str) -> CellResult:
    cell = read_json(os.path.join(folder, CELL_FILE))
    if cell is not None:
        return _result(algo, cell["env"], int(cell["seed"]), folder, int(cell["steps"]))
    env, _, seed = os.path.basename(folder).rpartition("_")  # a Zoo folder: <EnvName>_<exp id>
    return _result(algo, env, int(seed) if seed.isdigit() else 0, folder, None)


def _result(algo: str, env: str, seed: int, folder: str, budget: int | None) -> CellResult:
    steps, returns = np.zeros(0, dtype=np.int64), np.zeros(0)
    if _has_evaluations(folder):
        with np.load(os.path.join(folder, EVALUATIONS)) as data:
            steps, returns = data["timesteps"].astype(np.int64), data["results"].mean(axis=1)
    done, error_path = read_json(os.path.join(folder, DONE_FILE)), os.path.join(folder, ERROR_FILE)
    status, error, minutes = "unfinished", "", math.nan
    if done is not None:
        status, minutes = "done", float(done.get("minutes", math.nan))
    elif os.path.isfile(error_path):
        with open(error_path) as file:
            lines = [line.strip() for line in file if line.strip()]
        status, error = "failed", lines[-1] if lines else "unknown error"
    if budget is None:
        budget = int(steps[-1]) if len(steps) else 0
    return CellResult(algo, env, seed, folder, steps, returns, budget, status, error, minutes)


def write_csv(results: Sequence[CellResult], path: str) -> int:
    """Write ``algo,env,seed,step,return``, one row per evaluation, and return the number of rows."""
    rows = 0
    with open(path, "w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(["algo", "env", "seed", "step", "return"])
        for result in results:
            for step, value in zip(result.steps, result.returns, strict=True):
                writer.writerow([result.algo, result.env, result.seed, int(step), f"{value:.6g}"])
                rows += 1
    return rows


# ---------------------------------------------------------------------------------------------- rliable


def _rliable(module: str) -> ModuleType:
    """``rliable.<module>`` (``metrics``, ``library`` or ``plot_utils``), imported when a report needs it."""
    try:
        return importlib.import_module(f"rliable.{module}")
    except ImportError as error:  # rliable missing, or an arch that does not import with the installed pandas
        raise ImportError(
            f'The grid report needs rliable (with arch<8 and pandas<3): pip install "sb3-dreamer[grid]" ({error})'
        ) from error


@contextlib.contextmanager
def _seeded(seed: int) -> Iterator[None]:
    """rliable's stratified bootstrap resamples with NumPy's global generator (its ``random_state`` does not reach
    the resampling): seed it for reproducible intervals, and restore it afterwards."""
    state = np.random.get_state()
    np.random.seed(seed)
    try:
        yield
    finally:
        np.random.set_state(state)


def _metrics() -> Callable[[np.ndarray], np.ndarray]:
    """The table's metrics of a ``(runs, tasks)`` score matrix: rliable's mean, median and IQM."""
    metrics = _rliable("metrics")
    return lambda x: np.array([metrics.aggregate_mean(x), metrics.aggregate_median(x), metrics.aggregate_iqm(x)])


def interval_estimates(
    scores: np.ndarray, func: Callable[[np.ndarray], np.ndarray], reps: int, size: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """``func(scores)`` and its percentile stratified-bootstrap confidence interval, by
    ``rliable.library.get_interval_estimates``.

    :param scores: score matrix ``(runs, tasks)``
    :param func: statistics of a score matrix, as a 1D array
    :param reps: bootstrap replicates
    :param size: coverage of the interval
    :param seed: seed of the resampling
    :return: the point estimates ``(k,)`` and the lower and upper bounds ``(2, k)``
    """
    with _seeded(seed):
        points, intervals = _rliable("library").get_interval_estimates(
            {"scores": scores}, func, reps=reps, confidence_interval_size=size
        )
    return np.asarray(points["scores"]), np.asarray(intervals["scores"])


# ---------------------------------------------------------------------------------------------- the report


def _matrix(results: Sequence[CellResult], budget: int, normalize: Mapping[str, Sequence[float]] | None) -> np.ndarray:
    """Scores at ``budget`` as a ``(runs, tasks)`` matrix over the seeds every task has, tasks sorted; normalised
    with ``normalize``'s ranges when given."""
    by_env: dict[str, dict[int, float]] = {}
    for result in results:
        value = result.score_at(budget)
        if not math.isnan(value):
            if normalize is not None:
                low, high = normalize[result.env]
                value = (value - low) / (high - low)
            by_env.setdefault(result.env, {})[result.seed] = value
    if not by_env:
        return np.zeros((0, 0))
    seeds = sorted(set.intersection(*(set(values) for values in by_env.values())))
    return np.array([[by_env[env][seed] for env in sorted(by_env)] for seed in seeds]).reshape(len(seeds), len(by_env))


def _groups(results: Sequence[CellResult]) -> dict[tuple[str, str], list[CellResult]]:
    groups: dict[tuple[str, str], list[CellResult]] = {}
    for result in results:
        groups.setdefault((result.algo, result.env), []).append(result)
    return groups


def default_budgets(results: Sequence[CellResult]) -> list[int]:
    """The budgets of the cells that have evaluations, in increasing order."""
    return sorted({result.budget for result in results if len(result.steps)})


def _fmt(value: float) -> str:
    return f"{value:.3g}" if abs(value) < 1 else f"{value:.1f}"


def budget_table(
    results: Sequence[CellResult],
    budget: int,
    normalize: Mapping[str, Sequence[float]] | None = None,
    reps: int = 2000,
    size: float = 0.95,
    seed: int = 0,
) -> list[str]:
    """The Markdown table of one budget: per algorithm and task, and per algorithm over all tasks when
    ``normalize`` covers them, the number of runs and the mean, median and IQM with confidence intervals.

    :param results: the cells
    :param budget: policy steps
    :param normalize: ``{env id: (low, high)}`` for normalised aggregates over tasks, or None
    :param reps: bootstrap replicates
    :param size: coverage of the intervals
    :param seed: seed of the resampling
    """
    percent = f"{100 * size:g}%"
    lines = [
        f"### {budget} policy steps",
        "",
        f"| algo | env | runs | mean [{percent} CI] | median [{percent} CI] | IQM [{percent} CI] |",
        "|---|---|---|---|---|---|",
    ]
    by_algo: dict[str, list[CellResult]] = {}
    for (algo, env), group in sorted(_groups(results).items()):
        by_algo.setdefault(algo, []).extend(group)
        scores = _matrix(group, budget, None)
        if scores.size:
            lines.append(_row(algo, env, scores, reps, size, seed))
    for algo, group in sorted(by_algo.items()):
        envs = {result.env for result in group}
        if len(envs) > 1 and normalize is not None and envs <= set(normalize):
            scores = _matrix(group, budget, normalize)
            if scores.size:
                lines.append(_row(algo, ALL_TASKS, scores, reps, size, seed))
    return lines


def _row(algo: str, env: str, scores: np.ndarray, reps: int, size: float, seed: int) -> str:
    points, (lows, highs) = interval_estimates(scores, _metrics(), reps, size, seed)
    cells = [f"{_fmt(point)} [{_fmt(low)}, {_fmt(high)}]" for point, low, high in zip(points, lows, highs, strict=True)]
    return f"| {algo} | {env} | {scores.size} | " + " | ".join(cells) + " |"


def gate_table(results: Sequence[CellResult], gates: Mapping[str, float], budget: int | None = None) -> list[str]:
    """The Markdown table of issue-style gates: for each algorithm on a task of ``gates``, the mean score at the
    budget (the cells' own, or ``budget``) against the gate, and stability: the lowest evaluation of each seed
    from half the budget to the budget, and the seeds that fell below the gate there. A gate is met when the mean
    reaches it and no evaluation of any seed in that window falls below it; a missed gate names every reason.

    :param results: the cells
    :param gates: ``{env id: gate}``, the least return asked for
    :param budget: policy steps (None: each group's largest cell budget)
    """
    lines = [
        "| algo | env | runs | budget | mean | gate | lowest from half the budget, per seed | below the gate there "
        "| verdict |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for (algo, env), group in sorted(_groups(results).items()):
        if env not in gates or not any(len(result.steps) for result in group):
            continue
        steps = budget if budget is not None else max(result.budget for result in group)
        scores = [result.score_at(steps) for result in group]
        lowest = [result.lowest_from(steps // 2, until=steps) for result in group]
        gate, mean = float(gates[env]), float(np.mean(scores))
        below = [f"seed {result.seed}" for result, low in zip(group, lowest, strict=True) if not low >= gate]
        reasons = [reason for reason, missed in (("mean", mean < gate), ("stability", bool(below))) if missed]
        if math.isnan(mean):
            verdict = "not all seeds evaluated at the budget"
        else:
            verdict = f"missed ({', '.join(reasons)})" if reasons else "met"
        lows = " / ".join("-" if math.isnan(low) else f"{low:.1f}" for low in lowest)
        lines.append(
            f"| {algo} | {env} | {len(group)} | {steps} | {_fmt(mean)} | {_fmt(gate)} | {lows} | "
            f"{', '.join(below) or 'none'} | {verdict} |"
        )
    return lines


def cells_table(results: Sequence[CellResult]) -> list[str]:
    """The Markdown table of every cell: its last evaluation, best evaluation, wall time and status."""
    lines = [
        "| algo | env | seed | last evaluation step | final return | best return | training minutes | status |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for result in results:
        has = len(result.steps) > 0
        status = result.status if result.status != "failed" else f"failed: {result.error.replace('|', '/')}"
        lines.append(
            f"| {result.algo} | {result.env} | {result.seed} | {int(result.steps[-1]) if has else '-'} | "
            f"{f'{result.returns[-1]:.1f}' if has else '-'} | {f'{result.returns.max():.1f}' if has else '-'} | "
            f"{'-' if math.isnan(result.minutes) else f'{result.minutes:.1f}'} | {status} |"
        )
    return lines


def _curve(
    group: Sequence[CellResult], normalize: Mapping[str, Sequence[float]] | None, reps: int, size: float, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """IQM against policy steps with confidence bands, at each evaluation step of the group's cells."""
    metrics = _rliable("metrics")
    steps, points, lows, highs = [], [], [], []
    for step in sorted({int(step) for result in group for step in result.steps}):
        scores = _matrix(group, step, normalize)
        if scores.size:
            point, (low, high) = interval_estimates(scores, lambda x: np.array([metrics.aggregate_iqm(x)]), reps, size, seed)
            steps.append(step)
            points.append(float(point[0]))
            lows.append(float(low[0]))
            highs.append(float(high[0]))
    return np.array(steps), np.array(points), np.array(lows), np.array(highs)


def plot_curves(
    results: Sequence[CellResult],
    path: str,
    title: str,
    normalize: Mapping[str, Sequence[float]] | None = None,
    reps: int = 2000,
    size: float = 0.95,
    seed: int = 0,
) -> None:
    """Sample-efficiency curves: each algorithm's IQM over runs (and tasks) against policy steps, with
    stratified-bootstrap confidence bands, as a PNG (``rliable.plot_utils.plot_sample_efficiency_curve``).

    :param results: the cells to plot (one task, or several with ``normalize``)
    :param path: the PNG file
    :param title: the plot's title
    :param normalize: ``{env id: (low, high)}`` to plot normalised scores, or None for raw returns
    :param reps: bootstrap replicates
    :param size: coverage of the bands
    :param seed: seed of the resampling
    """
    from matplotlib.figure import Figure

    plot_utils = _rliable("plot_utils")
    figure = Figure(figsize=(6.4, 4.2), layout="constrained")  # no pyplot: no GUI backend, nothing left open
    ax = figure.add_subplot()
    by_algo: dict[str, list[CellResult]] = {}
    for result in results:
        by_algo.setdefault(result.algo, []).append(result)
    for index, (algo, group) in enumerate(sorted(by_algo.items())):
        steps, points, lows, highs = _curve(group, normalize, reps, size, seed)
        if len(steps):  # one call per algorithm: their evaluation steps may differ
            plot_utils.plot_sample_efficiency_curve(
                steps,
                {algo: points},
                {algo: np.array([lows, highs])},
                colors={algo: f"C{index}"},
                ax=ax,
                xlabel="policy steps",
                ylabel="IQM of normalized score" if normalize else "IQM of evaluation return",
                labelsize="medium",
                ticklabelsize="small",
            )
    ax.set_title(f"{title} ({100 * size:g}% CI over seeds{' and tasks' if normalize else ''})", fontsize="medium")
    ax.legend(fontsize="small")
    figure.savefig(path, dpi=120)


def plot_profiles(
    results: Sequence[CellResult],
    budget: int,
    path: str,
    title: str,
    normalize: Mapping[str, Sequence[float]] | None = None,
    reps: int = 2000,
    size: float = 0.95,
    seed: int = 0,
) -> None:
    """Performance profiles at a budget: for each algorithm, the fraction of runs scoring above each
    threshold, with stratified-bootstrap confidence bands, as a PNG (``rliable.library.create_performance_profile``
    and ``rliable.plot_utils.plot_performance_profiles``).

    :param results: the cells to plot (one task, or several with ``normalize``)
    :param budget: policy steps
    :param path: the PNG file
    :param title: the plot's title
    :param normalize: ``{env id: (low, high)}`` to plot normalised scores, or None for raw returns
    :param reps: bootstrap replicates
    :param size: coverage of the bands
    :param seed: seed of the resampling
    """
    from matplotlib.figure import Figure

    library, plot_utils = _rliable("library"), _rliable("plot_utils")
    algos = sorted({result.algo for result in results})
    colors = {algo: f"C{index}" for index, algo in enumerate(algos)}  # as in the curves
    matrices = {algo: _matrix([r for r in results if r.algo == algo], budget, normalize) for algo in algos}
    matrices = {algo: scores for algo, scores in matrices.items() if scores.size}
    figure = Figure(figsize=(6.4, 4.2), layout="constrained")
    ax = figure.add_subplot()
    if matrices:
        values = np.concatenate([scores.ravel() for scores in matrices.values()])
        low, high = float(values.min()), float(values.max())
        margin = 0.05 * (high - low) or 1.0
        taus = np.linspace(low - margin, high + margin, 201)
        with _seeded(seed):
            profiles, bands = library.create_performance_profile(matrices, taus, reps=reps, confidence_interval_size=size)
        plot_utils.plot_performance_profiles(
            profiles,
            taus,
            performance_profile_cis=bands,
            ax=ax,
            colors=colors,
            alpha=0.2,
            xlabel=r"normalized score $\tau$" if normalize else r"evaluation return $\tau$",
            ylabel=r"fraction of runs with score $> \tau$",
            labelsize="medium",
            ticklabelsize="small",
        )
    ax.set_ylim(-0.02, 1.02)
    ax.set_title(f"{title}, {budget} policy steps", fontsize="medium")
    ax.legend(fontsize="small")
    figure.savefig(path, dpi=120)


def report(
    output: str,
    budgets: Sequence[int] | None = None,
    normalize: Mapping[str, Sequence[float]] | None = None,
    reps: int = 2000,
    size: float = 0.95,
    seed: int = 0,
    plots: bool = True,
    gates: Mapping[str, float] | None = None,
) -> str:
    """Write the report of a grid's output folder into it and return its Markdown:

    - ``results.csv``: ``algo,env,seed,step,return``, one row per evaluation;
    - ``report.md``: a table per budget (mean, median and IQM with stratified-bootstrap confidence intervals
      over seeds, per task, and over tasks when normalised), the gates when given (:func:`gate_table`), the
      table of cells, and the failed cells with their errors;
    - ``curves_<EnvName>.png`` and ``profile_<EnvName>.png`` per task (``curves_normalized.png`` and
      ``profile_normalized.png`` with ``normalize``): sample-efficiency curves and performance profiles at
      the largest budget.

    :param output: the grid's output folder
    :param budgets: policy-step budgets to tabulate (None: the cells' budgets)
    :param normalize: ``{env id: (low, high)}`` score ranges for aggregates over tasks, or None
    :param reps: bootstrap replicates
    :param size: coverage of the confidence intervals
    :param seed: seed of the bootstrap
    :param plots: write the PNG plots
    :param gates: ``{env id: gate}``: add the table of :func:`gate_table` at the cells' budgets
    :raises FileNotFoundError: the folder holds no cells
    """
    results = load_results(output)
    if not results:
        raise FileNotFoundError(f"No grid cells in {output!r} (expected <algo>/<EnvName>_<seed>/ folders).")
    if normalize is not None:
        normalize = {env: (float(low), float(high)) for env, (low, high) in normalize.items()}
    rows = write_csv(results, os.path.join(output, "results.csv"))
    budgets = list(budgets) if budgets else default_budgets(results)
    lines = [f"# Grid report: {output}", "", f"{len(results)} cells, {rows} evaluations (`results.csv`).", ""]
    lines += [
        f"Scores: the mean return of each cell's last evaluation at or before the budget. Intervals: {100 * size:g}% "
        f"stratified percentile bootstrap over seeds (rliable, {reps} replicates).",
        "",
    ]
    for budget in budgets:
        lines += [*budget_table(results, budget, normalize, reps, size, seed), ""]
    if gates:
        lines += ["## Gates", "", *gate_table(results, gates), ""]
    lines += ["## Cells", "", *cells_table(results), ""]
    failed = [result for result in results if result.status == "failed"]
    if failed:
        lines += ["## Failed cells", ""]
        lines += [
            f"- {r.algo} {r.env} seed {r.seed}: {r.error} (traceback: {os.path.join(r.folder, ERROR_FILE)})" for r in failed
        ]
        lines.append("")
    if plots and budgets:
        lines += _plots(results, output, max(budgets), normalize, reps, size, seed)
    text = "\n".join(lines)
    with open(os.path.join(output, "report.md"), "w") as file:
        file.write(text)
    return text


def _plots(
    results: Sequence[CellResult],
    output: str,
    budget: int,
    normalize: Mapping[str, Sequence[float]] | None,
    reps: int,
    size: float,
    seed: int,
) -> list[str]:
    with_data = [result for result in results if len(result.steps)]
    names = []
    for env in sorted({result.env for result in with_data}):
        group = [result for result in with_data if result.env == env]
        env_budget = min(budget, max(result.budget for result in group))
        names.append(f"curves_{env_name(env)}.png")
        plot_curves(group, os.path.join(output, names[-1]), env, None, reps, size, seed)
        names.append(f"profile_{env_name(env)}.png")
        plot_profiles(group, env_budget, os.path.join(output, names[-1]), env, None, reps, size, seed)
    envs = {result.env for result in with_data}
    if normalize is not None and len(envs) > 1 and envs <= set(normalize):
        names.append("curves_normalized.png")
        plot_curves(with_data, os.path.join(output, names[-1]), ALL_TASKS, normalize, reps, size, seed)
        names.append("profile_normalized.png")
        common = min(budget, *(max(r.budget for r in with_data if r.env == env) for env in envs))
        plot_profiles(with_data, common, os.path.join(output, names[-1]), ALL_TASKS, normalize, reps, size, seed)
    return ["## Plots", "", *[f"![{name}]({name})" for name in names], ""]
