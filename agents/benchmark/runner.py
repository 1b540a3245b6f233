"""The benchmark run: the grid of (fold, agent, seed) runs, the statistics over them and the report files
(see :mod:`agents.benchmark`)."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from agents.evaluation import area_under_tradeoff, curve_accuracy_at, pareto_front
from agents.grid import Task, TaskResult, run_grid, store_digest, task_dir
from agents.metrics import compute_metrics, harmonic_mean
from agents.plots import plot_tradeoff
from agents.registry import get_agent
from agents.run_config import agent_settings, baseline_configs, env_kwargs_from_config
from agents.stats import improvement_table, interval_table
from agents.stopping import BeliefPaths
from agents.training import FAIR_BASELINES, PUBLISHED_BASELINES, end_and_oracle
from agents.validation import inner_speaker, inner_validation_store
from emo_env.artifacts import atomic_path
from emo_env.envs.episodes import open_store

__all__ = ["MEASURES", "Benchmark", "run_benchmark", "inner_validation_stores"]

#: Per-run measures given with intervals; the mean return is the primary one.
MEASURES = ("mean_return", "accuracy", "earliness", "decision_time_s")


@dataclass(frozen=True)
class Benchmark:
    """The tables of a finished benchmark (each also written as CSV)."""

    summary: pd.DataFrame  # one row per agent
    improvement: pd.DataFrame  # one row per (agent, fair baseline)
    folds: pd.DataFrame  # one row per (agent, fold)
    runs: pd.DataFrame  # one row per (fold, agent, seed)
    episodes: pd.DataFrame  # one row per held-out clip of every run
    oracle: pd.DataFrame  # the threshold sweep on the held-out splits, averaged over folds
    sweep: pd.DataFrame  # one row per (sweep agent, latency cost), averaged over folds
    report: dict[str, Any]


def run_benchmark(config: dict[str, Any], *, agents: Sequence[str], seeds: Sequence[int],
                  stores: Mapping[str, str | Path | None], out_dir: Path, sweep: bool = True, workers: int = 1,
                  use_ray: bool = False, ray_address: str | None = None, resume: bool = False) -> Benchmark:
    """Train and evaluate ``agents`` x ``seeds`` on every fold of ``stores`` (fold -> store path, ``None``:
    the bundled store), sweep ``latency_cost`` for the sweep agents, pool, write the outputs."""
    for name in agents:
        get_agent(name)
    for what, values in (("agents", agents), ("seeds", seeds)):
        if len(set(values)) != len(values) or not values:
            raise ValueError(f"benchmark {what} must be distinct and not empty, got {list(values)}")
    started = time.perf_counter()
    bench = config["agent"]["benchmark"]
    store_paths: dict[str, str | None] = {fold: None if path is None else str(path) for fold, path in stores.items()}
    digests = {fold: store_digest(path) for fold, path in store_paths.items()}
    quiet = workers > 1 or use_ray  # progress bars of parallel runs would interleave

    def task(fold: str, name: str, seed: int, root: str, cost: float | None = None) -> Task:
        return _task(config, fold, store_paths[fold], digests[fold], name, seed, out_dir / root, resume, quiet, cost)

    tasks = [task(fold, name, seed, "runs") for fold in store_paths for name in agents for seed in seeds]
    sweep_agents = [name for name in bench["sweep_agents"] if name in agents] if sweep else []
    # A sweep point at the benchmark's own latency cost is the main run of the first seed: read, not run again.
    main_run = {(t.fold, t.agent, t.seed): i for i, t in enumerate(tasks)}
    sweep_tasks, reused = [], []
    for fold in store_paths:
        for name in sweep_agents:
            first = main_run[fold, name, seeds[0]]
            for cost in map(float, bench["latency_costs"]):
                if cost == float(tasks[first].env_kwargs["latency_cost"]):
                    reused.append(first)
                else:
                    sweep_tasks.append(task(fold, name, seeds[0], "sweep", cost))
    results = run_grid(tasks + sweep_tasks, workers=workers, use_ray=use_ray, ray_address=ray_address)
    oracles, ends, hindsights = zip(*(_held_out_references(config, store) for store in store_paths.values()),
                                    strict=True)
    oracle = _mean_over_folds(pd.concat(oracles, ignore_index=True), "threshold")
    best_oracle = oracle.loc[oracle["mean_return"].idxmax()]
    limits = {"oracle": {"threshold": float(best_oracle["threshold"]),
                         **{m: float(best_oracle[m]) for m in ("mean_return", "accuracy", "earliness")}},
              "clairvoyant": {m: float(np.mean([h[m] for h in hindsights])) for m in hindsights[0]}}
    end_accuracy = {fold: end for fold, end in zip(store_paths, ends, strict=True)}
    num_classes = {fold: open_store(store).num_classes for fold, store in store_paths.items()}
    runs, episodes = _runs(results[: len(tasks)], num_classes)
    sweep_table = _sweep_table([*results[len(tasks):], *(results[i] for i in reused)])
    reps, stats_seed = int(bench["bootstrap_reps"]), int(config["seed"])
    summary = interval_table(runs, agents, MEASURES, reps=reps, seed=stats_seed)
    summary = _add_fold_measures(summary, runs, oracle, sweep_table, float(np.mean(list(end_accuracy.values()))))
    fair = [name for name in (*FAIR_BASELINES, *PUBLISHED_BASELINES) if name in agents]
    learners = [name for name in agents if name not in fair]
    improvement = improvement_table(runs, learners, fair, "mean_return", reps=reps, seed=stats_seed)
    folds = _fold_table(runs, end_accuracy)
    report = {
        "agents": list(agents), "seeds": list(seeds), "folds": list(store_paths), "stores": store_paths,
        "env": {key: value for key, value in env_kwargs_from_config(config, None, agents[0]).items() if key != "store"},
        "budgets": {name: int(runs.loc[runs["agent"] == name, "steps"].max()) for name in agents},
        "fair_baselines": fair, "bootstrap_reps": reps, "oracle_area": area_under_tradeoff(oracle), "limits": limits,
        "wall_time_s": time.perf_counter() - started, "workers": "ray" if use_ray else workers,
        "runs_read_back": sum(r.reused for r in results), "runs_total": len(results),
        "summary": summary.to_dict(orient="records"), "improvement": improvement.to_dict(orient="records"),
        "folds_table": folds.to_dict(orient="records"),
    }
    result = Benchmark(summary, improvement, folds, runs, episodes, oracle, sweep_table, report)
    _write(out_dir, result)
    return result


def inner_validation_stores(stores: Mapping[str, str | Path | None], folder: Path) -> dict[str, str | Path | None]:
    """Each store's inner-validation copy, named ``<fold>-inner-<speaker>``."""
    inner: dict[str, str | Path | None] = {}
    for fold, path in stores.items():
        store = open_store(path)
        speaker = inner_speaker(store)
        inner[f"{fold}-inner-{speaker}"] = inner_validation_store(store, folder / f"{fold}.emostore", speaker)
    return inner


