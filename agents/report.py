"""The run report of ``train_agent.py``: JSON (everything) and Markdown (for people), plus its plots."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from agents.plots import plot_decision_times, plot_learning_curve, plot_tradeoff
from agents.training import Baselines, RunResult, compare
from emo_env.artifacts import REPORT_FILE, atomic_path

__all__ = ["run_report", "write_run_report"]

PLOTS = {"learning_curve": "learning_curve.png", "decision_times": "decision_times.png", "tradeoff": "tradeoff.png"}


def run_report(result: RunResult, baselines: Baselines, settings: Mapping[str, Any]) -> dict[str, Any]:
    """Everything about a run as plain values: settings, metrics, comparison with the baselines, curves."""
    metrics = result.evaluation.metrics
    policy = result.policy
    return {
        **policy.describe(),
        "settings": dict(settings),
        "steps": policy.num_steps,
        "train_time_s": result.train_time_s,
        "steps_per_s": _finite(result.steps_per_s),
        "metrics": metrics.to_dict(),
        "comparison": compare(metrics.summary(), baselines),
        "fair_baselines": {name: {**evaluation.metrics.summary(), "tuned": baselines.tuned[name]}
                           for name, evaluation in baselines.fair.items()},
        "end_metrics": baselines.end.metrics.summary(),
        "oracle_curve": baselines.oracle.to_dict(orient="records"),
        "learning_curve": result.monitor.curve,
        "evaluations": result.monitor.evaluations,
        "plots": PLOTS,
    }


def write_run_report(out_dir: str | Path, result: RunResult, baselines: Baselines, settings: Mapping[str, Any],
                     class_names: list[str]) -> dict[str, Any]:
    """Write ``report.json``, ``report.md``, ``episodes.csv`` and the PNG plots into ``out_dir``; return the report."""
    out_dir = Path(out_dir)
    report = run_report(result, baselines, settings)
    with atomic_path(out_dir / REPORT_FILE) as tmp:
        tmp.write_text(json.dumps(report, indent=2) + "\n")
    with atomic_path(out_dir / "report.md") as tmp:
        tmp.write_text(_markdown(report, class_names))
    with atomic_path(out_dir / "episodes.csv") as tmp:
        result.evaluation.episodes.to_csv(tmp, index=False)
    plot_learning_curve(result.monitor.curve, out_dir / PLOTS["learning_curve"], result.monitor.evaluations)
    plot_decision_times(result.evaluation.episodes, out_dir / PLOTS["decision_times"])
    metrics = result.evaluation.metrics
    points = {result.policy.name: metrics, **{name: e.metrics for name, e in baselines.fair.items()},
              "end": baselines.end.metrics}
    plot_tradeoff(out_dir / PLOTS["tradeoff"], baselines.oracle,
                  {name: {"accuracy": m.accuracy, "earliness": m.earliness} for name, m in points.items()})
    return report


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _pct(value: float) -> str:
    return f"{100 * value:.1f} %"


def _markdown(r: Mapping[str, Any], class_names: list[str]) -> str:
    m, c, s = r["metrics"], r["comparison"], r["settings"]
    speed = f"{r['steps_per_s']:,.0f} env steps/s" if r["steps_per_s"] else "no training"
    lines = [
        f"# Agent run: {r['agent']}",
        "",
        f"Store `{s.get('store')}`, observation `{r['obs_mode']}` ({r['obs_dim']} values), seed {s.get('seed')}, "
        f"latency cost {s.get('latency_cost')}. Trained {r['steps']:,} env steps in {r['train_time_s']:.1f} s "
        f"({speed}).",
        "",
        f"## Held-out evaluation ({m['episodes']} clips, each once)",
        "",
        "| accuracy | earliness | decision time | HM | mean return |",
        "|---:|---:|---:|---:|---:|",
        f"| {_pct(m['accuracy'])} | {_pct(m['earliness'])} | {m['decision_time_s']:.2f} s | {m['hm']:.3f} "
        f"| {m['mean_return']:.3f} |",
        "",
        "Earliness: mean fraction of the clip observed when answering. "
        "HM = 2 acc (1 - earliness) / (acc + 1 - earliness).",
        "",
        "## Against the baselines (same store and rewards, held-out split)",
        "",
        "Fair baselines: their parameters are tuned on the training split for the highest mean return.",
        "",
        "| baseline | tuned | accuracy | earliness | mean return |",
        "|---|---|---:|---:|---:|",
        *[f"| {name} | {', '.join(f'{k} {v:g}' for k, v in b['tuned'].items())} | {_pct(b['accuracy'])} "
          f"| {_pct(b['earliness'])} | {b['mean_return']:.3f} |" for name, b in r["fair_baselines"].items()],
        "",
        f"- Mean return: this agent {m['mean_return']:.3f}, the best fair baseline ({c['best_fair_baseline']}) "
        f"{c['best_fair_return']:.3f} (agent {'above' if c['return_above_fair_baselines'] else 'not above'}).",
        f"- Oracle threshold curve (tuned on the test speaker) at this earliness: "
        f"{_pct(c['oracle_accuracy_at_earliness'])} accuracy "
        f"(agent {'on or above' if c['on_or_above_oracle_curve'] else 'below'} the curve).",
        f"- Answer at the end (full clip): {_pct(c['end_accuracy'])} accuracy; gap to this agent: "
        f"{100 * c['accuracy_gap_to_end']:+.1f} points.",
        "",
        "## Confusion matrix (rows: true class, columns: predicted)",
        "",
        "| | " + " | ".join(class_names) + " |",
        "|---|" + "---:|" * len(class_names),
        *[f"| **{name}** | " + " | ".join(str(v) for v in row) + " |"
          for name, row in zip(class_names, m["confusion"], strict=True)],
        "",
    ]
    if m["unanswered"]:
        lines += [f"{m['unanswered']} episode(s) ended by waiting at the last step: scored wrong, not in the "
                  "matrix.", ""]
    lines += ["## Accuracy per speaker", "", "| speaker | accuracy |", "|---|---:|",
              *[f"| {speaker} | {_pct(acc)} |" for speaker, acc in m["per_speaker"].items()], "",
              "## Plots", "", *[f"![{name}]({file})" for name, file in r["plots"].items()], "",
              "## Hyperparameters", "", "```json", json.dumps(r["config"], indent=2), "```", ""]
    return "\n".join(lines)
