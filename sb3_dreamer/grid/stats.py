"""Aggregate metrics and stratified-bootstrap confidence intervals, after rliable (Agarwal et al., "Deep
Reinforcement Learning at the Edge of the Statistical Precipice", NeurIPS 2021), with its API.

The definitions are ``rliable.metrics``' and ``rliable.library``'s: a score matrix is ``(runs, tasks)``; the
mean is the mean over tasks of each task's mean over runs, the median the median of those task means, the
interquartile mean (IQM) the mean of the middle 50% of all the matrix's scores (``scipy.stats.trim_mean``
with 25% cut at each end); a confidence interval is the percentile interval of the statistic over bootstrap
replicates that resample, with replacement, the runs of each task independently (``StratifiedBootstrap``
without task bootstrap), and a performance profile is the fraction of all runs scoring above each threshold
(``create_performance_profile`` with score distributions).

rliable itself is not used: ``rliable.library`` builds on ``arch``, and the ``arch`` versions rliable allows
(``<8``) fail to import with pandas 3, while arch 8 rejects rliable's call. Installing rliable next to pandas 3
even breaks ``rl_zoo3.plots``, which imports ``rliable.library`` and only expects an ``ImportError``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np


def aggregate_mean(scores: np.ndarray) -> float:
    """Mean over tasks of each task's mean score (``rliable.metrics.aggregate_mean``).

    :param scores: score matrix ``(runs, tasks)``
    """
    return float(np.mean(np.mean(scores, axis=0)))


def aggregate_median(scores: np.ndarray) -> float:
    """Median over tasks of each task's mean score (``rliable.metrics.aggregate_median``).

    :param scores: score matrix ``(runs, tasks)``
    """
    return float(np.median(np.mean(scores, axis=0)))


def aggregate_iqm(scores: np.ndarray) -> float:
    """Interquartile mean: the mean of all scores after cutting ``int(0.25 * n)`` from each end of the sorted
    ``n`` scores (``rliable.metrics.aggregate_iqm``, i.e. ``scipy.stats.trim_mean(scores, 0.25, axis=None)``).

    :param scores: score matrix ``(runs, tasks)`` (or any array)
    """
    flat = np.sort(np.asarray(scores, dtype=np.float64).ravel())
    cut = int(0.25 * flat.size)
    return float(np.mean(flat[cut : flat.size - cut]))


#: the aggregate metrics of a report, by name
METRICS: dict[str, Callable[[np.ndarray], float]] = {"mean": aggregate_mean, "median": aggregate_median, "IQM": aggregate_iqm}


def stratified_bootstrap(
    scores: np.ndarray,
    func: Callable[[np.ndarray], float | np.ndarray],
    reps: int = 2000,
    confidence_interval_size: float = 0.95,
    seed: int = 0,
) -> np.ndarray:
    """Percentile confidence interval of ``func(scores)`` by the stratified bootstrap: each of ``reps`` replicates
    resamples, with replacement, the runs of every task independently.

    :param scores: score matrix ``(runs, tasks)``
    :param func: statistic of a score matrix (a number or an array)
    :param reps: bootstrap replicates
    :param confidence_interval_size: coverage of the interval
    :param seed: seed of the resampling
    :return: ``(2, ...)``: the lower bounds, then the upper bounds
    """
    scores = np.asarray(scores, dtype=np.float64)
    runs, tasks = scores.shape
    rows = np.random.default_rng(seed).integers(0, runs, size=(reps, runs, tasks))
    values = np.array([func(scores[rows[rep], np.arange(tasks)]) for rep in range(reps)])
    alpha = 100 * (1 - confidence_interval_size) / 2
    return np.percentile(values, [alpha, 100 - alpha], axis=0)


def get_interval_estimates(
    score_dict: Mapping[str, np.ndarray],
    func: Callable[[np.ndarray], float | np.ndarray],
    reps: int = 2000,
    confidence_interval_size: float = 0.95,
    seed: int = 0,
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Point estimates and stratified-bootstrap confidence intervals of ``func`` for each algorithm's score
    matrix (``rliable.library.get_interval_estimates`` with the percentile method).

    :param score_dict: ``{algorithm: score matrix (runs, tasks)}``
    :param func: statistic of a score matrix, e.g. ``lambda x: np.array([aggregate_iqm(x)])``
    :param reps: bootstrap replicates
    :param confidence_interval_size: coverage of the intervals
    :param seed: seed of the resampling
    :return: ``{algorithm: func(scores)}`` and ``{algorithm: (2, ...) lower and upper bounds}``
    """
    points = {key: np.asarray(func(np.asarray(scores, dtype=np.float64))) for key, scores in score_dict.items()}
    intervals = {
        key: stratified_bootstrap(scores, func, reps, confidence_interval_size, seed) for key, scores in score_dict.items()
    }
    return points, intervals


def create_performance_profile(
    score_dict: Mapping[str, np.ndarray],
    tau_list: np.ndarray,
    reps: int = 2000,
    confidence_interval_size: float = 0.95,
    seed: int = 0,
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Performance profiles (score distributions): for each algorithm, the fraction of all its runs scoring
    above each threshold, with stratified-bootstrap confidence bands (``rliable.library.create_performance_profile``).

    :param score_dict: ``{algorithm: score matrix (runs, tasks)}``
    :param tau_list: thresholds
    :param reps: bootstrap replicates
    :param confidence_interval_size: coverage of the bands
    :param seed: seed of the resampling
    :return: ``{algorithm: profile (len(tau_list),)}`` and ``{algorithm: (2, len(tau_list)) bands}``
    """
    taus = np.asarray(tau_list, dtype=np.float64)

    def profile(scores: np.ndarray) -> np.ndarray:
        return (scores.reshape(-1, 1) > taus[None, :]).mean(axis=0)

    return get_interval_estimates(score_dict, profile, reps, confidence_interval_size, seed)
