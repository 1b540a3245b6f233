"""Rule baselines: answer at the end, at a fixed time, past a confidence threshold (fixed or falling with
time), at random; their parameters are tuned on the training split for the learners' objective.

The rules read the temporal model's class probabilities and the time observed from the
observation (``belief`` and ``probs`` modes end with ``[probs (K), time]``, time = steps seen
/ the store's longest clip, see ``emo_env.envs.observations``) and answer with the argmax class.
Every one of them answers at the last step, where waiting is not allowed.

A rule's parameter left unset (``None``) is *tuned* by :meth:`Policy.learn` on the split ``learn`` is
given (the training split) for the highest mean return, the quantity the learners maximise: over the
continuum by default (:func:`agents.stopping.best_threshold` finds the best threshold on any score
exactly; a parameter it cannot search exactly goes through a grid refined around its best point until
a finer one gains nothing), or over the candidates listed in the config, each evaluated in the env.
The threshold sweep run on the held-out split is the *oracle* curve (:func:`threshold_sweep` with
``split="eval"``): it is tuned on the test speaker and is labelled so wherever it appears.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

import numpy as np
import pandas as pd
import torch

from agents.evaluation import evaluate
from agents.policy import Policy, PolicySpec
from agents.stopping import BeliefPaths, best_threshold, check_positive, grid_search

__all__ = ["THRESHOLDS", "EndPolicy", "FixedTimePolicy", "ThresholdPolicy", "TimeThresholdPolicy",
           "RandomPolicy", "probs_and_time", "sweep", "threshold_sweep"]

#: Confidence thresholds of the oracle sweep.
THRESHOLDS = (0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.925, 0.95,
              0.975, 0.99, 0.999)


_Array = TypeVar("_Array", np.ndarray, torch.Tensor)


def probs_and_time(obs: _Array, spec: PolicySpec) -> tuple[_Array, _Array]:
    """The class probabilities ``[B, K]`` and time observed ``[B]`` held in a belief/probs observation."""
    k = spec.num_classes
    return obs[:, -k - 1 : -1], obs[:, -1]


def sweep(cls: type[Policy], spec: PolicySpec, configs: Sequence[Mapping[str, Any]], env_kwargs: Mapping[str, Any],
          split: str) -> pd.DataFrame:
    """One row per config of ``cls``: the config's values and the metrics of one pass over ``split``."""
    rows = [{**config, **evaluate(cls(spec, config), env_kwargs, split).metrics.summary()} for config in configs]
    return pd.DataFrame(rows)


def threshold_sweep(spec: PolicySpec, env_kwargs: Mapping[str, Any], thresholds: Sequence[float] = THRESHOLDS,
                    split: str = "eval") -> pd.DataFrame:
    """The threshold rule at every threshold on ``split``, sorted by earliness (on ``eval``: the oracle curve)."""
    table = sweep(ThresholdPolicy, spec, [{"threshold": float(t)} for t in thresholds], env_kwargs, split)
    return table.sort_values(["earliness", "accuracy"]).reset_index(drop=True)