def _task(config: dict[str, Any], fold: str, store: str | None, digest: str, name: str, seed: int, root: Path,
          resume: bool, quiet: bool, latency_cost: float | None = None) -> Task:
    env_kwargs = env_kwargs_from_config(config, store, name)
    settings = agent_settings(config, name)
    parts: tuple[object, ...] = (fold, name, f"seed{seed}")
    if latency_cost is not None:
        env_kwargs["latency_cost"] = latency_cost
        settings["checkpoint_every"] = 0
        parts = (fold, name, f"latency_cost={latency_cost:g}")
    if quiet:
        settings["progress"] = False
    return Task(fold, name, seed, env_kwargs, settings, store_digest=digest, device=str(config["device"]),
                threads=int(config["agent"]["threads"]), out_dir=str(task_dir(root, *parts)), resume=resume,
                label=" ".join(map(str, parts)))


def _held_out_references(config: dict[str, Any],
                         store_file: str | None) -> tuple[pd.DataFrame, float, dict[str, float]]:
    """A fold's threshold sweep on its held-out split (the oracle), its answer-at-the-end accuracy and the
    clairvoyant's figures there."""
    kwargs = env_kwargs_from_config(config, open_store(store_file), "threshold")
    end, oracle = end_and_oracle(kwargs, baseline_configs(config)["threshold"])
    return oracle, end.metrics.accuracy, BeliefPaths.from_env(kwargs, split="eval").hindsight()


