"""Benchmark: every agent trained and evaluated on the same store, split, rewards and seeds.

    python -m agents.benchmark [--config configs/synthetic.yaml] [--agents dqn,reinforce,sb3-dqn]
        [--seeds 0,1,2] [--store PATH] [--set key=value ...] [--out DIR] [--no-sweep] [--no-progress]

Writes ``benchmark.md`` and ``benchmark.csv`` (mean and standard deviation over seeds of accuracy,
earliness, HM, return, training time and env steps per second), ``runs.csv`` (one row per agent and
seed), ``sweep.csv`` and ``benchmark.png``: accuracy against earliness for every agent, the threshold
baseline's sweep and Pareto front, and each ``sweep_agents`` learner's curve over ``latency_costs``
(first seed). Each run's policy is saved under ``runs/<agent>/seed<N>/``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, Sequence

import pandas as pd
import torch

from agents.cli import USER_ERRORS, agent_settings, env_kwargs_from_config, store_path
from agents.metrics import mean_and_spread
from agents.plots import plot_tradeoff
from agents.registry import AGENTS, get_agent
from agents.training import Baselines, RunResult, compare, compute_baselines, run_agent
from emo_env.config import load_config, resolve_path
from emo_env.data.atomic import atomic_path
from emo_env.envs.episodes import open_store

__all__ = ["main", "run_benchmark", "summarize"]

MEASURES = ("accuracy", "earliness", "hm", "mean_return", "decision_time_s", "train_time_s", "steps_per_s")


def _row(name: str, seed: int, result: RunResult, baselines: Baselines, **extra: Any) -> dict[str, Any]:
    metrics = result.evaluation.metrics.summary()
    return {"agent": name, "seed": seed, **extra, **{k: metrics[k] for k in MEASURES[:5]},
            "train_time_s": result.train_time_s, "steps": result.policy.num_steps, "steps_per_s": result.steps_per_s,
            **compare(metrics, baselines)}


def summarize(runs: pd.DataFrame) -> pd.DataFrame:
    """Mean and sample standard deviation over seeds of every measure, one row per agent (input order)."""
    rows = []
    for name in dict.fromkeys(runs["agent"]):
        group = runs[runs["agent"] == name]
        row: dict[str, Any] = {"agent": name, "seeds": len(group)}
        for measure in MEASURES:
            row[f"{measure}_mean"], row[f"{measure}_std"] = mean_and_spread(group[measure].astype(float))
        rows.append(row)
    return pd.DataFrame(rows)


def run_benchmark(config: dict[str, Any], *, agents: Sequence[str], seeds: Sequence[int], store: Any,
                  out_dir: Path, sweep: bool = True) -> dict[str, Any]:
    """Train and evaluate ``agents`` x ``seeds``, sweep ``latency_cost`` for the sweep agents; write the outputs."""
    for name in agents:
        get_agent(name)
    bench = config["agent"]["benchmark"]
    base_kwargs = env_kwargs_from_config(config, store, config["agent"]["name"])
    baselines = compute_baselines(base_kwargs, config["agent"]["thresholds"])
    device = config["device"]
    runs = []
    for name in agents:
        for seed in seeds:
            print(f"[benchmark] {name} seed {seed}")
            result = run_agent(name, env_kwargs=env_kwargs_from_config(config, store, name), seed=seed, device=device,
                               out_dir=out_dir / "runs" / name / f"seed{seed}", **agent_settings(config, name))
            runs.append(_row(name, seed, result, baselines))
    sweep_rows = []
    for name in [a for a in bench["sweep_agents"] if a in agents] if sweep else []:
        for cost in bench["latency_costs"]:
            print(f"[benchmark] {name} latency_cost {cost}")
            kwargs = {**env_kwargs_from_config(config, store, name), "latency_cost": float(cost)}
            result = run_agent(name, env_kwargs=kwargs, seed=seeds[0], device=device,
                               **{**agent_settings(config, name), "checkpoint_every": 0})
            sweep_rows.append(_row(name, seeds[0], result, baselines, latency_cost=float(cost)))
    runs_table, sweep_table = pd.DataFrame(runs), pd.DataFrame(sweep_rows)
    summary = summarize(runs_table)
    _write_csv(out_dir / "runs.csv", runs_table)
    _write_csv(out_dir / "benchmark.csv", summary)
    _write_csv(out_dir / "sweep.csv", sweep_table)
    points = {row["agent"]: {"accuracy": row["accuracy_mean"], "earliness": row["earliness_mean"],
                             "accuracy_std": row["accuracy_std"], "earliness_std": row["earliness_std"]}
              for _, row in summary.iterrows()}
    curves = {name: group for name, group in sweep_table.groupby("agent", sort=False)} if len(sweep_table) else {}
    plot_tradeoff(out_dir / "benchmark.png", baselines.threshold_curve, points, curves,
                  title=f"Accuracy vs earliness, held-out split, mean ± sd over seeds {list(seeds)}")
    with atomic_path(out_dir / "benchmark.md") as tmp:
        tmp.write_text(_markdown(summary, sweep_table, baselines, config, store, seeds))
    return {"summary": summary, "runs": runs_table, "sweep": sweep_table, "baselines": baselines}


def _write_csv(path: Path, table: pd.DataFrame) -> None:
    with atomic_path(path) as tmp:
        table.to_csv(tmp, index=False)


def _pm(row: pd.Series, measure: str, scale: float = 1.0, digits: int = 1) -> str:
    mean, std = row[f"{measure}_mean"] * scale, row[f"{measure}_std"] * scale
    if pd.isna(mean):
        return "-"
    return f"{mean:,.{digits}f} ± {std:,.{digits}f}"


def _markdown(summary: pd.DataFrame, sweep: pd.DataFrame, baselines: Baselines, config: dict[str, Any],
              store: Any, seeds: Sequence[int]) -> str:
    env = config["env"]
    best = baselines.threshold_curve.loc[baselines.threshold_curve["hm"].idxmax()]
    lines = [
        "# Agent benchmark",
        "",
        f"Store `{store.path}` (held-out split: {len(store.clip_indices('eval'))} clips), rewards "
        f"+{env['correct_reward']}/{env['wrong_reward']}, latency cost {env['latency_cost']} per step; "
        f"seeds {list(seeds)}. Mean ± standard deviation over seeds.",
        "",
        "| agent | accuracy % | earliness % | HM | return | train time s | env steps/s |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for _, row in summary.iterrows():
        lines.append(f"| {row['agent']} | {_pm(row, 'accuracy', 100)} | {_pm(row, 'earliness', 100)} "
                     f"| {_pm(row, 'hm', digits=3)} | {_pm(row, 'mean_return', digits=3)} "
                     f"| {_pm(row, 'train_time_s')} | {_pm(row, 'steps_per_s', digits=0)} |")
    lines += [
        "",
        f"Threshold baseline: best HM {best['hm']:.3f} at threshold {best['threshold']} "
        f"(accuracy {100 * best['accuracy']:.1f} %, earliness {100 * best['earliness']:.1f} %). "
        f"Answer at the end: accuracy {100 * baselines.end.metrics.accuracy:.1f} %.",
        "",
    ]
    if len(sweep):
        lines += ["## latency_cost sweep (first seed)", "", "| agent | latency_cost | accuracy % | earliness % | HM |",
                  "|---|---:|---:|---:|---:|",
                  *[f"| {r.agent} | {r.latency_cost} | {100 * r.accuracy:.1f} | {100 * r.earliness:.1f} | {r.hm:.3f} |"
                    for r in sweep.itertuples()], ""]
    lines += ["![accuracy vs earliness](benchmark.png)", ""]
    return "\n".join(lines)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m agents.benchmark", description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", type=Path, help="YAML run config (default: the built-in defaults)")
    parser.add_argument("--agents", help=f"comma-separated agents (default: agent.benchmark.agents): {', '.join(AGENTS)}")
    parser.add_argument("--seeds", help="comma-separated seeds (default: agent.benchmark.seeds)")
    parser.add_argument("--store", type=Path, help="feature store (default: as train_agent.py)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config key (repeatable)")
    parser.add_argument("--out", type=Path, help="output folder (default: agent.benchmark.out_dir)")
    parser.add_argument("--no-sweep", action="store_true", help="skip the latency_cost sweep")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    overrides = list(args.overrides) + (["agent.progress=false"] if args.no_progress else [])
    try:
        config = load_config(args.config, overrides)
        bench = config["agent"]["benchmark"]
        agents = args.agents.split(",") if args.agents else list(bench["agents"])
        seeds = [int(s) for s in args.seeds.split(",")] if args.seeds else [int(s) for s in bench["seeds"]]
        store = open_store(store_path(config, args.store))
        out_dir = args.out or resolve_path(config, bench["out_dir"], "benchmark")
        torch.set_num_threads(int(config["agent"]["threads"]))
        result = run_benchmark(config, agents=agents, seeds=seeds, store=store, out_dir=out_dir,
                               sweep=not args.no_sweep)
    except USER_ERRORS as exc:
        print(f"agents.benchmark: error: {exc}", file=sys.stderr)
        return 2
    print(result["summary"][["agent", "accuracy_mean", "earliness_mean", "hm_mean", "mean_return_mean",
                             "steps_per_s_mean"]].to_string(index=False))
    print(f"wrote {out_dir / 'benchmark.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
