"""The one policy interface every agent and baseline implements, and its save format.

A policy maps a batch of observations and action masks to actions
(``0 = wait``, ``1 + k = predict class k``). Agents that learn override :meth:`Policy.learn`;
everything a policy needs to act again after :func:`agents.load_policy` lives in
:meth:`Policy.state_dict` (tensors) and its hyperparameter dataclass (plain values).
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch

from agents.builtin import BUILTIN_AGENTS
from emo_env.artifacts import save_atomic
from emo_env.device import resolve_device
from emo_env.envs.observations import OBS_MODES

__all__ = ["POLICY_FORMAT", "PolicySpec", "Policy", "Monitor", "NoConfig", "masked_argmax", "seeded"]

POLICY_FORMAT = "emo-env-policy/1"


@dataclass(frozen=True)
class PolicySpec:
    """What a policy must know about the environment it acts in."""

    obs_mode: str
    obs_dim: int
    num_classes: int

    def __post_init__(self) -> None:
        if self.obs_mode not in OBS_MODES:
            raise ValueError(f"obs_mode must be one of {OBS_MODES}, got {self.obs_mode!r}")
        if self.obs_dim < 1 or self.num_classes < 2:
            raise ValueError(f"need obs_dim >= 1 and num_classes >= 2, got {self.obs_dim} and {self.num_classes}")

    @property
    def num_actions(self) -> int:
        return self.num_classes + 1


@dataclass
class NoConfig:
    """Hyperparameters of a policy that has none."""


@contextlib.contextmanager
def seeded(seed: int) -> Iterator[None]:
    """Run the block with torch's CPU generator seeded by ``seed``, leaving the global state untouched
    (network initialisation: same seed, same weights)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


def masked_argmax(scores: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Index of the highest score among the allowed actions of each row."""
    return scores.masked_fill(~mask.bool(), float("-inf")).argmax(dim=1)


class Monitor:
    """What a learning agent reports its training progress to (:meth:`Policy.learn`); the base class
    ignores it. :class:`agents.monitor.TrainingMonitor` shows, logs, records and checkpoints it."""

    def on_step(self, policy: Policy, finished: Mapping[str, np.ndarray] | None,
                scalars: Mapping[str, Any]) -> None:
        """Called after every environment (vector) step; ``policy.num_steps`` is the step count."""


class Policy:
    """Observation and action mask in, action out, batched.

    Subclasses set ``name`` (their registry key) and ``Config`` (a dataclass of hyperparameters,
    every field with a default) and implement :meth:`act`. A class outside the registry that sets no
    ``name`` is named by its import path ``package.module:Class``.
    """

    name: ClassVar[str]
    Config: ClassVar[type] = NoConfig
    #: Observation modes the policy can act on (baselines need the class probabilities).
    obs_modes: ClassVar[tuple[str, ...]] = OBS_MODES
    #: Environment steps of a training run when the config does not say (0: learns nothing).
    default_total_steps: ClassVar[int] = 200_000

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "name" not in cls.__dict__:
            cls.name = _import_path(cls)

    @classmethod
    def registry_key(cls) -> str:
        """What :func:`agents.get_agent` finds the class by (saved policies record it): its ``name`` if
        the registry holds the class under it, else its import path ``package.module:Class``."""
        path = _import_path(cls)
        return cls.name if BUILTIN_AGENTS.get(cls.name) == path else path

    def __init__(self, spec: PolicySpec, config: Mapping[str, Any] | None = None, *, seed: int = 0,
                 device: str | torch.device = "auto") -> None:
        if spec.obs_mode not in self.obs_modes:
            raise ValueError(f"agent {self.name!r} needs obs_mode in {self.obs_modes}, got {spec.obs_mode!r}")
        self.spec = spec
        self.config = _build_config(self.Config, config or {}, self.name)
        self.seed = seed
        self.device = resolve_device(device)
        #: Environment steps taken while learning (checkpoints record it; learning resumes from it).
        self.num_steps = 0

    def act(self, obs: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """Actions ``[B] int64`` for observations ``[B, obs_dim] float32`` and masks ``[B, K+1] int8``."""
        raise NotImplementedError

    def reset(self, episode_start: np.ndarray) -> None:
        """Forget the memory of the rows whose episode starts with the next :meth:`act` (recurrent policies)."""

    def learn(self, env_kwargs: Mapping[str, Any], total_steps: int, monitor: Monitor | None = None) -> None:
        """Train on environments built from ``env_kwargs`` until :attr:`num_steps` reaches ``total_steps``.

        ``run_agent`` always calls it with the training split: learners return at once when
        :attr:`num_steps` already reaches ``total_steps``; rule baselines tune their unset parameters
        there; policies that learn nothing return at once.
        """

    # -- weights and checkpoints -------------------------------------------------------------------
    def state_dict(self) -> dict[str, torch.Tensor]:
        """Tensors the policy needs to act (saved by :meth:`save`)."""
        return {}

    def load_state_dict(self, state: Mapping[str, torch.Tensor]) -> None:
        """Restore what :meth:`state_dict` returned."""

    def checkpoint_state(self) -> dict[str, Any]:
        """Everything needed to resume learning (weights, optimizer, counters); plain values and tensors."""
        return {"policy": self.state_dict(), "num_steps": self.num_steps}

    def load_checkpoint_state(self, state: Mapping[str, Any]) -> None:
        """Restore what :meth:`checkpoint_state` returned."""
        self.load_state_dict(state["policy"])
        self.num_steps = int(state["num_steps"])

    def describe(self) -> dict[str, Any]:
        """Agent (its :meth:`registry_key`), environment spec and hyperparameters, as plain values."""
        return {"agent": self.registry_key(), "obs_mode": self.spec.obs_mode, "obs_dim": self.spec.obs_dim,
                "num_classes": self.spec.num_classes, "config": dataclasses.asdict(self.config)}

    def save(self, path: str | Path) -> Path:
        """Write the policy atomically; :func:`agents.load_policy` reads it back with ``weights_only=True``."""
        state = {k: v.detach().cpu() for k, v in self.state_dict().items()}
        return save_atomic({"format": POLICY_FORMAT, **self.describe(), "seed": self.seed, "state": state}, path)


def _import_path(cls: type) -> str:
    return f"{cls.__module__}:{cls.__qualname__}"


#: Field annotations whose values must be numbers (None too for the optional ones).
_NUMBERS = {"int": False, "float": False, "int | None": True, "float | None": True}


def _build_config(cls: type, values: Mapping[str, Any], agent: str) -> Any:
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise ValueError(f"agent {agent!r}: unknown hyperparameter(s) {unknown} (known: {sorted(fields)})")
    for name, value in values.items():
        optional = _NUMBERS.get(str(fields[name].type))
        number = isinstance(value, (int, float)) and not isinstance(value, bool)
        if optional is not None and not number and not (optional and value is None):
            raise ValueError(f"agent {agent!r}: hyperparameter {name} must be a number, got {value!r}")
    return cls(**values)