class _RulePolicy(Policy):
    """Answer with the most probable class once :meth:`ready` says so (or waiting is not allowed)."""

    obs_modes: ClassVar[tuple[str, ...]] = ("belief", "probs")
    default_total_steps: ClassVar[int] = 0
    #: Parameters tuned by :meth:`learn` when the config leaves them unset: parameter -> its candidates field
    #: (a list tried in the env, or None: the continuous search of :meth:`search`).
    tuned: ClassVar[Mapping[str, str]] = {}
    #: The candidates tried by the last :meth:`learn` and their metrics on its split (``None`` before).
    tuning: pd.DataFrame | None = None

    def ready(self, probs: np.ndarray, time: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def act(self, obs: np.ndarray, mask: np.ndarray) -> np.ndarray:
        unset = self._unset()
        if unset:
            raise ValueError(f"agent {self.name!r}: {', '.join(unset)} unset; tune it with learn() on the training "
                             "split or set it in the config")
        probs, time = probs_and_time(np.asarray(obs, dtype=np.float64), self.spec)  # as tuned: in float64
        answer = self.ready(probs, time) | (np.asarray(mask)[:, 0] == 0)
        return np.where(answer, 1 + probs.argmax(axis=1), 0).astype(np.int64)

    def learn(self, env_kwargs: Mapping[str, Any], total_steps: int, monitor: Any = None) -> None:
        """Set the unset parameters, jointly, to the values with the highest mean return on the split of
        ``env_kwargs`` (the training split): the candidates the config lists if it lists them for every unset
        parameter (the first best one wins a tie), else those :meth:`search` finds."""
        unset = self._unset()
        if not unset:
            return
        split = env_kwargs.get("split", "train")
        candidates = [getattr(self.config, self.tuned[name]) for name in unset]
        if all(values is not None for values in candidates):
            settings = {name: getattr(self.config, name) for name in self.tuned}
            configs = [{**settings, **dict(zip(unset, map(float, values), strict=True))}
                       for values in itertools.product(*candidates)]
            self.tuning = sweep(type(self), self.spec, configs, env_kwargs, split)
        else:
            self.tuning = self.search(BeliefPaths.from_env(env_kwargs, split), unset)
        best = self.tuning.loc[self.tuning["mean_return"].idxmax()]
        self.config = dataclasses.replace(self.config, **{name: float(best[name]) for name in unset})

    def search(self, paths: BeliefPaths, unset: list[str]) -> pd.DataFrame:
        """The values of the ``unset`` parameters tried on ``paths``, one row each with its ``mean_return``."""
        raise NotImplementedError(f"agent {self.name!r} tunes over listed candidates only")

    def _unset(self) -> list[str]:
        return [name for name in self.tuned if getattr(self.config, name) is None]


class EndPolicy(_RulePolicy):
    """Wait until the last step, then answer with the temporal model's argmax (full-clip accuracy)."""

    name = "end"

    def ready(self, probs: np.ndarray, time: np.ndarray) -> np.ndarray:
        return np.zeros(len(probs), dtype=bool)


@dataclass
class FixedTimeConfig:
    time: float | None = None
    """Answer once the time observed (steps / the store's longest clip) reaches this; None = tuned."""
    candidates: list[float] | None = None
    """The times tried when tuning; None = every time (an exact search)."""


class FixedTimePolicy(_RulePolicy):
    """Answer at a fixed step: once the time observed reaches a fixed share of the longest clip
    (a live stream does not know how long the utterance will last, so not a share of *this* clip)."""

    name = "fixed"
    Config = FixedTimeConfig
    tuned = {"time": "candidates"}

    def ready(self, probs: np.ndarray, time: np.ndarray) -> np.ndarray:
        return time >= self.config.time

    def search(self, paths: BeliefPaths, unset: list[str]) -> pd.DataFrame:
        time, mean = best_threshold(paths, paths.time, 0.0, 1.0)
        return pd.DataFrame([{"time": time, "mean_return": mean}])


@dataclass
class ThresholdConfig:
    threshold: float | None = None
    """Answer once the top class probability reaches this; None = tuned."""
    candidates: list[float] | None = None
    """The thresholds tried when tuning; None = every threshold in [0, 1] (an exact search)."""


class ThresholdPolicy(_RulePolicy):
    """Answer once the temporal model's top class probability reaches a threshold."""

    name = "threshold"
    Config = ThresholdConfig
    tuned = {"threshold": "candidates"}

    def ready(self, probs: np.ndarray, time: np.ndarray) -> np.ndarray:
        return probs.max(axis=1) >= self.config.threshold

    def search(self, paths: BeliefPaths, unset: list[str]) -> pd.DataFrame:
        threshold, mean = best_threshold(paths, paths.probs.max(axis=2), 0.0, 1.0)
        return pd.DataFrame([{"threshold": threshold, "mean_return": mean}])


@dataclass
class TimeThresholdConfig:
    start: float | None = None
    """Top class probability needed at time 0; None = tuned."""
    end: float | None = None
    """Top class probability needed at time 1 (the longest clip), linear in between; None = tuned."""
    start_candidates: list[float] | None = None
    """Start values tried when tuning; None = searched in [0, 2], exactly given the end (above 1: no early answer)."""
    end_candidates: list[float] | None = None
    """End values tried when tuning; None = searched in [0, 1] (a grid refined around its best value)."""
    grid_step: float = 0.02
    """Step of the first grid of end values when both are tuned, before its refinement."""

    def __post_init__(self) -> None:
        check_positive("grid_step", self.grid_step)


class TimeThresholdPolicy(_RulePolicy):
    """Answer once the top class probability reaches a threshold that moves linearly with the time
    observed, from ``start`` to ``end`` (usually falling: demand less confidence as time runs out)."""

    name = "time-threshold"
    Config = TimeThresholdConfig
    tuned = {"start": "start_candidates", "end": "end_candidates"}

    def ready(self, probs: np.ndarray, time: np.ndarray) -> np.ndarray:
        start, end = self.config.start, self.config.end
        return probs.max(axis=1) >= start + (end - start) * np.minimum(time, 1.0)

    def search(self, paths: BeliefPaths, unset: list[str]) -> pd.DataFrame:
        # On a step where waiting is allowed the time is below 1, so "top >= start + (end - start) time" is
        # a threshold on (top - end time) / (1 - time) for the start, on (top - start (1 - time)) / time
        # for the end.
        top, time = paths.probs.max(axis=2), np.minimum(paths.time, 1 - 1e-9)

        def given_end(end: float) -> dict[str, float]:
            start, mean = best_threshold(paths, (top - end * time) / (1 - time), 0.0, 2.0)
            return {"start": start, "end": end, "mean_return": mean}

        if unset == ["end"]:
            start = float(self.config.start)  # type: ignore[arg-type]  # set: not in unset
            end, mean = best_threshold(paths, (top - start * (1 - time)) / time, 0.0, 1.0)
            return pd.DataFrame([{"start": start, "end": end, "mean_return": mean}])
        if "end" not in unset:
            return pd.DataFrame([given_end(float(self.config.end))])  # type: ignore[arg-type]
        if self.config.end_candidates is not None:
            return pd.DataFrame([given_end(float(end)) for end in self.config.end_candidates])
        return grid_search(given_end, [(0.0, 1.0)], self.config.grid_step).drop(columns="x0")


class RandomPolicy(Policy):
    """A uniformly random allowed action at every step."""

    name = "random"
    default_total_steps: ClassVar[int] = 0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._rng = np.random.default_rng(self.seed)

    def act(self, obs: np.ndarray, mask: np.ndarray) -> np.ndarray:
        allowed = np.asarray(mask, dtype=bool)
        # Random scores, then the highest allowed one: uniform over the allowed actions of each row.
        scores = np.where(allowed, self._rng.random(allowed.shape), -1.0)
        return scores.argmax(axis=1).astype(np.int64)
