"""Calibration of the exported beliefs: a temperature that changes with the step, fitted on the
training split's out-of-fold beliefs and applied to every exported belief; expected calibration
error and reliability diagrams.

The temperature at 0-based step ``t`` is ``exp(a + b * u + c * u ** 2)`` with ``u = log(1 + t)``,
``t`` capped at the longest fitted clip's last step (the temporal model's ``calibration`` buffer
``(a, b, c, last_step)``, :func:`~pretrained_encoders.models.temporal.step_temperatures`): early beliefs,
which rest on a neutral face and little speech, need another correction than late ones, and one
temperature cannot give both. Fitted on six training speakers and scored on the seventh, the
quadratic term lowered the ECE at 20, 50 and 100 % of the clip by a third to two thirds against ``c = 0``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import torch
from scipy.optimize import minimize
from sklearn.calibration import calibration_curve
from torchmetrics.functional.classification import multiclass_calibration_error

from .models.temporal import step_temperatures
from .report import prefix_steps, save_figure

__all__ = ["ECE_BINS", "CALIBRATION_FRACTIONS", "step_indices", "fit_calibration", "apply_calibration",
           "expected_calibration_error", "calibration_table", "plot_reliability"]

ECE_BINS = 15
CALIBRATION_FRACTIONS = (0.2, 0.5, 1.0)


def step_indices(lengths: np.ndarray) -> np.ndarray:
    """The 0-based step index of every row of clips with ``lengths`` steps, clip after clip."""
    lengths = np.asarray(lengths, dtype=np.int64)
    return np.arange(int(lengths.sum())) - np.repeat(np.cumsum(lengths) - lengths, lengths)


def _log_probs(probs: np.ndarray) -> torch.Tensor:
    return torch.log(torch.as_tensor(np.asarray(probs, dtype=np.float64)).clamp_min(1e-12))


def fit_calibration(probs: np.ndarray, labels: np.ndarray, steps: np.ndarray) -> tuple[float, float, float, float]:
    """The ``(a, b, c)`` that minimise the negative log-likelihood of ``softmax(log(probs) / T(step))``
    (one per-step belief per row, ``labels`` its clip's class, ``steps`` its step index), and the last
    step seen: the temporal model's ``calibration``."""
    log_p = _log_probs(probs)
    target = torch.as_tensor(np.asarray(labels, dtype=np.int64))
    steps_t = torch.as_tensor(np.asarray(steps), dtype=torch.float64)
    last_step = float(steps_t.max())
    # solved for (a, b * s, c * s^2), s = log(1 + last_step): the same map, better conditioned
    scale = torch.tensor([1.0, np.log1p(last_step), np.log1p(last_step) ** 2], dtype=torch.float64)

    def nll(params: np.ndarray) -> tuple[float, np.ndarray]:
        scaled = torch.tensor(params, dtype=torch.float64, requires_grad=True)
        temperature = step_temperatures(torch.cat([scaled / scale, scale.new_tensor([last_step])]), steps_t)
        loss = torch.nn.functional.cross_entropy(log_p / temperature[:, None], target)
        loss.backward()
        return float(loss.detach()), scaled.grad.numpy()  # type: ignore[union-attr]

    result = minimize(nll, np.zeros(3), jac=True, method="L-BFGS-B", bounds=[(-30.0, 30.0)] * 3)
    a, b, c = (float(x) for x in result.x / scale.numpy())
    return a, b, c, last_step


def apply_calibration(probs: np.ndarray, calibration: Sequence[float], steps: np.ndarray) -> np.ndarray:
    """``softmax(log(probs) / T(step))``, float32: ``softmax(z / T)`` for the logits ``z`` behind ``probs``."""
    temperature = step_temperatures(torch.tensor(calibration, dtype=torch.float64), torch.as_tensor(np.asarray(steps)))
    return torch.softmax(_log_probs(probs) / temperature[:, None], dim=-1).float().numpy()


def expected_calibration_error(probs: np.ndarray, labels: np.ndarray, bins: int = ECE_BINS) -> float:
    """Top-label ECE with ``bins`` equal-width confidence bins (torchmetrics, L1)."""
    probs_t = torch.as_tensor(np.asarray(probs, dtype=np.float32))
    return float(multiclass_calibration_error(probs_t, torch.as_tensor(np.asarray(labels, dtype=np.int64)),
                                              num_classes=probs_t.shape[1], n_bins=bins, norm="l1"))


def _at_fraction(probs: np.ndarray, offsets: np.ndarray, labels: np.ndarray,
                 fraction: float) -> tuple[np.ndarray, np.ndarray]:
    lengths = np.diff(offsets)
    return np.asarray(probs)[offsets[:-1] + prefix_steps(lengths, fraction)], np.asarray(labels)


def calibration_table(probs: np.ndarray, offsets: np.ndarray, labels: np.ndarray,
                      fractions: Sequence[float] = CALIBRATION_FRACTIONS) -> list[dict[str, float]]:
    """Per fraction of each clip observed: mean top probability, clip accuracy and ECE of the beliefs
    at that step (``probs`` rows ragged by ``offsets``, ``labels`` one per clip)."""
    rows = []
    for fraction in fractions:
        at, y = _at_fraction(probs, offsets, labels, fraction)
        rows.append({"fraction": float(fraction), "confidence": float(at.max(1).mean()),
                     "accuracy": float((at.argmax(1) == y).mean()), "ece": expected_calibration_error(at, y)})
    return rows


def plot_reliability(curves: Mapping[str, tuple[np.ndarray, np.ndarray, np.ndarray]], path: Path, title: str) -> None:
    """Reliability diagram: for each named ``(probs, offsets, labels)``, the accuracy of the top class
    against its confidence (sklearn's ``calibration_curve``, 15 bins) at 20, 50 and 100 % of the clip."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(CALIBRATION_FRACTIONS), figsize=(4 * len(CALIBRATION_FRACTIONS), 4), sharey=True)
    for ax, fraction in zip(np.atleast_1d(axes), CALIBRATION_FRACTIONS, strict=True):
        ax.plot([0, 1], [0, 1], color="grey", lw=1, ls=":")
        for name, (probs, offsets, labels) in curves.items():
            at, y = _at_fraction(probs, offsets, labels, fraction)
            accuracy, confidence = calibration_curve(at.argmax(1) == y, at.max(1), n_bins=ECE_BINS)
            ax.plot(confidence, accuracy, marker="o", ms=3, label=name)
        ax.set(title=f"{int(round(100 * fraction))} % observed", xlabel="confidence (top class)", xlim=(0, 1),
               ylim=(0, 1))
        ax.grid(alpha=0.3)
    np.atleast_1d(axes)[0].set_ylabel("accuracy")
    np.atleast_1d(axes)[0].legend(loc="upper left", fontsize=8)
    fig.suptitle(title)
    save_figure(fig, path)

