"""Agent registry (name -> policy class), agents from outside the package, and loading of saved policies."""

from __future__ import annotations

import functools
import importlib
import os
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path

import torch

from agents.builtin import BUILTIN_AGENTS
from agents.policy import POLICY_FORMAT, Policy, PolicySpec
from emo_env.artifacts import CheckpointError, load_safe
from emo_env.optional import missing_extra_message

__all__ = ["AGENTS", "get_agent", "load_policy"]

class _Registry(Mapping[str, type[Policy]]):
    """The registered agents, name -> policy class, each imported on first use."""

    def __getitem__(self, name: str) -> type[Policy]:
        return _builtin(BUILTIN_AGENTS[name])

    def __iter__(self) -> Iterator[str]:
        return iter(BUILTIN_AGENTS)

    def __len__(self) -> int:
        return len(BUILTIN_AGENTS)


AGENTS: Mapping[str, type[Policy]] = _Registry()


@functools.cache
def _builtin(path: str) -> type[Policy]:
    module, _, name = path.partition(":")
    cls: type[Policy] = getattr(importlib.import_module(module), name)
    return cls


def get_agent(name: str) -> type[Policy]:
    """The policy class registered as ``name``, or the one a ``package.module:Class`` spec names (a
    :class:`Policy` subclass from the working directory or the environment); an unknown name is an error
    listing the known ones, an agent whose optional library is missing an ImportError naming the extra."""
    if not isinstance(name, str):
        raise ValueError(f"agent {name!r}: expected a registered name or package.module:Class")
    if ":" in name:
        return _import_agent(name)
    try:
        return AGENTS[name]
    except KeyError:
        raise ValueError(f"unknown agent {name!r} (known: {', '.join(AGENTS)}, or package.module:Class)") from None
    except ModuleNotFoundError as exc:  # an agent of an optional library (stable-baselines3) not installed
        message = missing_extra_message(exc, f"agent {name!r}")
        if message is None:
            raise
        raise ImportError(message) from None


def _import_agent(spec: str) -> type[Policy]:
    module_name, _, qualname = spec.partition(":")
    if not all(part.isidentifier() for part in (*module_name.split("."), *qualname.split("."))):
        raise ValueError(f"agent {spec!r}: malformed spec, expected package.module:Class (one colon, no empty parts)")
    cwd = os.getcwd()
    if cwd not in sys.path:
        sys.path.append(cwd)  # a script such as train_agent.py puts its own folder on the path, not this one
    importlib.invalidate_caches()
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name is None or not (module_name == exc.name or module_name.startswith(f"{exc.name}.")):
            raise ValueError(f"agent {spec!r}: importing {module_name!r} failed: {exc}") from exc
        raise ValueError(f"agent {spec!r}: module {module_name!r} not found; it must be importable from the "
                         f"working directory ({cwd}) or the environment") from None
    try:
        cls = functools.reduce(getattr, qualname.split("."), module)
    except AttributeError:
        raise ValueError(f"agent {spec!r}: module {module_name!r} has no attribute {qualname!r}") from None
    if not (isinstance(cls, type) and issubclass(cls, Policy)):
        raise ValueError(f"agent {spec!r}: {qualname} is not a subclass of agents.policy.Policy")
    return cls


def load_policy(path: str | Path, device: str | torch.device = "auto") -> Policy:
    """Rebuild a policy written by :meth:`Policy.save` (read with ``weights_only=True``)."""
    saved = load_safe(path, kind="policy", remedy="train it again with train_agent.py (--resume continues from "
                                                   "its checkpoint)")
    if not isinstance(saved, dict) or saved.get("format") != POLICY_FORMAT:
        raise CheckpointError(f"policy {path} is not an emo-env policy file (expected format {POLICY_FORMAT!r})")
    spec = PolicySpec(saved["obs_mode"], int(saved["obs_dim"]), int(saved["num_classes"]))
    policy = get_agent(saved["agent"])(spec, saved["config"], seed=int(saved["seed"]), device=device)
    policy.load_state_dict(saved["state"])
    return policy
