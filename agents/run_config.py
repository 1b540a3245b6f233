"""A run config's agent settings as the plain arguments of the library: the feature store, the env's
arguments, an agent's hyperparameters and budget, the fair baselines' hyperparameters."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from agents.registry import AGENTS, get_agent
from agents.training import FAIR_BASELINES
from emo_env.artifacts import CheckpointError, encoder_outputs
from emo_env.config import ConfigError, describe_settings
from emo_env.data.store import StoreError
from emo_env.envs import EnvConfig

__all__ = ["USER_ERRORS", "store_path", "env_kwargs_from_config", "agent_settings", "baseline_configs", "describe_run"]

#: The errors a CLI reports in one line (bad config, store, checkpoint, file or value).
USER_ERRORS = (ConfigError, StoreError, CheckpointError, FileNotFoundError, ValueError)


def store_path(config: dict[str, Any], store: str | Path | None = None) -> Path | None:
    """The feature store of a run: ``store`` if given, else the one ``pretrain_encoder.py`` exported for
    this config, else (synthetic corpus) the bundled store (``None``)."""
    if store is not None:
        return Path(store)
    exported = encoder_outputs(config, str(config["encoder"]["speaker"]))[1]
    if exported.is_file():
        return exported
    if config["data"]["dataset"] == "synthetic":
        return None
    raise FileNotFoundError(f"no feature store for this config: {exported} does not exist. Build it with "
                            "`python pretrain_encoder.py --config ...` or pass --store PATH")


def env_kwargs_from_config(config: dict[str, Any], store: Any, agent: str) -> dict[str, Any]:
    """AVEmotionEnv arguments of a run: the ``env`` section (``EnvConfig`` settings), with the agent section's
    ``obs_mode`` if set."""
    try:
        EnvConfig.from_kwargs(**config["env"])  # the section as given, even where the agent's obs_mode replaces it
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"config section env: {exc}") from None
    obs_mode = _section(config, agent).get("obs_mode") or config["env"]["obs_mode"]
    return {"store": store, **config["env"], "obs_mode": obs_mode}


def agent_settings(config: dict[str, Any], agent: str) -> dict[str, Any]:
    """The run arguments of ``agent`` from the ``agent`` section (its hyperparameters, budget, schedule)."""
    section = config["agent"]
    hyperparameters = {k: v for k, v in _section(config, agent).items() if k != "obs_mode"}
    return {"hyperparameters": hyperparameters, "total_steps": section["total_steps"],
            "checkpoint_every": int(section["checkpoint_every"]), "eval_every": int(section["eval_every"]),
            "progress": bool(section["progress"])}


def baseline_configs(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The hyperparameters of the fair baselines (``FAIR_BASELINES``) from their ``agent`` sections."""
    return {name: agent_settings(config, name)["hyperparameters"] for name in FAIR_BASELINES}


def _section(config: dict[str, Any], agent: str) -> dict[str, Any]:
    """The agent's config section; an agent from outside the package has none: its Config defaults, on
    ``env.obs_mode`` observations if it reads them, else on its first mode."""
    cls = get_agent(agent)
    key = cls.registry_key()
    if key in config["agent"]:
        return config["agent"][key]
    if key in AGENTS:
        raise ConfigError(f"config has no section agent.{key} (agents: {', '.join(AGENTS)})")
    obs_mode = config["env"]["obs_mode"]
    return {"obs_mode": obs_mode if obs_mode in cls.obs_modes else cls.obs_modes[0]}


def describe_run(config: dict[str, Any], agent: str) -> str:
    """The env settings and ``agent``'s hyperparameters of a run, one line each: key, value and meaning."""
    cls = get_agent(agent)
    settings = agent_settings(config, agent)["hyperparameters"]
    env = env_kwargs_from_config(config, None, agent)
    return (f"env settings (emo_env.envs.EnvConfig; obs_mode is agent.{cls.registry_key()}.obs_mode where set):\n"
            f"{describe_settings(EnvConfig, 'env', {k: v for k, v in env.items() if k != 'store'})}\n"
            f"agent {agent} ({cls.Config.__module__}.{cls.Config.__qualname__}):\n"
            f"{describe_settings(cls.Config, f'agent.{cls.registry_key()}', settings) or '  (no hyperparameters)'}")
