"""The published early-classification rules, written from their papers, on the env's beliefs: each reads
the calibrated class probabilities and the time observed, answers with the most probable class, and is
tuned (or fitted) on the training split for the env's return, with its wait costs and rewards.

- :class:`SR1Policy`: Mori et al.'s linear stopping rule in top probability, top-two margin and time.
- :class:`TeaserPolicy`: TEASER's answer after ``v`` consecutive confident, agreeing steps.
- :class:`EconomyPolicy`: ECONOMY-gamma's expected return of each future answering time, by a Markov chain
  over confidence groups.
- :class:`CalimeraPolicy`: CALIMERA's per-step regression of the gain of waiting, by backward induction.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import torch

from agents.baselines import _RulePolicy
from agents.dp import BinnedRule
from agents.stopping import (
    BeliefPaths,
    best_threshold,
    bin_index,
    check_counts,
    check_positive,
    grid_search,
    quantile_edges,
    step_of,
    top_two,
)

__all__ = ["SR1Config", "SR1Policy", "TeaserConfig", "TeaserPolicy", "EconomyConfig", "EconomyPolicy",
           "CalimeraConfig", "CalimeraPolicy"]

_GAMMAS = ("gamma1", "gamma2", "gamma3")


@dataclass
class SR1Config:
    gamma1: float | None = None
    """Weight of the top class probability, in [-1, 1]; None = tuned."""
    gamma2: float | None = None
    """Weight of the margin of the top class over the second, in [-1, 1]; None = tuned."""
    gamma3: float | None = None
    """Weight of the time observed, in [-1, 1]; None = tuned (exactly, given the other two)."""
    gamma_candidates: list[float] | None = None
    """Values tried for every unset weight (a grid run in the env); None = the search of the docstring."""
    grid_step: float = 0.1
    """Step of the first grid over (gamma1, gamma2), before its refinement."""

    def __post_init__(self) -> None:
        check_positive("grid_step", self.grid_step)


class SR1Policy(_RulePolicy):
    """Mori's stopping rule SR1: answer once ``gamma1 p1 + gamma2 (p1 - p2) + gamma3 t > 0`` (``p1``, ``p2``
    the two highest class probabilities, ``t`` the time observed), the gammas in [-1, 1] tuned on the
    training split for the mean return.

    Mori, Mendiburu, Dasgupta and Lozano, "Early classification of time series by simultaneously optimizing
    the accuracy and earliness", IEEE Transactions on Neural Networks and Learning Systems 29(10), 2018
    (the classes-over-time probabilities follow Mori, Mendiburu, Keogh and Lozano, Data Mining and
    Knowledge Discovery 31, 2017). The paper tunes the gammas on a grid; here (gamma1, gamma2) run through
    a grid refined around its best point and gamma3 is found exactly for each, since the rule is a
    threshold on ``(gamma1 p1 + gamma2 (p1 - p2)) / t`` at ``-gamma3``."""

    name = "sr1"
    Config = SR1Config
    tuned: ClassVar[Mapping[str, str]] = dict.fromkeys(_GAMMAS, "gamma_candidates")

    def ready(self, probs: np.ndarray, time: np.ndarray) -> np.ndarray:
        top, margin = top_two(probs)
        c = self.config
        answer: np.ndarray = c.gamma1 * top + c.gamma2 * margin + c.gamma3 * time > 0
        return answer

    def search(self, paths: BeliefPaths, unset: list[str]) -> pd.DataFrame:
        top, margin = top_two(paths.probs)
        set_values = {name: float(getattr(self.config, name)) for name in _GAMMAS if name not in unset}
        on_grid = [name for name in ("gamma1", "gamma2") if name in unset]

        def score(*values: float) -> dict[str, float]:
            g: dict[str, float] = {**set_values, **dict(zip(on_grid, values, strict=True))}
            if "gamma3" in unset:
                theta, mean = best_threshold(paths, (g["gamma1"] * top + g["gamma2"] * margin) / paths.time, -1, 1)
                return {**g, "gamma3": -theta, "mean_return": mean}
            ready = g["gamma1"] * top + g["gamma2"] * margin + g["gamma3"] * paths.time > 0
            return {**g, "mean_return": paths.mean_return(ready)}

        if not on_grid:
            return pd.DataFrame([score()])
        table = grid_search(score, [(-1.0, 1.0)] * len(on_grid), self.config.grid_step)
        return table.drop(columns=[f"x{i}" for i in range(len(on_grid))])


@dataclass
class TeaserConfig:
    threshold: float | None = None
    """A step is confident when its top class probability reaches this; None = tuned."""
    agreement: int | None = None
    """Answer after this many consecutive confident steps with the same top class (TEASER's v); None = tuned."""
    threshold_candidates: list[float] | None = None
    """Thresholds tried (a grid run in the env, with agreement_candidates); None = an exact search in [0, 1]."""
    agreement_candidates: list[int] = field(default_factory=lambda: list(range(1, 11)))
    """Values of the agreement tried."""

    def __post_init__(self) -> None:
        check_counts("agreement", None if self.agreement is None else [self.agreement])
        check_counts("agreement_candidates", self.agreement_candidates)


class TeaserPolicy(_RulePolicy):
    """TEASER-style agreement: answer once the last ``agreement`` steps were all confident (top class
    probability at least ``threshold``) and named the same class; both tuned on the training split.

    Schafer and Leser, "TEASER: early and accurate time series classification", Data Mining and Knowledge
    Discovery 34, 2020. TEASER's per-step one-class SVMs, which judge a prediction trustworthy, are
    replaced by a threshold on the calibrated top probability; its ``v`` consecutive agreeing accepted
    predictions are kept. For each ``v`` the threshold is found exactly: the rule answers when the lowest
    top probability of the last ``v`` steps, if they agree, reaches it.

    The policy remembers each row's streak between calls: :meth:`reset` forgets the rows whose episode
    starts, and a row whose time observed does not advance is taken to start a new clip."""

    name = "teaser"
    Config = TeaserConfig
    tuned = {"threshold": "threshold_candidates", "agreement": "agreement_candidates"}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._streak = np.zeros(0, dtype=np.int64)
        self._last_class = np.zeros(0, dtype=np.int64)
        self._last_time = np.zeros(0)

    def reset(self, episode_start: np.ndarray) -> None:
        self._ensure_rows(len(episode_start))
        self._last_time[np.asarray(episode_start, dtype=bool)] = np.inf

    def _ensure_rows(self, rows: int) -> None:
        if len(self._streak) != rows:
            self._streak = np.zeros(rows, dtype=np.int64)
            self._last_class = np.full(rows, -1, dtype=np.int64)
            self._last_time = np.full(rows, np.inf)

    def ready(self, probs: np.ndarray, time: np.ndarray) -> np.ndarray:
        """Whether each row has its streak (updates the rows' memory: call once per step)."""
        self._ensure_rows(len(probs))
        fresh = time <= self._last_time
        self._streak[fresh], self._last_class[fresh] = 0, -1
        top, current = probs.max(axis=1), probs.argmax(axis=1)
        confident = top >= self.config.threshold
        self._streak = np.where(confident, np.where(current == self._last_class, self._streak + 1, 1), 0)
        self._last_class, self._last_time = current, np.asarray(time, dtype=np.float64).copy()
        answer: np.ndarray = self._streak >= self.config.agreement
        return answer

    def search(self, paths: BeliefPaths, unset: list[str]) -> pd.DataFrame:
        top, current = paths.probs.max(axis=2), paths.probs.argmax(axis=2)
        agreements = self.config.agreement_candidates if "agreement" in unset else [self.config.agreement]
        rows = []
        for v in map(int, agreements):
            lowest = top.copy()  # lowest top probability of the last v steps where they name one class
            for lag in range(1, v):
                lagged = np.full_like(top, -np.inf)
                lagged[:, lag:] = np.where(current[:, lag:] == current[:, :-lag], top[:, :-lag], -np.inf)
                lowest = np.minimum(lowest, lagged)
            if "threshold" in unset:
                threshold, mean = best_threshold(paths, lowest, 0.0, 1.0)
            else:
                threshold = float(self.config.threshold)  # type: ignore[arg-type]  # set: not in unset
                mean = paths.mean_return(lowest >= threshold)
            rows.append({"agreement": v, "threshold": threshold, "mean_return": mean})
        return pd.DataFrame(rows)

    def learn(self, env_kwargs: Mapping[str, Any], total_steps: int, monitor: Any = None) -> None:
        super().learn(env_kwargs, total_steps, monitor)
        self.config.agreement = int(self.config.agreement)  # type: ignore[arg-type]  # tuned as a float


@dataclass
class EconomyConfig:
    bins: int | None = None
    """Confidence groups (equal-sized intervals of the top probability at each step); None = tuned."""
    bin_candidates: list[int] = field(default_factory=lambda: list(range(1, 21)))
    """The group counts tried (scored leave-one-speaker-out on the training split)."""

    def __post_init__(self) -> None:
        check_counts("bins", None if self.bins is None else [self.bins])
        check_counts("bin_candidates", self.bin_candidates)


class EconomyPolicy(BinnedRule):
    """ECONOMY-gamma: group the clips at each step by an interval of their top class probability, estimate
    on the training split a Markov chain of the groups from step to step and each group's mean reward of
    answering, and answer when the expected return of answering now is at least that of every later step
    (less the expected wait costs in between); the number of groups tuned on the training split,
    leave-one-speaker-out (scored on clips the chain was not estimated on, as more groups always fit
    the clips they are estimated on better).

    Achenchabe, Bondu, Cornuejols and Dachraoui, "Early classification of time series: cost-based
    optimization criterion and algorithms", Machine Learning 110, 2021 (the top probability as the
    confidence of a multi-class prediction: Zafar et al., DSAA 2021). Clips of different lengths: each
    step's statistics come from the clips still running there; a clip that ends before the step the
    forecast prefers answers at its last step."""

    name = "economy"
    Config = EconomyConfig

    def table(self, paths: BeliefPaths, bins: int) -> tuple[np.ndarray, np.ndarray]:
        top, alive, free = paths.probs.max(axis=2), paths.alive, paths.free
        steps = top.shape[1]
        edges = quantile_edges(top, alive, bins)
        group = bin_index(top, edges)
        reward = np.zeros((steps, bins))  # mean reward of answering at each step in each group
        chain = np.zeros((max(steps - 1, 0), bins, bins))  # P(group at t + 1 | group at t)
        cost = np.zeros(steps)  # mean wait cost at each step
        waits = np.diff(paths.paid, axis=1)
        for t in range(steps):
            rows = alive[:, t]
            counts = np.bincount(group[rows, t], minlength=bins)
            sums = np.bincount(group[rows, t], weights=paths.reward[rows, t], minlength=bins)
            fallback = paths.reward[rows, t].mean() if rows.any() else 0.0  # an empty group: the step's mean
            reward[t] = np.where(counts > 0, sums / np.maximum(counts, 1), fallback)
            if t + 1 < steps:
                moving = free[:, t]
                np.add.at(chain[t], (group[moving, t], group[moving, t + 1]), 1.0)
                total = chain[t].sum(axis=1, keepdims=True)
                chain[t] = np.where(total > 0, chain[t] / np.maximum(total, 1), 1.0 / bins)
                cost[t] = waits[moving, t].mean() if moving.any() else 0.0
        # expected[:, tau]: from each group at step t, the mean reward of answering at step tau >= t (the chain
        # carried back one step at a time), less the wait costs paid from t to tau.
        stop = np.ones((steps, bins), dtype=bool)
        expected = reward.T.copy()  # at t = the last step only its own column counts
        paid = np.concatenate([[0.0], np.cumsum(cost)])
        for t in range(steps - 2, -1, -1):
            expected[:, t + 1:] = chain[t] @ expected[:, t + 1:]
            expected[:, t] = reward[t]
            later = expected[:, t + 1:] - (paid[t + 1:steps] - paid[t])[None, :]
            stop[t] = reward[t] >= later.max(axis=1)
        return edges, stop


@dataclass
class CalimeraConfig:
    ridge: float = 1.0
    """Ridge penalty of the per-step kernel regressions (the paper's default)."""
    kernel_width: float | None = None
    """RBF kernel coefficient (exp(-width |x - x'|^2)); None = 1 / the number of features."""

    def __post_init__(self) -> None:
        check_positive("ridge", self.ridge)
        check_positive("kernel_width", self.kernel_width)


class CalimeraPolicy(_RulePolicy):
    """CALIMERA: at each step, a kernel ridge regression predicts from the class probabilities (with the top
    probability and the top-two margin) the gain of waiting, the return the clip realises by waiting under
    the later decisions less the return of answering now; fitted by backward induction from the last step
    on the training split, it answers when the predicted gain is not positive.

    Bilski and Jastrzebska, "CALIMERA: A new early time series classification method", Information
    Processing & Management 60(5), 2023. The paper minimises a cost of delay plus misclassification;
    here the gain is in the env's return (rewards and wait costs), and the regression has an intercept
    (the mean gain), so a point far from the training clips falls back to the step's mean gain."""

    name = "calimera"
    Config = CalimeraConfig

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._points: list[np.ndarray] = []  # per step: training features [n_t, F] (none at the last step)
        self._weights: list[np.ndarray] = []  # per step: dual coefficients [n_t]
        self._intercepts = np.zeros(0)
        self._horizon = 0

    @staticmethod
    def features(probs: np.ndarray) -> np.ndarray:
        """``[..., K + 2]``: the class probabilities, the top one and the top-two margin."""
        top, margin = top_two(probs)
        return np.concatenate([probs, top[..., None], margin[..., None]], axis=-1)

    def _kernel(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        width = self.config.kernel_width or 1.0 / a.shape[-1]
        distance = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2 * a @ b.T
        kernel: np.ndarray = np.exp(-width * np.maximum(distance, 0.0))
        return kernel

    def learn(self, env_kwargs: Mapping[str, Any], total_steps: int, monitor: Any = None) -> None:
        """Fit the per-step regressions on the split of ``env_kwargs`` (the training split)."""
        self.fit(BeliefPaths.from_env(env_kwargs))

    def fit(self, paths: BeliefPaths) -> None:
        """Fit the per-step regressions on ``paths``, last step first."""
        x, free, answer = self.features(paths.probs), paths.free, paths.answer
        steps = x.shape[1]
        value = answer[np.arange(len(x)), paths.length - 1]
        self._points, self._weights = [np.zeros((0, x.shape[2]))] * steps, [np.zeros(0)] * steps
        self._intercepts = np.zeros(steps)
        for t in range(steps - 2, -1, -1):
            rows = np.flatnonzero(free[:, t])
            if len(rows) == 0:
                continue
            gain = value[rows] - answer[rows, t]
            kernel = self._kernel(x[rows, t], x[rows, t])
            mean = gain.mean()
            weights = np.linalg.solve(kernel + self.config.ridge * np.eye(len(rows)), gain - mean)
            self._points[t], self._weights[t], self._intercepts[t] = x[rows, t], weights, mean
            waits = kernel @ weights + mean > 0
            value[rows] = np.where(waits, value[rows], answer[rows, t])
        self._horizon = paths.horizon

    def ready(self, probs: np.ndarray, time: np.ndarray) -> np.ndarray:
        if not self._points:
            raise ValueError(f"agent {self.name!r} is not fitted: run learn() on the training split first")
        step = np.minimum(step_of(time, self._horizon), len(self._points) - 1)
        x = self.features(probs)
        answer = np.ones(len(probs), dtype=bool)
        for t in np.unique(step):
            rows = step == t
            if len(self._weights[t]):
                gain = self._kernel(x[rows], self._points[t]) @ self._weights[t] + self._intercepts[t]
                answer[rows] = gain <= 0
        return answer

    def state_dict(self) -> dict[str, torch.Tensor]:
        if not self._points:
            return {}
        sizes = [len(w) for w in self._weights]
        return {"points": torch.from_numpy(np.concatenate(self._points)),
                "weights": torch.from_numpy(np.concatenate(self._weights)),
                "sizes": torch.tensor(sizes), "intercepts": torch.from_numpy(self._intercepts),
                "horizon": torch.tensor(self._horizon)}

    def load_state_dict(self, state: Mapping[str, torch.Tensor]) -> None:
        if not state:
            return
        cuts = np.cumsum(state["sizes"].numpy())[:-1]
        self._points = np.split(state["points"].numpy(), cuts)
        self._weights = np.split(state["weights"].numpy(), cuts)
        self._intercepts, self._horizon = state["intercepts"].numpy(), int(state["horizon"])
