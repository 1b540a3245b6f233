"""Statistics over benchmark runs with rliable: stratified-bootstrap confidence intervals, IQM and the
probability of improvement.

Scores are arranged as rliable expects, one matrix per agent of shape ``[runs, tasks]``: the
seeds are the runs and the folds (held-out speakers) the tasks, so the bootstrap resamples seeds
within each fold.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping, Sequence

import numpy as np
import pandas as pd

__all__ = ["score_matrix", "interval_table", "improvement_table"]


def score_matrix(runs: pd.DataFrame, agent: str, measure: str) -> np.ndarray:
    """``measure`` of ``agent``'s runs as a ``[seeds, folds]`` matrix (folds and seeds in sorted order)."""
    table = runs[runs["agent"] == agent].pivot(index="seed", columns="fold", values=measure)
    if table.isna().any().any():
        raise ValueError(f"agent {agent!r}: some (seed, fold) runs of {measure!r} are missing")
    return table.sort_index().sort_index(axis=1).to_numpy(np.float64)


def _estimates(scores: Mapping[str, np.ndarray | tuple[np.ndarray, ...]], func: Callable[..., np.ndarray], reps: int,
               seed: int) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    # rliable's stratified resampling draws from NumPy's global generator (its random_state only reaches
    # arch, which deprecates it): seed the global one for the call and put its state back afterwards.
    state = np.random.get_state()
    try:
        np.random.seed(seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            from rliable import library  # the benchmark extra: imported where it is used

            return library.get_interval_estimates(scores, func, reps=reps, random_state=np.random.RandomState(seed))
    finally:
        np.random.set_state(state)


def interval_table(runs: pd.DataFrame, agents: Sequence[str], measures: Sequence[str], *, reps: int = 1000,
                   seed: int = 0) -> pd.DataFrame:
    """Per agent and measure: the mean over runs, the IQM, and their 95 % stratified-bootstrap intervals
    (``<measure>``, ``<measure>_low``, ``<measure>_high``, ``<measure>_iqm``, ``<measure>_iqm_low``, ...)."""
    from rliable import metrics

    rows: dict[str, dict[str, float]] = {agent: {} for agent in agents}
    for measure in measures:
        scores = {agent: score_matrix(runs, agent, measure) for agent in agents}
        points, intervals = _estimates(
            scores, lambda x: np.array([metrics.aggregate_mean(x), metrics.aggregate_iqm(x)]), reps, seed)
        for agent in agents:
            for i, suffix in enumerate(("", "_iqm")):
                rows[agent][f"{measure}{suffix}"] = float(points[agent][i])
                rows[agent][f"{measure}{suffix}_low"] = float(intervals[agent][0, i])
                rows[agent][f"{measure}{suffix}_high"] = float(intervals[agent][1, i])
    return pd.DataFrame([{"agent": agent, **row} for agent, row in rows.items()])


def improvement_table(runs: pd.DataFrame, agents: Sequence[str], baselines: Sequence[str], measure: str, *,
                      reps: int = 1000, seed: int = 0) -> pd.DataFrame:
    """For every agent against every baseline (itself excluded): the probability that a run of the agent
    scores higher on ``measure`` than a run of the baseline on the same fold (averaged over folds), and
    the difference of their means, each with its 95 % stratified-bootstrap interval."""
    pairs = {f"{a}|{b}": (score_matrix(runs, a, measure), score_matrix(runs, b, measure))
             for a in agents for b in baselines if a != b}
    if not pairs:
        return pd.DataFrame(columns=["agent", "baseline"])
    from rliable import metrics

    poi, poi_ci = _estimates(pairs, metrics.probability_of_improvement, reps, seed)
    diff, diff_ci = _estimates(pairs, lambda x, y: np.array([x.mean() - y.mean()]), reps, seed)
    rows = []
    for pair in pairs:
        agent, baseline = pair.split("|")
        rows.append({"agent": agent, "baseline": baseline,
                     "probability_of_improvement": float(np.ravel(poi[pair])[0]),
                     "probability_of_improvement_low": float(np.ravel(poi_ci[pair])[0]),
                     "probability_of_improvement_high": float(np.ravel(poi_ci[pair])[1]),
                     f"{measure}_difference": float(np.ravel(diff[pair])[0]),
                     f"{measure}_difference_low": float(np.ravel(diff_ci[pair])[0]),
                     f"{measure}_difference_high": float(np.ravel(diff_ci[pair])[1])})
    return pd.DataFrame(rows)
