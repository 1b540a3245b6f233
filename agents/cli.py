"""``train_agent.py``: train one agent on AVEmotion-v0, evaluate it on the held-out split, save, report, plot.

    python train_agent.py [--config configs/synthetic.yaml] [--agent dqn] [--store PATH]
        [--set key=value ...] [--resume] [--seed N] [--device auto] [--out DIR] [--no-progress]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, Sequence

import torch

from agents.registry import AGENTS, get_agent
from agents.report import write_run_report
from agents.training import compute_baselines, run_agent
from emo_env.config import ConfigError, load_config, resolve_path
from emo_env.data.store import StoreError
from emo_env.envs.episodes import open_store
from pretrained_encoders.checkpoint import CheckpointError
from pretrained_encoders.cli import output_paths

__all__ = ["main", "store_path", "env_kwargs_from_config", "agent_settings", "USER_ERRORS"]

USER_ERRORS = (ConfigError, StoreError, CheckpointError, FileNotFoundError, ValueError)
ENV_KEYS = ("modality", "correct_reward", "wrong_reward", "latency_cost", "latency_power", "last_step_wait")


def store_path(config: dict[str, Any], store: str | Path | None = None) -> Path | None:
    """The feature store of a run: ``store`` if given, else the one ``pretrain_encoder.py`` exported for
    this config, else (synthetic corpus) the bundled store (``None``)."""
    if store is not None:
        return Path(store)
    exported = output_paths(config, str(config["encoder"]["speaker"]))[1]
    if exported.is_file():
        return exported
    if config["data"]["dataset"] == "synthetic":
        return None
    raise FileNotFoundError(f"no feature store for this config: {exported} does not exist. Build it with "
                            "`python pretrain_encoder.py --config ...` or pass --store PATH")


def env_kwargs_from_config(config: dict[str, Any], store: Any, agent: str) -> dict[str, Any]:
    """AVEmotionEnv arguments of a run: the ``env`` section, with the agent section's ``obs_mode`` if set."""
    obs_mode = _section(config, agent).get("obs_mode") or config["env"]["obs_mode"]
    return {"store": store, "obs_mode": obs_mode, **{key: config["env"][key] for key in ENV_KEYS}}


def agent_settings(config: dict[str, Any], agent: str) -> dict[str, Any]:
    """The run arguments of ``agent`` from the ``agent`` section (its hyperparameters, budget, schedule)."""
    section = config["agent"]
    hyperparameters = {k: v for k, v in _section(config, agent).items() if k != "obs_mode"}
    return {"hyperparameters": hyperparameters, "total_steps": section["total_steps"],
            "checkpoint_every": int(section["checkpoint_every"]), "eval_every": int(section["eval_every"]),
            "progress": bool(section["progress"])}


def _section(config: dict[str, Any], agent: str) -> dict[str, Any]:
    get_agent(agent)
    if agent not in config["agent"]:
        raise ConfigError(f"config has no section agent.{agent} (agents: {', '.join(AGENTS)})")
    return config["agent"][agent]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="train_agent.py", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", type=Path, help="YAML run config (default: the built-in defaults)")
    parser.add_argument("--agent", help=f"agent to train (overrides agent.name): {', '.join(AGENTS)}")
    parser.add_argument("--store", type=Path, help="feature store (default: the config's exported store, "
                                                   "or the bundled synthetic store)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config key, e.g. --set agent.total_steps=50000 (repeatable)")
    parser.add_argument("--resume", action="store_true", help="continue from the run's last checkpoint")
    parser.add_argument("--seed", type=int, help="overrides the config's seed")
    parser.add_argument("--device", help="auto | cpu | cuda | cuda:N (overrides the config's device)")
    parser.add_argument("--out", type=Path, help="output folder (overrides agent.out_dir)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    overrides = list(args.overrides)
    for key, value in (("agent.name", args.agent), ("seed", args.seed), ("device", args.device)):
        if value is not None:
            overrides.append(f"{key}={value}")
    if args.no_progress:
        overrides.append("agent.progress=false")
    try:
        config = load_config(args.config, overrides)
        name = config["agent"]["name"]
        get_agent(name)
        store = open_store(store_path(config, args.store))
        out_dir = args.out or resolve_path(config, config["agent"]["out_dir"], f"agents/{name}")
        env_kwargs = env_kwargs_from_config(config, store, name)
        torch.set_num_threads(int(config["agent"]["threads"]))
        settings = {"store": str(store.path), "seed": int(config["seed"]), "device": str(config["device"]),
                    **{k: v for k, v in env_kwargs.items() if k != "store"}}
        print(f"training {name} on {store.path} ({env_kwargs['obs_mode']} observations) -> {out_dir}")
        result = run_agent(name, env_kwargs=env_kwargs, seed=int(config["seed"]), device=config["device"],
                           out_dir=out_dir, resume=args.resume, run_info=settings, **agent_settings(config, name))
        baselines = compute_baselines(env_kwargs, config["agent"]["thresholds"])
        report = write_run_report(out_dir, result, baselines, settings, store.class_names)
    except USER_ERRORS as exc:
        print(f"train_agent.py: error: {exc}", file=sys.stderr)
        return 2
    _summary(report, out_dir)
    return 0


def _summary(report: dict[str, Any], out_dir: Path) -> None:
    m, c = report["metrics"], report["comparison"]
    print(f"held-out: accuracy {100 * m['accuracy']:.1f} %, earliness {100 * m['earliness']:.1f} %, "
          f"decision time {m['decision_time_s']:.2f} s, HM {m['hm']:.3f}, return {m['mean_return']:.3f}")
    print(f"baselines: best threshold HM {c['best_threshold_hm']:.3f}, answer at the end "
          f"{100 * c['end_accuracy']:.1f} %")
    print(f"policy: {out_dir / 'policy.pt'}\nreport: {out_dir / 'report.md'}")
