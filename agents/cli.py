"""``train_agent.py``: train one agent on AVEmotion-v0, evaluate it on the held-out split, save, report, plot.

    python train_agent.py [--config synthetic] [--agent dqn] [--store PATH]
        [--set key=value ...] [--resume] [--seed N] [--device auto] [--out DIR] [--no-progress] [--describe]
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from agents.registry import AGENTS, get_agent
from agents.report import write_run_report
from agents.run_config import (
    USER_ERRORS,
    agent_settings,
    baseline_configs,
    describe_run,
    env_kwargs_from_config,
    store_path,
)
from agents.training import compute_baselines, run_agent
from emo_env.artifacts import POLICY_FILE, agent_dir
from emo_env.command_line import add_common_options, add_config_options, command_parser, common_overrides
from emo_env.config import default_config, load_config
from emo_env.envs.episodes import open_store

__all__ = ["main"]


def _parser(prog: str) -> argparse.ArgumentParser:
    parser = command_parser(prog, "Train one agent on AVEmotion-v0, evaluate it on the held-out split, save the "
                                  "policy, the report and the plots.", [
        "%(prog)s                                   # the default run: DQN on the bundled store",
        "%(prog)s --agent reinforce --seed 1 --no-progress",
        "%(prog)s --config ravdess                  # on the store that pretrain exported for RAVDESS",
        "%(prog)s --agent mypackage.agents:MyPolicy --set agent.total_steps=20000",
        "%(prog)s --agent sb3-ppo --describe"])
    add_config_options(parser, set_example="agent.total_steps=50000")
    parser.add_argument("--agent", help=f"agent to train: {', '.join(AGENTS)}, or package.module:Class for a Policy "
                                        f"subclass of your own (default: the config's agent.name, "
                                        f"{default_config()['agent']['name']} built in)")
    parser.add_argument("--store", type=Path, help="feature store (default: the config's exported store, "
                                                   "or the bundled synthetic store)")
    parser.add_argument("--resume", action="store_true", help="continue from the run's last checkpoint")
    parser.add_argument("--out", type=Path, help="output folder (default: the config's agent.out_dir, "
                                                 "or WORKDIR/agents/AGENT)")
    add_common_options(parser, describe="the run's env settings and the agent's hyperparameters")
    return parser


def main(argv: Sequence[str] | None = None, prog: str = "train_agent.py") -> int:
    """Run ``train_agent.py`` (``emo-env train``); return the exit status (2 for bad input, with a one-line message)."""
    args = _parser(prog).parse_args(argv)
    overrides = common_overrides(args)
    if args.agent is not None:
        overrides.append(f"agent.name={json.dumps(args.agent)}")  # quoted: a spec such as "m:" stays a string
    if args.no_progress:
        overrides.append("agent.progress=false")
    try:
        config = load_config(args.config, overrides)
        name = config["agent"]["name"]
        get_agent(name)  # an unknown agent fails here, before the store is opened
        if args.describe:
            print(describe_run(config, name))
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
    except (*USER_ERRORS, ImportError) as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 2
    _summary(report, out_dir)
    return 0


def _summary(report: dict[str, Any], out_dir: Path) -> None:
    m, c = report["metrics"], report["comparison"]
    print(f"held-out: accuracy {100 * m['accuracy']:.1f} %, earliness {100 * m['earliness']:.1f} %, "
          f"decision time {m['decision_time_s']:.2f} s, HM {m['hm']:.3f}, return {m['mean_return']:.3f}")
    print(f"fair baselines (tuned on the training split): best {c['best_fair_baseline']} return "
          f"{c['best_fair_return']:.3f}; answer at the end {100 * c['end_accuracy']:.1f} %; oracle threshold "
          f"(tuned on the test speaker) at this earliness {100 * c['oracle_accuracy_at_earliness']:.1f} %")
    print(f"policy: {out_dir / POLICY_FILE}\nreport: {out_dir / 'report.md'}")


if __name__ == "__main__":
    sys.exit(main())
