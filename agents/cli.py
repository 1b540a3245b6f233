"""``train_agent.py``: train one agent on AVEmotion-v0, evaluate it on the held-out split, save, report, plot.

    python train_agent.py [--config configs/synthetic.yaml] [--agent dqn] [--store PATH]
        [--set key=value ...] [--resume] [--seed N] [--device auto] [--out DIR] [--no-progress]
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from agents.policy import Policy
from agents.registry import AGENTS, get_agent
from agents.report import write_run_report
from agents.run_config import USER_ERRORS, agent_settings, baseline_configs, env_kwargs_from_config, store_path
from agents.training import compute_baselines, run_agent
from emo_env.artifacts import POLICY_FILE, agent_dir
from emo_env.config import describe_settings, load_config
from emo_env.envs import EnvConfig
from emo_env.envs.episodes import open_store

__all__ = ["main"]

def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="train_agent.py", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", type=Path, help="YAML run config (default: the built-in defaults)")
    parser.add_argument("--agent", help=f"agent to train (overrides agent.name): {', '.join(AGENTS)}, or "
                                        "package.module:Class for a Policy subclass of your own")
    parser.add_argument("--store", type=Path, help="feature store (default: the config's exported store, "
                                                   "or the bundled synthetic store)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config key, e.g. --set agent.total_steps=50000 (repeatable)")
    parser.add_argument("--resume", action="store_true", help="continue from the run's last checkpoint")
    parser.add_argument("--seed", type=int, help="overrides the config's seed")
    parser.add_argument("--device", help="auto | cpu | cuda | cuda:N (overrides the config's device)")
    parser.add_argument("--out", type=Path, help="output folder (overrides agent.out_dir)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--describe", action="store_true",
                        help="print the run's env settings and the agent's hyperparameters (value and meaning of "
                             "each, after --config/--set), then exit without training")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    overrides = list(args.overrides)
    agent = None if args.agent is None else json.dumps(args.agent)  # quoted: a spec such as "m:" stays a string
    for key, value in (("agent.name", agent), ("seed", args.seed), ("device", args.device)):
        if value is not None:
            overrides.append(f"{key}={value}")
    if args.no_progress:
        overrides.append("agent.progress=false")
    try:
        config = load_config(args.config, overrides)
        name = config["agent"]["name"]
        cls = get_agent(name)
        if args.describe:
            print(_describe(config, name, cls))
            return 0
        store = open_store(store_path(config, args.store))
        out_dir = args.out or agent_dir(config, name)
        env_kwargs = env_kwargs_from_config(config, store, name)
        torch.set_num_threads(int(config["agent"]["threads"]))
        settings = {"store": str(store.path), "seed": int(config["seed"]), "device": str(config["device"]),
                    **{k: v for k, v in env_kwargs.items() if k != "store"}}
        print(f"training {name} on {store.path} ({env_kwargs['obs_mode']} observations) -> {out_dir}")
        result = run_agent(name, env_kwargs=env_kwargs, seed=int(config["seed"]), device=config["device"],
                           out_dir=out_dir, resume=args.resume, run_info=settings, **agent_settings(config, name))
        baselines = compute_baselines(env_kwargs, baseline_configs(config))
        report = write_run_report(out_dir, result, baselines, settings, store.class_names)
    except USER_ERRORS as exc:
        print(f"train_agent.py: error: {exc}", file=sys.stderr)
        return 2
    _summary(report, out_dir)
    return 0


def _describe(config: dict[str, Any], name: str, cls: type[Policy]) -> str:
    settings = agent_settings(config, name)["hyperparameters"]
    env = env_kwargs_from_config(config, None, name)
    return (f"env settings (emo_env.envs.EnvConfig; obs_mode is agent.{cls.registry_key()}.obs_mode where set):\n"
            f"{describe_settings(EnvConfig, 'env', {k: v for k, v in env.items() if k != 'store'})}\n"
            f"agent {name} ({cls.Config.__module__}.{cls.Config.__qualname__}):\n"
            f"{describe_settings(cls.Config, f'agent.{cls.registry_key()}', settings) or '  (no hyperparameters)'}")


def _summary(report: dict[str, Any], out_dir: Path) -> None:
    m, c = report["metrics"], report["comparison"]
    print(f"held-out: accuracy {100 * m['accuracy']:.1f} %, earliness {100 * m['earliness']:.1f} %, "
          f"decision time {m['decision_time_s']:.2f} s, HM {m['hm']:.3f}, return {m['mean_return']:.3f}")
    print(f"fair baselines (tuned on the training split): best {c['best_fair_baseline']} return "
          f"{c['best_fair_return']:.3f}; answer at the end {100 * c['end_accuracy']:.1f} %; oracle threshold "
          f"(tuned on the test speaker) at this earliness {100 * c['oracle_accuracy_at_earliness']:.1f} %")
    print(f"policy: {out_dir / POLICY_FILE}\nreport: {out_dir / 'report.md'}")