def _mean_over_folds(table: pd.DataFrame, key: str) -> pd.DataFrame:
    """Per value of ``key`` (one row per fold): accuracy, earliness and mean return averaged over the folds,
    each fold weighing the same, as in the per-run statistics; sorted by earliness."""
    pooled = table.groupby(key, sort=True)[["accuracy", "earliness", "mean_return"]].mean().reset_index()
    pooled["hm"] = [harmonic_mean(a, e) for a, e in zip(pooled["accuracy"], pooled["earliness"], strict=True)]
    return pooled.sort_values(["earliness", "accuracy"]).reset_index(drop=True)


def _runs(results: Sequence[TaskResult], num_classes: Mapping[str, int]) -> tuple[pd.DataFrame, pd.DataFrame]:
    rows, episodes = [], []
    for r in results:
        t = r.task
        metrics = compute_metrics(r.episodes, num_classes[t.fold])
        rows.append({"fold": t.fold, "agent": t.agent, "seed": t.seed, **metrics.summary(),
                     "train_time_s": r.train_time_s, "steps": r.steps,
                     "tuned": json.dumps({k: r.config[k] for k in getattr(get_agent(t.agent), "tuned", {})})})
        episodes.append(r.episodes.assign(fold=t.fold, agent=t.agent, seed=t.seed))
    return pd.DataFrame(rows), pd.concat(episodes, ignore_index=True)


def _sweep_table(results: Sequence[TaskResult]) -> pd.DataFrame:
    """Per sweep agent and latency cost (in increasing order): accuracy, earliness and mean return, averaged
    over folds."""
    rows = [{"agent": r.task.agent, "latency_cost": r.task.env_kwargs["latency_cost"],
             "accuracy": float((r.episodes["prediction"] == r.episodes["label"]).mean()),
             "earliness": float(r.episodes["fraction"].mean()), "mean_return": float(r.episodes["return"].mean())}
            for r in results]
    columns = ["agent", "latency_cost", "accuracy", "earliness", "mean_return", "hm"]
    if not rows:
        return pd.DataFrame(columns=columns)
    table = pd.DataFrame(rows)
    pooled = [_mean_over_folds(group, "latency_cost").assign(agent=agent).sort_values("latency_cost")
              for agent, group in table.groupby("agent", sort=False)]
    return pd.concat(pooled, ignore_index=True)[columns]


def _add_fold_measures(summary: pd.DataFrame, runs: pd.DataFrame, oracle: pd.DataFrame, sweep: pd.DataFrame,
                         end_accuracy: float) -> pd.DataFrame:
    """HM from the accuracy and earliness over folds, the oracle's accuracy at each agent's earliness, the gap
    to answering at the end, the area under each swept learner's trade-off curve, training cost."""
    front = pareto_front(oracle)
    summary = summary.copy()
    summary["hm"] = [harmonic_mean(a, e) for a, e in zip(summary["accuracy"], summary["earliness"], strict=True)]
    summary["oracle_accuracy_at_earliness"] = [curve_accuracy_at(front, e) for e in summary["earliness"]]
    summary["end_accuracy"] = end_accuracy
    summary["accuracy_gap_to_end"] = end_accuracy - summary["accuracy"]
    areas = {agent: area_under_tradeoff(group) for agent, group in sweep.groupby("agent")} if len(sweep) else {}
    summary["tradeoff_area"] = [areas.get(agent, np.nan) for agent in summary["agent"]]
    per_agent = runs.groupby("agent")[["train_time_s", "steps"]].mean()
    summary["train_time_s"] = summary["agent"].map(per_agent["train_time_s"])
    summary["steps"] = summary["agent"].map(per_agent["steps"])
    return summary


