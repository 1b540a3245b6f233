"""Cross-fold summary of ``pretrain_encoder.py --all-folds``: per-fold rows, clip-weighted pooled
figures with a 95 % confidence interval over folds, pooled calibration, Markdown + JSON + PNG."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats

from emo_env.artifacts import atomic_path
from emo_env.data.store import load_store

from .calibration import calibration_table
from .models import MODALITIES
from .models.temporal import CALIBRATION_FIELDS
from .report import save_figure

__all__ = ["fold_interval", "summarize_folds", "write_summary"]

_CONFIDENCE = 0.95


def fold_interval(values: Sequence[float], weights: Sequence[float]) -> dict[str, float]:
    """Weighted mean of per-fold values and the 95 % Student-t interval of the unweighted fold mean
    around it (a single fold has no interval)."""
    v, w = np.asarray(values, dtype=np.float64), np.asarray(weights, dtype=np.float64)
    mean = float((v * w).sum() / w.sum())
    if len(v) < 2:
        return {"mean": mean, "low": mean, "high": mean}
    half = float(stats.t.ppf(0.5 + _CONFIDENCE / 2, len(v) - 1) * v.std(ddof=1) / np.sqrt(len(v)))
    return {"mean": mean, "low": mean - half, "high": mean + half}


def _pooled_calibration(stores: Sequence[Path]) -> dict[str, list[dict[str, float]]]:
    """Calibration of the exported beliefs at 20/50/100 % observed, every fold's clips pooled per split."""
    pooled: dict[str, list[dict[str, float]]] = {}
    for split, name in ((0, "train"), (1, "eval")):
        probs, offsets, labels = [], [0], []
        for path in stores:
            store = load_store(path)
            for clip in np.flatnonzero(store.split == split):
                belief = store.clip_feature("probs", int(clip)).astype(np.float32)
                probs.append(belief)
                offsets.append(offsets[-1] + len(belief))
                labels.append(int(store.labels[clip]))
        pooled[name] = calibration_table(np.concatenate(probs), np.asarray(offsets), np.asarray(labels))
    return pooled


def summarize_folds(reports: Sequence[Mapping[str, Any]], stores: Sequence[Path]) -> dict[str, Any]:
    """The cross-fold summary of per-fold encoder ``reports`` and their feature ``stores``."""
    clips = [r["clips"]["eval"] for r in reports]
    fractions = reports[0]["accuracy_vs_fraction"]["fractions"]
    curves = {m: [fold_interval([r["accuracy_vs_fraction"][m][i] for r in reports], clips)
                  for i in range(len(fractions))]
              for m in MODALITIES}
    encoders = {m: {k: fold_interval([r["encoders_vs_linear"][m][k] for r in reports], clips)
                    for k in reports[0]["encoders_vs_linear"][m]} for m in MODALITIES}
    per_fold = [{"fold": r["fold"], "clips": r["clips"]["eval"],
                 "calibration": [r["calibration"][k] for k in CALIBRATION_FIELDS[:3]],
                 "clip_accuracy": r["clip_accuracy"],
                 "fusion_at_20": r["accuracy_vs_fraction"][r["modality"]][fractions.index(0.2)],
                 "encoders_vs_linear": r["encoders_vs_linear"],
                 "calibrated": {split: r["calibration"][split]["calibrated"] for split in ("train", "eval")}}
                for r in reports]
    return {"corpus": reports[0]["corpus"], "modality": reports[0]["modality"], "seed": reports[0]["seed"],
            "folds": [r["fold"] for r in reports], "clips": int(sum(clips)), "fractions": fractions,
            "accuracy_vs_fraction": curves, "encoders_vs_linear": encoders,
            "calibration": _pooled_calibration(stores), "per_fold": per_fold,
            "seconds": float(sum(r["timings_s"]["total"] for r in reports))}


def _pct(x: float) -> str:
    return f"{100 * x:.1f}"


def _ci(c: Mapping[str, float]) -> str:
    return f"{_pct(c['mean'])} [{_pct(c['low'])}, {_pct(c['high'])}]"


