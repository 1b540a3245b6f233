"""``python -m agents.benchmark``: parse the arguments, find the stores, run the benchmark."""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from agents.benchmark.runner import inner_validation_stores, run_benchmark
from agents.registry import AGENTS, get_agent
from agents.run_config import USER_ERRORS, describe_run, store_path
from emo_env.command_line import add_common_options, add_config_options, command_parser, common_overrides
from emo_env.config import default_config, load_config, resolve_path
from emo_env.envs.episodes import open_store
from pretrained_encoders.folds import fold_stores

__all__ = ["main"]


def _parser(prog: str) -> argparse.ArgumentParser:
    bench = default_config()["agent"]["benchmark"]
    parser = command_parser(prog, "Train and evaluate every agent on every fold and seed, on the same stores, splits "
                                  "and rewards; write the table, the intervals and the plots.", [
        "%(prog)s --agents dqn,threshold --seed 0,1 --no-sweep   # on the bundled store",
        "%(prog)s --folds all --workers 2                   # every fold of the config's corpus",
        "%(prog)s --folds all --validation                  # tune on inner validation speakers",
        "%(prog)s --folds all --ray                         # the grid as Ray tasks (emo-env[ray])",
        "%(prog)s --describe"])
    add_config_options(parser, set_example="agent.total_steps=50000")
    parser.add_argument("--agents", help="comma-separated agents: registered names "
                                         f"({', '.join(AGENTS)}) or package.module:Class (default: the config's "
                                         f"agent.benchmark.agents, {','.join(bench['agents'])} built in)")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--folds", help="'all' or comma-separated held-out folds: the per-fold stores of "
                                       "pretrain --all-folds, missing ones built (default: one store, --store)")
    where.add_argument("--store", type=Path, help="one feature store (default: as train picks it: the config's "
                                                  "exported store, or the bundled synthetic store)")
    parser.add_argument("--workers", type=int, help="local processes running the grid (default: the config's "
                                                    f"agent.benchmark.workers, {bench['workers']} built in)")
    parser.add_argument("--ray", nargs="?", const="", metavar="ADDRESS",
                        help="run the grid as Ray tasks: on the cluster at ADDRESS, or a local Ray instance "
                             "(needs pip install 'emo-env[ray]'; default: local processes, --workers)")
    parser.add_argument("--validation", action="store_true",
                        help="hold out a training speaker of each store instead of its test speaker (for tuning)")
    parser.add_argument("--out", type=Path, help="output folder (default: the config's agent.benchmark.out_dir, "
                                                 "or WORKDIR/benchmark)")
    parser.add_argument("--no-sweep", action="store_true", help="skip the latency_cost sweep")
    parser.add_argument("--resume", action="store_true", help="reuse finished runs, continue unfinished ones")
    add_common_options(parser, describe="the benchmark settings, the env settings and each agent's hyperparameters",
                       seeds=f"the config's agent.benchmark.seeds, {','.join(map(str, bench['seeds']))} built in")
    return parser


def main(argv: Sequence[str] | None = None, prog: str = "python -m agents.benchmark") -> int:
    """Run the benchmark (``emo-env benchmark``); return the exit status (2 for bad input, with a one-line message)."""
    args = _parser(prog).parse_args(argv)
    importlib.import_module("rliable")  # the benchmark extra, asked for before any run rather than after them all
    overrides = common_overrides(args) + (["agent.progress=false"] if args.no_progress else [])
    try:
        config = load_config(args.config, overrides)
        bench = config["agent"]["benchmark"]
        agents = args.agents.split(",") if args.agents else list(bench["agents"])
        seeds = [int(s) for s in args.seeds.split(",")] if args.seeds else [int(s) for s in bench["seeds"]]
        for name in agents:
            get_agent(name)
        if args.describe:
            print(_describe(config, agents, seeds))
            return 0
        if args.folds:
            folds = None if args.folds == "all" else args.folds.split(",")
            stores: dict[str, str | Path | None] = dict(fold_stores(config, folds, device=str(config["device"]),
                                                                    progress=not args.no_progress))
        else:
            store = open_store(store_path(config, args.store))
            held_out = sorted({store.speakers[i] for i in store.clip_indices("eval")})
            stores = {",".join(held_out): store.path}
        out_dir = args.out or resolve_path(config, bench["out_dir"], "benchmark")
        if args.validation:
            stores = inner_validation_stores(stores, out_dir / "validation")
        result = run_benchmark(config, agents=agents, seeds=seeds, stores=stores, out_dir=out_dir,
                               sweep=not args.no_sweep, workers=args.workers or int(bench["workers"]),
                               use_ray=args.ray is not None, ray_address=args.ray or None, resume=args.resume)
    except (*USER_ERRORS, ImportError) as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 2
    columns = ["agent", "mean_return", "mean_return_low", "mean_return_high", "accuracy", "earliness"]
    print(result.summary[columns].to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    print(f"wrote {out_dir / 'benchmark.md'} ({result.report['wall_time_s'] / 60:.1f} min)")
    return 0


def _describe(config: dict[str, Any], agents: list[str], seeds: list[int]) -> str:
    bench = {**config["agent"]["benchmark"], "agents": agents, "seeds": seeds}
    lines = [f"  agent.benchmark.{key} = {json.dumps(value)}" for key, value in bench.items()]
    agent_lines = [describe_run(config, name) for name in agents]
    return "\n".join(["benchmark settings (agent.benchmark):", *lines, *agent_lines])
