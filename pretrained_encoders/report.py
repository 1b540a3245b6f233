"""Run report: accuracy vs fraction of the clip observed, confusion matrix, Markdown + JSON + PNG."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from emo_env.artifacts import atomic_path

__all__ = ["FRACTIONS", "prefix_steps", "accuracy_by_fraction", "confusion_matrix", "save_figure", "write_report"]

FRACTIONS = tuple(round(0.1 * i, 1) for i in range(1, 11))


def prefix_steps(lengths: np.ndarray, fraction: float) -> np.ndarray:
    """Index of the last step seen after observing ``fraction`` of each clip (at least the first step)."""
    return np.clip(np.ceil(fraction * lengths - 1e-9).astype(np.int64) - 1, 0, lengths - 1)


def accuracy_by_fraction(probs: np.ndarray, offsets: np.ndarray, labels: np.ndarray,
                         fractions: Sequence[float] = FRACTIONS) -> list[float]:
    """Clip accuracy of ``argmax probs`` at each fraction observed; ``probs`` rows are ragged by ``offsets``."""
    lengths = np.diff(offsets)
    predictions = np.asarray(probs).argmax(axis=1)
    return [float((predictions[offsets[:-1] + prefix_steps(lengths, f)] == labels).mean()) for f in fractions]


def confusion_matrix(labels: np.ndarray, predictions: np.ndarray, num_classes: int) -> np.ndarray:
    """``[true, predicted]`` counts."""
    matrix = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(matrix, (labels, predictions), 1)
    return matrix


def write_report(run_dir: Path, report: Mapping[str, Any]) -> dict[str, Path]:
    """Write ``report.json``, ``report.md``, ``curves.png`` and ``confusion.png`` into ``run_dir`` atomically."""
    paths = {name: run_dir / name for name in ("report.json", "report.md", "curves.png", "confusion.png")}
    with atomic_path(paths["report.json"]) as tmp:
        tmp.write_text(json.dumps(report, indent=2) + "\n")
    with atomic_path(paths["report.md"]) as tmp:
        tmp.write_text(_markdown(report))
    _plot_curves(report, paths["curves.png"])
    _plot_confusion(report, paths["confusion.png"])
    return paths


def _pct(x: float) -> str:
    return f"{100 * x:.1f}"


def _markdown(r: Mapping[str, Any]) -> str:
    curves = r["accuracy_vs_fraction"]
    modalities = [m for m in ("audio", "visual", "fusion") if m in curves]
    lines = [
        f"# Encoder report: {r['corpus']}, held-out {r['fold']}, modality {r['modality']}",
        "",
        f"Training clips: {r['clips']['train']} ({len(r['train_speakers'])} speakers), held-out clips: "
        f"{r['clips']['eval']}. Seed {r['seed']}. Total time {r['timings_s']['total']:.0f} s.",
        "",
        "## Held-out accuracy (%)",
        "",
        "| modality | frame level (encoder) | clip level (temporal model, end of clip) |",
        "| --- | ---: | ---: |",
        *[f"| {m} | {_pct(r['frame_accuracy'][m])} | {_pct(r['clip_accuracy'][m])} |" for m in modalities],
        "",
        "## Clip accuracy (%) vs fraction of the clip observed (held-out)",
        "",
        "Temporal model of each modality (trained on the training speakers), argmax of its class",
        "probabilities at the last step observed.",
        "",
        "| fraction | " + " | ".join(modalities)
        + " | exported beliefs, train split (out-of-fold) | exported beliefs, held-out |",
        "| ---: | " + " | ".join("---:" for _ in modalities) + " | ---: | ---: |",
    ]
    for i, f in enumerate(curves["fractions"]):
        cells = [_pct(curves[m][i]) for m in modalities]
        cells += [_pct(r["beliefs"]["train"][i]), _pct(r["beliefs"]["eval"][i])]
        lines.append(f"| {int(round(100 * f))} % | " + " | ".join(cells) + " |")
    lines += [
        "",
        f"Exported training-split beliefs: {r['beliefs']['train_source']}.",
        "",
        *_encoders_section(r),
        *_calibration_section(r),
        *_epochs_section(r),
        f"## Confusion matrix ({r['modality']}, held-out, end of clip; rows true, columns predicted)",
        "",
        "| | " + " | ".join(r["class_names"]) + " |",
        "| --- | " + " | ".join("---:" for _ in r["class_names"]) + " |",
        *[f"| {name} | " + " | ".join(str(v) for v in row) + " |"
          for name, row in zip(r["class_names"], r["confusion_matrix"], strict=True)],
        "",
        "## Time (s)",
        "",
        "| step | seconds (wall) |",
        "| --- | ---: |",
        *[f"| {k} | {v:.1f} |" for k, v in r["timings_s"].items()],
        "",
        "Training stages, summed over cascades (seconds of one process; cascades run in parallel processes):",
        "",
        "| stage | seconds |",
        "| --- | ---: |",
        *[f"| {k} | {v:.1f} |" for k, v in r["stage_timings_s"].items()],
        "",
        "![accuracy vs fraction observed](curves.png)",
        "",
        "![confusion matrix](confusion.png)",
        "",
        "![reliability diagram](reliability.png)",
        "",
    ]
    return "\n".join(lines)


def _encoders_section(r: Mapping[str, Any]) -> list[str]:
    rows = r["encoders_vs_linear"]
    lines = ["## Encoders against linear baselines (held-out, %)", "",
             "Each encoder's own classifier and a logistic regression on simple features of the same training",
             "frames (audio: per-band log-mel mean and std over the window; visual: 16x16 grey face pixels),",
             "scored alike: frame accuracy, and clip accuracy of the log-probabilities summed over the clip.",
             "The last column is the temporal model at the end of the clip.", "",
             "| modality | encoder, frame | linear, frame | encoder, clip | linear, clip | temporal model, clip |",
             "| --- | ---: | ---: | ---: | ---: | ---: |"]
    for m, row in rows.items():
        linear = [_pct(row[k]) if k in row else "" for k in ("linear_frame", "linear_clip_mean")]
        lines.append(f"| {m} | {_pct(row['frame'])} | {linear[0]} | {_pct(row['clip_mean'])} | {linear[1]} | "
                     f"{_pct(row['clip_temporal'])} |")
    return lines + [""]


def _calibration_section(r: Mapping[str, Any]) -> list[str]:
    c = r["calibration"]
    lines = [f"## Calibration of the exported beliefs: {c['method']}, a = {c['a']:.3f}, b = {c['b']:.3f}, "
             f"c = {c['c']:.3f}, last_step = {c['last_step']:.0f}", "",
             f"Mean top probability, accuracy and ECE ({c['ece_bins']} bins) at each fraction of the clip "
             "observed.", "",
             "| split | fraction | confidence before | confidence after | accuracy | ECE before | ECE after |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for split in ("train", "eval"):
        for before, after in zip(c[split]["uncalibrated"], c[split]["calibrated"], strict=True):
            lines.append(f"| {split} | {int(round(100 * before['fraction']))} % | {before['confidence']:.3f} | "
                         f"{after['confidence']:.3f} | {_pct(after['accuracy'])} | {before['ece']:.3f} | "
                         f"{after['ece']:.3f} |")
    return lines + [""]


def _epochs_section(r: Mapping[str, Any]) -> list[str]:
    lines = ["## Epochs", "",
             "Every stage trains for a fixed number of epochs and keeps the last (out-of-fold cascades,",
             "fitted on fewer clips, train proportionally more epochs). Nothing is selected on the held-out speaker.",
             "Inner-fold curve: the out-of-fold cascades' mean validation accuracy (%) after each epoch, on",
             "training speakers.", "", "| stage | epochs (full cascade) | inner-fold curve |", "| --- | ---: | --- |"]
    for stage, epochs in r["epochs"].items():
        curve = r["inner_fold_curves"].get(stage, [])
        lines.append(f"| {stage} | {epochs} | {' '.join(f'{100 * a:.0f}' for a in curve)} |")
    return lines + [""]


def save_figure(fig: Any, path: Path) -> None:
    """Write a matplotlib figure to ``path`` as PNG atomically and close it."""
    import matplotlib.pyplot as plt

    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)


def _plot_curves(r: Mapping[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    curves = r["accuracy_vs_fraction"]
    x = [100 * f for f in curves["fractions"]]
    fig, ax = plt.subplots(figsize=(6, 4))
    for m in ("audio", "visual", "fusion"):
        if m in curves:
            ax.plot(x, [100 * a for a in curves[m]], marker="o", label=f"{m} (held-out)")
    ax.plot(x, [100 * a for a in r["beliefs"]["train"]], "k--", label=f"{r['modality']} exported, train split (OOF)")
    ax.set(xlabel="% of the clip observed", ylabel="clip accuracy (%)", ylim=(0, 100),
           title=f"{r['corpus']}, held-out {r['fold']}")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    save_figure(fig, path)


def _plot_confusion(r: Mapping[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    matrix = np.asarray(r["confusion_matrix"])
    names = r["class_names"]
    fig, ax = plt.subplots(figsize=(5, 4.5))
    ax.imshow(matrix, cmap="Blues")
    for (i, j), v in np.ndenumerate(matrix):
        ax.text(j, i, str(v), ha="center", va="center", color="white" if v > matrix.max() / 2 else "black")
    ax.set(xticks=range(len(names)), yticks=range(len(names)), xlabel="predicted", ylabel="true",
           title=f"{r['modality']}, held-out {r['fold']}, end of clip")
    ax.set_xticklabels(names, rotation=45, ha="right")
    ax.set_yticklabels(names)
    save_figure(fig, path)