def _fold_table(runs: pd.DataFrame, end_accuracy: Mapping[str, float]) -> pd.DataFrame:
    grouped = runs.groupby(["agent", "fold"], sort=False)
    table = grouped[["mean_return", "accuracy", "earliness"]].mean()
    table["earliness_spread"] = grouped["earliness"].max() - grouped["earliness"].min()
    table = table.reset_index()
    table["end_accuracy"] = table["fold"].map(end_accuracy)
    return table


def _write(out_dir: Path, result: Benchmark) -> None:
    for name, table in (("benchmark", result.summary), ("improvement", result.improvement), ("folds", result.folds),
                        ("runs", result.runs), ("episodes", result.episodes), ("oracle", result.oracle),
                        ("sweep", result.sweep)):
        with atomic_path(out_dir / f"{name}.csv") as tmp:
            table.to_csv(tmp, index=False)
    with atomic_path(out_dir / "benchmark.json") as tmp:
        tmp.write_text(json.dumps(_finite(result.report), indent=2) + "\n")
    fair = set(result.report["fair_baselines"])
    points = {row["agent"] + (" (fair baseline)" if row["agent"] in fair else ""):
              {"accuracy": row["accuracy"], "earliness": row["earliness"],
               "accuracy_err": [[row["accuracy"] - row["accuracy_low"]], [row["accuracy_high"] - row["accuracy"]]],
               "earliness_err": [[row["earliness"] - row["earliness_low"]], [row["earliness_high"] - row["earliness"]]]}
              for _, row in result.summary.iterrows()}
    r = result.report
    limit = r["limits"]["clairvoyant"]
    points["clairvoyant (knows the label)"] = {"accuracy": limit["accuracy"], "earliness": limit["earliness"],
                                               "accuracy_err": [[0.0], [0.0]], "earliness_err": [[0.0], [0.0]]}
    curves = {agent: group for agent, group in result.sweep.groupby("agent", sort=False)}
    plot_tradeoff(out_dir / "benchmark.png", result.oracle, points, curves,
                  title=f"Held-out accuracy vs earliness, {len(r['folds'])} fold(s) x "
                        f"{len(r['seeds'])} seed(s), 95 % intervals")
    with atomic_path(out_dir / "benchmark.md") as tmp:
        tmp.write_text(_markdown(result))


def _finite(value: Any) -> Any:
    """``value`` as strict JSON: NaN becomes null, numpy scalars plain numbers."""
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(item) for item in value]
    if isinstance(value, (float, np.floating)):
        return float(value) if np.isfinite(value) else None
    return value.item() if isinstance(value, np.generic) else value


def _ci(row: Mapping[str, Any], measure: str, scale: float = 1.0, digits: int = 3) -> str:
    return (f"{scale * row[measure]:.{digits}f} [{scale * row[f'{measure}_low']:.{digits}f}, "
            f"{scale * row[f'{measure}_high']:.{digits}f}]")


