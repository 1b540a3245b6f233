"""A split's stopping problem as arrays: every clip's class probabilities and time at every step, and the
return of answering at each step, so a stopping rule is tuned on a whole split by array operations.

The returns are the env's own (:class:`~emo_env.envs.episodes.Episodes` builds both): answering at step
``t`` with the most probable class earns the correct or wrong reward, less every wait cost paid before
``t``; the last step of a clip forces the answer. :func:`best_threshold` finds, exactly, the threshold
on any per-step score that maximises the mean return of "answer at the first step whose score reaches
it": the continuous search every threshold-like rule is tuned with.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from emo_env.envs.env_config import EnvConfig
from emo_env.envs.episodes import Episodes, open_store
from emo_env.envs.observations import horizon_steps

__all__ = ["BeliefPaths", "best_threshold", "quantile_edges", "bin_index", "step_of", "top_two",
           "grid_search", "check_counts", "check_positive"]


@dataclass(frozen=True)
class BeliefPaths:
    """One split's clips as ``[N, T]`` paths (``T`` their longest length; past a clip's end its last step
    repeats): class probabilities ``probs [N, T, K]`` (float64 of the observation's float32), the time
    observed ``time [N, T]``, ``reward [N, T]`` of answering at each step with the most probable class,
    ``paid [N, T]``, the wait costs paid before each step, ``length [N]``,
    ``labels [N]``, ``speakers [N]`` and ``horizon``, the store's longest clip (the time scale)."""

    probs: np.ndarray
    time: np.ndarray
    reward: np.ndarray
    paid: np.ndarray
    length: np.ndarray
    labels: np.ndarray
    speakers: np.ndarray
    horizon: int

    @classmethod
    def from_env(cls, env_kwargs: Mapping[str, Any], split: str | None = None) -> BeliefPaths:
        """The paths of ``split`` (default: ``env_kwargs``'s, else ``train``) of the env ``env_kwargs`` describes."""
        store = open_store(env_kwargs.get("store"))
        settings = {key: value for key, value in env_kwargs.items() if key in EnvConfig.names()}
        settings.update(obs_mode="probs", modality=None, split=split or env_kwargs.get("split", "train"))
        episodes = Episodes(store, EnvConfig.from_kwargs(**settings))
        k = store.num_classes
        length = store.lengths[episodes.clips]
        steps = np.arange(int(length.max()))
        rows = episodes.offsets[episodes.clips][:, None] + np.minimum(steps[None, :], length[:, None] - 1)
        obs = episodes.observations[rows].astype(np.float64)
        probs, time = obs[..., -k - 1 : -1], obs[..., -1]
        labels = store.labels[episodes.clips]
        config = episodes.config
        reward = np.where(probs.argmax(axis=2) == labels[:, None], config.correct_reward, config.wrong_reward)
        waits = np.where(steps[None, :] < length[:, None], -episodes.wait_reward[rows], 0.0)
        paid = np.cumsum(waits, axis=1) - waits  # wait costs paid before each step
        speakers = np.asarray(store.speakers)[episodes.clips]
        return cls(probs, time, reward, paid, length, labels, speakers, horizon_steps(store))

    @property
    def answer(self) -> np.ndarray:
        """``[N, T]``: the return of answering at each step (its reward less the wait costs paid before it)."""
        answer: np.ndarray = self.reward - self.paid
        return answer

    @property
    def free(self) -> np.ndarray:
        """``[N, T]``: steps where waiting is allowed (all but each clip's last and the padding)."""
        return np.arange(self.time.shape[1])[None, :] < self.length[:, None] - 1

    @property
    def alive(self) -> np.ndarray:
        """``[N, T]``: the clips' real steps (not the padding)."""
        return np.arange(self.time.shape[1])[None, :] < self.length[:, None]

    def steps(self) -> np.ndarray:
        """``[N, T]`` step index of every cell (what the time observed encodes)."""
        return np.broadcast_to(np.arange(self.time.shape[1])[None, :], self.time.shape)

    def stops(self, ready: np.ndarray) -> np.ndarray:
        """The step each clip is answered at under ``ready [..., N, T]``: its first ready step, or its last."""
        ready = np.asarray(ready, dtype=bool) | ~self.free
        stops: np.ndarray = ready.argmax(axis=-1)
        return stops

    def returns(self, stops: np.ndarray) -> np.ndarray:
        """The return of every clip answered at ``stops [..., N]``."""
        picked: np.ndarray = self.answer[np.arange(len(self.length)), stops]
        return picked

    def mean_return(self, ready: np.ndarray) -> float:
        """The mean return of answering at the first ready step of ``ready [N, T]`` (the env's figure)."""
        return float(self.returns(self.stops(ready)).mean())

    def hindsight(self) -> dict[str, float]:
        """The clairvoyant: every clip answered at its best step in hindsight (knowing its label and its
        future; the first step of highest return). No stopping rule on these beliefs does better. Its
        ``mean_return``, ``accuracy`` and ``earliness`` (mean fraction of the clip observed)."""
        stops = np.where(self.alive, self.answer, -np.inf).argmax(axis=1)
        clips = np.arange(len(self.length))
        return {"mean_return": float(self.answer[clips, stops].mean()),
                "accuracy": float((self.probs[clips, stops].argmax(axis=1) == self.labels).mean()),
                "earliness": float(((stops + 1) / self.length).mean())}

    def subset(self, rows: np.ndarray) -> BeliefPaths:
        """The clips ``rows`` selects (a boolean mask or indices)."""
        return BeliefPaths(self.probs[rows], self.time[rows], self.reward[rows], self.paid[rows], self.length[rows],
                           self.labels[rows], self.speakers[rows], self.horizon)


def best_threshold(paths: BeliefPaths, score: np.ndarray, low: float = -np.inf,
                   high: float = np.inf) -> tuple[float, float]:
    """The threshold ``theta`` in ``[low, high]`` whose rule "answer at the first step with ``score >= theta``"
    has the highest mean return on ``paths``, and that return: an exact search over the continuum.

    The mean return is a step function of ``theta`` that changes only where ``theta`` crosses a clip's
    record score (a score above every earlier one of its clip), so every interval between two records
    is scored once; the middle of the best interval is returned (its lowest one on a tie)."""
    score = np.where(paths.free, np.asarray(score, dtype=np.float64), -np.inf)
    n = len(paths.length)
    final = paths.answer[np.arange(n), paths.length - 1]
    before = np.concatenate([np.full((n, 1), -np.inf), np.maximum.accumulate(score, axis=1)[:, :-1]], axis=1)
    clip, step = np.nonzero(score > before)  # records, by clip then step
    value = score[clip, step]
    gain = paths.answer[clip, step]
    # Lowering theta past a record moves its clip's answer from the next record's step (or the last) to it.
    later = np.append(gain[1:], 0.0)
    later = np.where(np.append(clip[1:] == clip[:-1], False), later, final[clip])
    order = np.argsort(-value, kind="stable")
    values, change = value[order], (gain - later)[order]
    # The total above each distinct record value, then at it (every record >= theta has moved).
    distinct, first = np.unique(-values, return_index=True)
    distinct = -distinct  # descending
    totals = final.sum() + np.cumsum(change)[(np.append(first[1:], len(values)) - 1)[: len(distinct)]]
    # Intervals (lower, upper]: above the highest record, then between consecutive records, then below all.
    uppers = np.concatenate([[np.inf], distinct])
    lowers = np.concatenate([distinct, [-np.inf]])
    means = np.concatenate([[final.sum()], totals]) / n
    lo, hi = np.maximum(lowers, low), np.minimum(uppers, high)
    inside = (lowers < high) & (uppers >= low) & (lo <= hi)
    with np.errstate(invalid="ignore"):
        thetas = np.where(np.isfinite(lo) & np.isfinite(hi), (lo + hi) / 2,
                          np.where(np.isfinite(hi), hi - 1.0, np.where(np.isfinite(lo), lo + 1.0, 0.0)))
    candidates = np.flatnonzero(inside)
    if len(candidates) == 0:
        raise ValueError(f"no threshold in [{low}, {high}]")
    best = candidates[np.lexsort((thetas[candidates], -means[candidates]))[0]]
    return float(thetas[best]), float(means[best])


def quantile_edges(values: np.ndarray, valid: np.ndarray, bins: int) -> np.ndarray:
    """``[T, bins - 1]`` edges cutting each step's valid ``values [N, T]`` into ``bins`` groups of equal size
    (a step with no valid value copies the previous step's edges)."""
    edges = np.zeros((values.shape[1], bins - 1))
    quantiles = np.arange(1, bins) / bins
    for t in range(values.shape[1]):
        column = values[valid[:, t], t]
        edges[t] = np.quantile(column, quantiles) if len(column) else edges[t - 1] if t else 0.5
    return edges


def bin_index(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """The group of each value ``[...]`` under its edges ``[..., bins - 1]`` (broadcast; values on an edge go up)."""
    index: np.ndarray = (values[..., None] >= edges).sum(axis=-1)
    return index


def step_of(time: np.ndarray, horizon: int) -> np.ndarray:
    """The 0-based step a time observed ``min((t + 1) / horizon, 1)`` encodes."""
    step: np.ndarray = np.rint(np.asarray(time, dtype=np.float64) * horizon).astype(np.int64) - 1
    return np.maximum(step, 0)


def top_two(probs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The top class probability and its margin over the second, over the last axis."""
    ordered = np.sort(probs, axis=-1)
    top: np.ndarray = ordered[..., -1]
    margin: np.ndarray = ordered[..., -1] - ordered[..., -2]
    return top, margin


def grid_search(score: Callable[..., dict[str, float]], bounds: Sequence[tuple[float, float]], step: float,
                tolerance: float = 1e-4) -> pd.DataFrame:
    """Every point tried by a grid of ``step`` over the box ``bounds``, then by ever finer grids (a quarter of
    the step, 9 points per axis) around the best point until the step is below ``tolerance``.

    ``score(*point)`` gives a row (its ``mean_return``, the parameters it stands for and whatever it tuned
    exactly); one row per point tried, with the point's coordinates as ``x0, x1, ...`` too."""
    rows: dict[tuple[float, ...], dict[str, float]] = {}

    def visit(axes: Sequence[np.ndarray]) -> tuple[float, ...]:
        for point in itertools.product(*(np.round(axis, 10) for axis in axes)):
            if point not in rows:
                rows[point] = {**{f"x{i}": float(v) for i, v in enumerate(point)}, **score(*map(float, point))}
        return max(rows, key=lambda p: (rows[p]["mean_return"], tuple(-v for v in p)))

    best = visit([np.linspace(lo, hi, int(round((hi - lo) / step)) + 1) for lo, hi in bounds])
    while step >= tolerance:
        step /= 4
        best = visit([np.clip(center + step * np.arange(-4, 5), lo, hi) for center, (lo, hi) in zip(best, bounds,
                                                                                                   strict=True)])
    return pd.DataFrame(list(rows.values()))


def check_counts(name: str, values: Sequence[Any] | None) -> None:
    """``values`` (a setting's list of counts; ``None`` passes) must be whole numbers >= 1, at least one."""
    if values is None:
        return
    if not values or any(isinstance(v, bool) or not isinstance(v, (int, float)) or v < 1 or v != int(v)
                         for v in values):
        raise ValueError(f"{name} must be whole numbers >= 1 (at least one), got {values!r}")


def check_positive(name: str, value: float | None) -> None:
    """``value`` (``None`` passes) must be a number above 0."""
    if value is not None and not value > 0:
        raise ValueError(f"{name} must be > 0, got {value!r}")
