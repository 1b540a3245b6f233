"""The cap of every policy that sees only the beliefs and the time: the best stopping rule over (top class
probability, step) that the training split supports, by backward induction on its realised paths.

The top probability is cut, at each step, into ``bins`` groups of equal size; a policy of (step, group)
answers or waits in each cell. Backward induction on the training clips' own paths (Longstaff and
Schwartz, Review of Financial Studies 2001, with the cells' indicators as the regression basis) gives,
exactly, the in-sample best such policy: at the last steps first, each cell answers when the mean return
of answering there is at least the mean return its clips realise by waiting under the later decisions.
The number of groups is chosen by leave-one-speaker-out cross-validation on the training split (finer
cells fit the training clips better and generalise worse). With a deadline and calibrated beliefs the
best rule is a threshold on the posterior that falls over time (Frazier and Yu, NeurIPS 2007); this one
is free to take any shape.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import torch

from agents.baselines import _RulePolicy
from agents.stopping import BeliefPaths, bin_index, check_counts, quantile_edges, step_of

__all__ = ["BinnedRule", "DPConfig", "DPPolicy"]


class BinnedRule(_RulePolicy):
    """A rule that answers or waits by a table over (step, group of the top class probability), fitted on the
    training split by :meth:`table` with ``config.bins`` groups (tuned over ``config.bin_candidates`` when
    unset, by :meth:`score_bins`: leave-one-speaker-out on the training split)."""

    tuned = {"bins": "bin_candidates"}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._edges: np.ndarray | None = None  # [steps, bins - 1]
        self._stop: np.ndarray | None = None  # [steps, bins] bool
        self._horizon = 0

    def table(self, paths: BeliefPaths, bins: int) -> tuple[np.ndarray, np.ndarray]:
        """The group edges ``[T, bins - 1]`` and the answer table ``[T, bins]`` fitted on ``paths``."""
        raise NotImplementedError

    def score_bins(self, paths: BeliefPaths, bins: int) -> float:
        """The mean return of ``bins`` groups on ``paths`` by leave-one-speaker-out (each speaker's clips under
        the table fitted on the others; five interleaved folds of clips when there is one speaker): more
        groups always fit the clips they are fitted on better, so tuning must score other clips."""
        speakers = np.unique(paths.speakers)
        folds = (paths.speakers[:, None] == speakers[None, :] if len(speakers) > 1
                 else np.arange(len(paths.length))[:, None] % 5 == np.arange(5)[None, :])
        returns = np.zeros(len(paths.length))
        for held in folds.T[folds.any(axis=0)]:
            fitted, scored = paths.subset(~held), paths.subset(held)
            returns[held] = scored.returns(scored.stops(self.lookup(scored, *self.table(fitted, bins))))
        return float(returns.mean())

    @staticmethod
    def lookup(paths: BeliefPaths, edges: np.ndarray, stop: np.ndarray) -> np.ndarray:
        """``[N, T]``: where the table answers on ``paths``."""
        step = np.minimum(paths.steps(), len(stop) - 1)
        return stop[step, bin_index(paths.probs.max(axis=2), edges[step])]

    def learn(self, env_kwargs: Mapping[str, Any], total_steps: int, monitor: Any = None) -> None:
        """Tune ``bins`` if unset, then fit the table on the split of ``env_kwargs`` (the training split)."""
        self.fit(BeliefPaths.from_env(env_kwargs))

    def fit(self, paths: BeliefPaths) -> None:
        """Tune ``bins`` if unset, then fit the table, on ``paths``."""
        if self.config.bins is None:
            self.tuning = pd.DataFrame([{"bins": int(bins), "mean_return": self.score_bins(paths, int(bins))}
                                        for bins in self.config.bin_candidates])
            self.config = dataclasses.replace(self.config,
                                              bins=int(self.tuning.loc[self.tuning["mean_return"].idxmax(), "bins"]))
        self._edges, self._stop = self.table(paths, int(self.config.bins))
        self._horizon = paths.horizon

    def ready(self, probs: np.ndarray, time: np.ndarray) -> np.ndarray:
        if self._stop is None or self._edges is None:
            raise ValueError(f"agent {self.name!r} is not fitted: run learn() on the training split first")
        step = np.minimum(step_of(time, self._horizon), len(self._stop) - 1)
        answer: np.ndarray = self._stop[step, bin_index(probs.max(axis=1), self._edges[step])]
        return answer

    def state_dict(self) -> dict[str, torch.Tensor]:
        if self._stop is None or self._edges is None:
            return {}
        return {"edges": torch.from_numpy(self._edges), "stop": torch.from_numpy(self._stop),
                "horizon": torch.tensor(self._horizon)}

    def load_state_dict(self, state: Mapping[str, torch.Tensor]) -> None:
        if state:
            self._edges, self._stop = state["edges"].numpy(), state["stop"].numpy().astype(bool)
            self._horizon = int(state["horizon"])


@dataclass
class DPConfig:
    bins: int | None = None
    """Groups of the top class probability at each step (equal-sized on the training split); None = tuned."""
    bin_candidates: list[int] = field(default_factory=lambda: [1, 2, 3, 4, 5, 6, 8, 10, 12, 16, 20, 24, 32])
    """The group counts tried (scored leave-one-speaker-out on the training split)."""

    def __post_init__(self) -> None:
        check_counts("bins", None if self.bins is None else [self.bins])
        check_counts("bin_candidates", self.bin_candidates)


class DPPolicy(BinnedRule):
    """The best (top probability, step) policy the training split supports, by backward induction (the cap
    for every policy that sees only beliefs and time; see the module docstring)."""

    name = "dp"
    Config = DPConfig

    def table(self, paths: BeliefPaths, bins: int) -> tuple[np.ndarray, np.ndarray]:
        top, free, answer = paths.probs.max(axis=2), paths.free, paths.answer
        edges = quantile_edges(top, free, bins)
        group = bin_index(top, edges)
        stop = np.ones((top.shape[1], bins), dtype=bool)
        value = answer[np.arange(len(top)), paths.length - 1]  # each clip's return under the later decisions
        for t in range(top.shape[1] - 2, -1, -1):
            rows = free[:, t]
            waiting = np.bincount(group[rows, t], weights=value[rows] - answer[rows, t], minlength=bins)
            stop[t] = waiting <= 0  # answer unless waiting gains on average (an empty cell answers)
            value = np.where(rows & stop[t, group[:, t]], answer[:, t], value)
        return edges, stop
