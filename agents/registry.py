"""Agent registry (name -> policy class) and loading of saved policies."""

from __future__ import annotations

from pathlib import Path

import torch

from agents.baselines import EndPolicy, FixedTimePolicy, RandomPolicy, ThresholdPolicy
from agents.dqn import DQNAgent
from agents.policy import POLICY_FORMAT, EnvSpec, Policy
from agents.reinforce import ReinforceAgent
from agents.sb3 import SB3_AGENTS
from pretrained_encoders.checkpoint import CheckpointError, load_safe

__all__ = ["AGENTS", "get_agent", "load_policy"]

AGENTS: dict[str, type[Policy]] = {
    cls.name: cls
    for cls in (DQNAgent, ReinforceAgent, *SB3_AGENTS, EndPolicy, FixedTimePolicy, ThresholdPolicy, RandomPolicy)
}


def get_agent(name: str) -> type[Policy]:
    """The policy class registered as ``name``; an unknown name is an error listing the known ones."""
    try:
        return AGENTS[name]
    except KeyError:
        raise ValueError(f"unknown agent {name!r} (known: {', '.join(AGENTS)})") from None


def load_policy(path: str | Path, device: str | torch.device = "auto") -> Policy:
    """Rebuild a policy written by :meth:`Policy.save` (read with ``weights_only=True``)."""
    saved = load_safe(path, kind="policy")
    if not isinstance(saved, dict) or saved.get("format") != POLICY_FORMAT:
        raise CheckpointError(f"policy {path} is not an emo-env policy file (expected format {POLICY_FORMAT!r})")
    spec = EnvSpec(saved["obs_mode"], int(saved["obs_dim"]), int(saved["num_classes"]))
    policy = get_agent(saved["agent"])(spec, saved["config"], seed=int(saved["seed"]), device=device)
    policy.load_state_dict(saved["state"])
    return policy