def _markdown(result: Benchmark) -> str:
    r = result.report
    env = r["env"]
    lines = [
        "# Agent benchmark",
        "",
        f"{len(r['folds'])} fold(s) ({', '.join(r['folds'])}), seeds {r['seeds']}; rewards +{env['correct_reward']}"
        f"/{env['wrong_reward']}, latency cost {env['latency_cost']} per step. Every figure is measured on the "
        "held-out speakers, averaged over runs (each fold weighs the same); intervals are 95 % stratified-bootstrap "
        f"intervals over runs (seeds resampled within each fold, rliable, {r['bootstrap_reps']} resamples)"
        + ("" if len(r["seeds"]) > 1 else ": with one seed they have no width, so they say nothing") +
        f". Wall time {r['wall_time_s'] / 60:.1f} min"
        + (f", {r['runs_read_back']} of {r['runs_total']} runs read back from an earlier invocation."
           if r["runs_read_back"] else "."),
        "",
        "| agent | mean return | IQM return | accuracy % | earliness % | decision time s | oracle accuracy at "
        "this earliness % | trade-off area | HM | train time s | env steps |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for _, row in result.summary.iterrows():
        area = "-" if pd.isna(row["tradeoff_area"]) else f"{row['tradeoff_area']:.3f}"
        lines.append(
            f"| {row['agent']} | {_ci(row, 'mean_return')} | {_ci(row, 'mean_return_iqm')} "
            f"| {_ci(row, 'accuracy', 100, 1)} | {_ci(row, 'earliness', 100, 1)} | {row['decision_time_s']:.2f} "
            f"| {100 * row['oracle_accuracy_at_earliness']:.1f} | {area} | {row['hm']:.3f} "
            f"| {row['train_time_s']:.1f} | {r['budgets'][row['agent']]:,} |")
    end = result.summary["end_accuracy"].iloc[0]
    lines += [
        "",
        f"- Answering at the end of every clip: {100 * end:.1f} % accuracy.",
        "- Fair baselines (" + ", ".join(r["fair_baselines"] or ["none run"]) + "): each parameter is tuned on the "
        "fold's training split for the highest mean return, the learners' objective.",
        "- Oracle: the best confidence threshold for each earliness, tuned on the test speakers themselves "
        f"(threshold sweep on the held-out split, averaged over folds; area under its curve {r['oracle_area']:.3f}). "
        "No learner can use that information; it marks what a threshold rule could reach at best.",
        "- Trade-off area: the area under the best accuracy reached at each earliness in [0, 1] over the "
        "`latency_cost` sweep (first seed, averaged over folds).",
        "- HM = 2 acc (1 - earliness) / (acc + 1 - earliness), from the mean accuracy and earliness; a secondary "
        "figure: it scores answering at the end as 0.",
        "",
        "Limits no policy can reach (each uses the test speakers' labels), averaged over folds:",
        "",
        "| limit | mean return | accuracy % | earliness % |",
        "|---|---:|---:|---:|",
        *[f"| {label} | {r['limits'][key]['mean_return']:.3f} | {100 * r['limits'][key]['accuracy']:.1f} "
          f"| {100 * r['limits'][key]['earliness']:.1f} |"
          for key, label in (("oracle", f"oracle: one threshold ({r['limits']['oracle']['threshold']:g}) tuned on "
                                        "the test speakers"),
                             ("clairvoyant", "clairvoyant: each clip answered at its best step in hindsight"))],
        "",
    ]
    if len(result.improvement):
        lines += ["## Against the fair baselines (mean return)", "",
                  "| agent | baseline | probability of improvement | difference of mean return |",
                  "|---|---|---:|---:|",
                  *[f"| {row['agent']} | {row['baseline']} | {_ci(row, 'probability_of_improvement', digits=2)} "
                    f"| {_ci(row, 'mean_return_difference')} |" for _, row in result.improvement.iterrows()],
                  "", "Probability of improvement: the chance that a run of the agent has a higher mean return than a "
                  "run of the baseline on the same fold, averaged over folds.", ""]
    lines += ["## Per fold (mean over seeds)", "",
              "| agent | fold | mean return | accuracy % | earliness % | earliness spread across seeds (points) "
              "| answer at the end % |", "|---|---|---:|---:|---:|---:|---:|",
              *[f"| {row.agent} | {row.fold} | {row.mean_return:.3f} | {100 * row.accuracy:.1f} "
                f"| {100 * row.earliness:.1f} | {100 * row.earliness_spread:.1f} | {100 * row.end_accuracy:.1f} |"
                for row in result.folds.itertuples()], ""]
    tuned = result.runs[result.runs["tuned"] != "{}"].drop_duplicates(["fold", "agent"])
    if len(tuned):
        lines += ["## Tuned on each fold's training split", "", "| agent | fold | parameters |", "|---|---|---|",
                  *[f"| {row.agent} | {row.fold} | {row.tuned} |" for row in tuned.itertuples()], ""]
    if len(result.sweep):
        lines += ["## latency_cost sweep (first seed, averaged over folds)", "",
                  "| agent | latency_cost | accuracy % | earliness % | mean return |", "|---|---:|---:|---:|---:|",
                  *[f"| {row.agent} | {row.latency_cost:g} | {100 * row.accuracy:.1f} | {100 * row.earliness:.1f} "
                    f"| {row.mean_return:.3f} |" for row in result.sweep.itertuples()], ""]
    lines += ["![accuracy vs earliness](benchmark.png)", ""]
    return "\n".join(lines)
