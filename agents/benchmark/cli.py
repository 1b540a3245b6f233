"""``python -m agents.benchmark``: parse the arguments, find the stores, run the benchmark."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from agents.benchmark.runner import inner_validation_stores, run_benchmark
from agents.registry import AGENTS, get_agent
from agents.run_config import USER_ERRORS, store_path
from emo_env.config import load_config, resolve_path
from emo_env.envs.episodes import open_store
from pretrained_encoders.folds import fold_stores

from . import __doc__ as _USAGE

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m agents.benchmark", description=(_USAGE or "").split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", type=Path, help="YAML run config (default: the built-in defaults)")
    parser.add_argument("--agents", help="comma-separated agents (default: agent.benchmark.agents): registered "
                                         f"names ({', '.join(AGENTS)}) or package.module:Class")
    parser.add_argument("--seeds", help="comma-separated seeds (default: agent.benchmark.seeds)")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--folds", help="'all' or comma-separated held-out folds: the per-fold stores of "
                                       "pretrain_encoder.py --all-folds (missing ones are built)")
    where.add_argument("--store", type=Path, help="one feature store (default: as train_agent.py)")
    parser.add_argument("--workers", type=int, help="local processes running the grid (default: "
                                                    "agent.benchmark.workers)")
    parser.add_argument("--ray", nargs="?", const="", metavar="ADDRESS",
                        help="run the grid as Ray tasks: on the cluster at ADDRESS, or a local Ray instance "
                             "(needs pip install 'emo-env[ray]')")
    parser.add_argument("--validation", action="store_true",
                        help="hold out a training speaker of each store instead of its test speaker (for tuning)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config key (repeatable)")
    parser.add_argument("--out", type=Path, help="output folder (default: agent.benchmark.out_dir)")
    parser.add_argument("--no-sweep", action="store_true", help="skip the latency_cost sweep")
    parser.add_argument("--resume", action="store_true", help="reuse finished runs, continue unfinished ones")
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
        for name in agents:
            get_agent(name)
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
        print(f"agents.benchmark: error: {exc}", file=sys.stderr)
        return 2
    columns = ["agent", "mean_return", "mean_return_low", "mean_return_high", "accuracy", "earliness"]
    print(result.summary[columns].to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    print(f"wrote {out_dir / 'benchmark.md'} ({result.report['wall_time_s'] / 60:.1f} min)")
    return 0
