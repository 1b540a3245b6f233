"""PNG plots of a run and of the benchmark (written atomically; no display needed)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, cast

import numpy as np
import pandas as pd
from matplotlib import cm
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure

from agents.evaluation import pareto_front
from emo_env.artifacts import atomic_path

__all__ = ["plot_learning_curve", "plot_decision_times", "plot_tradeoff"]


def _save(fig: Figure, path: str | Path) -> Path:
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    return Path(path)


def plot_learning_curve(curve: Sequence[Mapping[str, float]], path: str | Path,
                        evaluations: Sequence[Mapping[str, float]] = ()) -> Path:
    """Running training return, accuracy and earliness against environment steps (+ held-out HM if evaluated)."""
    fig = Figure(figsize=(8, 4.5))
    ax = fig.add_subplot()
    if curve:
        table = pd.DataFrame(list(curve))
        ax.plot(table["step"], table["return"], label="return (train)")
        ax.plot(table["step"], table["correct"], label="accuracy (train)")
        ax.plot(table["step"], table["fraction"], label="earliness (train)")
    if evaluations:
        table = pd.DataFrame(list(evaluations))
        ax.plot(table["step"], table["hm"], "o-", label="HM (held-out)")
    ax.set_xlabel("environment steps")
    ax.set_title("Learning curve (running means over recent episodes)")
    ax.grid(alpha=0.3)
    if curve or evaluations:
        ax.legend(loc="lower right")
    else:
        ax.text(0.5, 0.5, "no training (the agent learns nothing)", ha="center", va="center", transform=ax.transAxes)
    return _save(fig, path)


def plot_decision_times(episodes: pd.DataFrame, path: str | Path) -> Path:
    """Histograms of decision time (s) and fraction observed, right and wrong answers stacked."""
    fig = Figure(figsize=(9, 3.8))
    correct = (episodes["prediction"] == episodes["label"]).to_numpy()
    for i, (column, label) in enumerate((("time_s", "decision time (s)"), ("fraction", "fraction of clip observed"))):
        ax = fig.add_subplot(1, 2, i + 1)
        values = episodes[column].to_numpy()
        top = max(float(values.max()), 1.0) if column == "fraction" else float(values.max()) + 1e-6
        bins = np.linspace(0.0, top, 21).tolist()  # the same edges, as the Sequence[float] matplotlib's types ask
        ax.hist([values[correct], values[~correct]], bins=bins, stacked=True, color=["tab:green", "tab:red"],
                label=["right", "wrong"])
        ax.set_xlabel(label)
        ax.set_ylabel("clips")
        ax.legend()
    fig.suptitle(f"When the policy answers ({len(episodes)} held-out clips)")
    return _save(fig, path)


def plot_tradeoff(path: str | Path, oracle: pd.DataFrame,
                  points: Mapping[str, Mapping[str, Any]], curves: Mapping[str, pd.DataFrame] | None = None,
                  title: str = "Accuracy vs earliness (held-out)") -> Path:
    """Accuracy against earliness: the threshold sweep on the held-out split and its Pareto front, labelled
    as an oracle (tuned on the test speaker); one point per agent (``accuracy``, ``earliness``, and
    optional error bars: ``accuracy_err``/``earliness_err``, a scalar or a ``[2]`` pair of lower and upper
    extents); each learner's own trade-off curve (``curves``: name -> table with ``earliness``, ``accuracy``)."""
    fig = Figure(figsize=(10, 5.5))
    ax = fig.add_subplot()
    tab10 = cast("tuple[Any, ...]", cast(ListedColormap, cm.tab10).colors)  # 10 RGB triples (typed ArrayLike)
    colors = iter(tab10 * 3)
    ax.plot(oracle["earliness"], oracle["accuracy"], ".", color="0.6",
            label="threshold sweep on the test speaker")
    front = pareto_front(oracle)
    # The best accuracy reached by each earliness: a step function, held up to earliness 1.
    ax.step([*front["earliness"], 1.0], [*front["accuracy"], front["accuracy"].iloc[-1]], where="post", color="0.3",
            label="oracle: best threshold tuned on the test speaker")
    for name, curve in (curves or {}).items():
        ordered = curve.sort_values("earliness")
        ax.plot(ordered["earliness"], ordered["accuracy"], "--", marker="x", color=next(colors),
                label=f"{name} (latency_cost sweep)")
    markers = "o^sDvP*Xh<>"
    for i, (name, point) in enumerate(points.items()):
        ax.errorbar(point["earliness"], point["accuracy"], xerr=point.get("earliness_err"),
                    yerr=point.get("accuracy_err"), fmt=markers[i % len(markers)], ms=8, capsize=3, label=name,
                    color=next(colors))
    ax.set_xlabel("earliness (mean fraction of the clip observed at decision)")
    ax.set_ylabel("accuracy")
    ax.set_xlim(0, 1.02)
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.set_title(title)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1.0))
    return _save(fig, path)
