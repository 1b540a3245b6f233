"""Metrics of a set of finished episodes: accuracy, earliness, decision time, HM, return, confusion."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["EPISODE_COLUMNS", "Metrics", "harmonic_mean", "compute_metrics"]

#: One row per episode (one clip): what :func:`compute_metrics` reads.
EPISODE_COLUMNS = ("clip_id", "speaker", "label", "prediction", "steps", "decision_step", "fraction",
                   "time_s", "return")


@dataclass(frozen=True)
class Metrics:
    """Summary of evaluated episodes. ``earliness`` is the mean fraction of the clip observed at decision."""

    episodes: int
    accuracy: float
    earliness: float
    decision_time_s: float
    hm: float
    mean_return: float
    unanswered: int  # episodes ended by a wait at the last step (prediction -1): scored wrong
    confusion: list[list[int]]  # [true class][predicted class], answered episodes
    per_speaker: dict[str, float]  # speaker -> accuracy

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def summary(self) -> dict[str, float]:
        """The scalar metrics only."""
        return {k: v for k, v in self.to_dict().items() if isinstance(v, (int, float))}


def harmonic_mean(accuracy: float, earliness: float) -> float:
    """``HM = 2 acc (1 - earliness) / (acc + 1 - earliness)``, 0 when both terms are 0."""
    timeliness = 1.0 - earliness
    total = accuracy + timeliness
    return 0.0 if total <= 0 else 2.0 * accuracy * timeliness / total


def compute_metrics(episodes: pd.DataFrame, num_classes: int) -> Metrics:
    """Metrics of ``episodes`` (columns :data:`EPISODE_COLUMNS`; labels and predictions are class indices,
    prediction -1 for an episode that ended without an answer, which counts as wrong)."""
    missing = [c for c in EPISODE_COLUMNS if c not in episodes.columns]
    if missing:
        raise ValueError(f"episode table lacks column(s) {missing}")
    if len(episodes) == 0:
        raise ValueError("no episodes to score")
    labels = episodes["label"].to_numpy(np.int64)
    predictions = episodes["prediction"].to_numpy(np.int64)
    if ((labels < 0) | (labels >= num_classes) | (predictions < -1) | (predictions >= num_classes)).any():
        raise ValueError(f"labels must lie in [0, {num_classes}) and predictions in [-1, {num_classes})")
    correct = labels == predictions
    answered = predictions >= 0
    confusion = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(confusion, (labels[answered], predictions[answered]), 1)
    accuracy = float(correct.mean())
    earliness = float(episodes["fraction"].mean())
    per_speaker = pd.Series(correct).groupby(episodes["speaker"].to_numpy()).mean()
    return Metrics(
        episodes=len(episodes),
        accuracy=accuracy,
        earliness=earliness,
        decision_time_s=float(episodes["time_s"].mean()),
        hm=harmonic_mean(accuracy, earliness),
        mean_return=float(episodes["return"].mean()),
        unanswered=int((~answered).sum()),
        confusion=confusion.tolist(),
        per_speaker={str(k): float(v) for k, v in per_speaker.items()},
    )