def _markdown(s: Mapping[str, Any]) -> str:
    f = s["fractions"]
    end, at20 = len(f) - 1, f.index(0.2)
    lines = [f"# Cross-fold encoder summary: {s['corpus']}, {len(s['folds'])} folds, modality {s['modality']}", "",
             f"{s['clips']} held-out clips, seed {s['seed']}. Clip-weighted mean over folds with a 95 % t-interval",
             f"over folds, in %. Training time of all folds: {s['seconds'] / 60:.1f} min.", "",
             "## Held-out clip accuracy (temporal model)", "",
             "| modality | end of clip | 20 % observed | 50 % observed |", "| --- | ---: | ---: | ---: |"]
    for m in MODALITIES:
        c = s["accuracy_vs_fraction"][m]
        lines.append(f"| {m} | {_ci(c[end])} | {_ci(c[at20])} | {_ci(c[f.index(0.5)])} |")
    lines += ["", "## Encoders against linear baselines (clip accuracy of the summed frame log-probabilities)", "",
              "| modality | encoder | linear baseline | encoder, frame | linear, frame |",
              "| --- | ---: | ---: | ---: | ---: |"]
    for m in ("audio", "visual"):
        e = s["encoders_vs_linear"][m]
        lines.append(f"| {m} | {_ci(e['clip_mean'])} | {_ci(e['linear_clip_mean'])} | {_ci(e['frame'])} | "
                     f"{_ci(e['linear_frame'])} |")
    lines += ["", "## Calibration of the exported beliefs, all folds pooled", "",
              "| split | fraction | mean confidence | accuracy | ECE |", "| --- | ---: | ---: | ---: | ---: |"]
    for split in ("train", "eval"):
        for row in s["calibration"][split]:
            lines.append(f"| {split} | {int(round(100 * row['fraction']))} % | {row['confidence']:.3f} | "
                         f"{_pct(row['accuracy'])} | {row['ece']:.3f} |")
    lines += ["", "## Per fold", "",
              "| fold | audio | visual | fusion | fusion at 20 % | audio CNN / linear | visual CNN / linear | "
              "a, b, c | eval ECE 20/50/100 % | train - eval confidence 20/50/100 % |",
              "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |"]
    for row in s["per_fold"]:
        acc, enc, cal = row["clip_accuracy"], row["encoders_vs_linear"], row["calibrated"]
        ece = " / ".join(f"{r['ece']:.2f}" for r in cal["eval"])
        gap = " / ".join(f"{t['confidence'] - e['confidence']:+.2f}"
                         for t, e in zip(cal["train"], cal["eval"], strict=True))
        lines.append(f"| {row['fold']} | {_pct(acc['audio'])} | {_pct(acc['visual'])} | {_pct(acc['fusion'])} | "
                     f"{_pct(row['fusion_at_20'])} | "
                     f"{_pct(enc['audio']['clip_mean'])} / {_pct(enc['audio']['linear_clip_mean'])} | "
                     f"{_pct(enc['visual']['clip_mean'])} / {_pct(enc['visual']['linear_clip_mean'])} | "
                     f"{', '.join(f'{x:.2f}' for x in row['calibration'])} | {ece} | {gap} |")
    return "\n".join(lines + ["", "![accuracy vs fraction observed](summary.png)", ""])


def _plot(s: Mapping[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    x = [100 * f for f in s["fractions"]]
    fig, ax = plt.subplots(figsize=(6, 4))
    for m in MODALITIES:
        c = s["accuracy_vs_fraction"][m]
        ax.plot(x, [100 * p["mean"] for p in c], marker="o", label=m)
        ax.fill_between(x, [100 * p["low"] for p in c], [100 * p["high"] for p in c], alpha=0.2)
    ax.set(xlabel="% of the clip observed", ylabel="held-out clip accuracy (%)", ylim=(0, 100),
           title=f"{s['corpus']}: {len(s['folds'])} folds, mean and 95 % CI over folds")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    save_figure(fig, path)


def write_summary(summary: Mapping[str, Any], out_dir: Path) -> dict[str, Path]:
    """Write ``summary.json``, ``summary.md`` and ``summary.png`` into ``out_dir`` atomically."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {name: out_dir / name for name in ("summary.json", "summary.md", "summary.png")}
    with atomic_path(paths["summary.json"]) as tmp:
        tmp.write_text(json.dumps(summary, indent=2) + "\n")
    with atomic_path(paths["summary.md"]) as tmp:
        tmp.write_text(_markdown(summary))
    _plot(summary, paths["summary.png"])
    return paths
