"""The settings of AVEmotion-v0 (both the single and the vectorized env): which clips, which
observations, which rewards. One frozen dataclass owns each default and its meaning; the env
constructors, the registered spec and the run config's ``env`` section all take their defaults from it.
"""

from __future__ import annotations

import dataclasses
import inspect
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, get_args

import numpy as np

from emo_env.data.store import MODALITIES, Modality

__all__ = ["EnvConfig", "Split", "ObsMode", "ClipOrder", "LastStepWait", "OBS_MODES"]

Split = Literal["train", "eval", "all"]
ObsMode = Literal["belief", "frame", "probs"]
ClipOrder = Literal["random", "sequential"]
LastStepWait = Literal["wrong", "error"]

OBS_MODES: tuple[ObsMode, ...] = get_args(ObsMode)
_CHOICES: dict[str, tuple[str, ...]] = {"split": get_args(Split), "obs_mode": OBS_MODES,
                                        "clip_order": get_args(ClipOrder), "last_step_wait": get_args(LastStepWait)}
_REWARDS = ("correct_reward", "wrong_reward", "latency_cost", "latency_power")


@dataclass(frozen=True)
class EnvConfig:
    """Settings of AVEmotion-v0; a bad value is a ``ValueError`` naming the setting."""

    split: Split = "train"
    """Clips of the store to play: ``train`` (seen speakers, beliefs exported out-of-fold), ``eval``
    (the held-out speaker) or ``all``."""
    obs_mode: ObsMode = "probs"
    """``probs`` (calibrated class probabilities + time), ``belief`` (the voice's, the face's and the fused
    class probabilities + time) or ``frame`` (one modality's front-end features + time: needs an agent
    with memory). Every part means the same on every clip."""
    modality: Modality | None = None
    """Front-end features of ``frame`` observations: ``audio`` (voice), ``visual`` (face) or ``fusion``
    (both); None = the store's."""
    clip_order: ClipOrder = "random"
    """``random``: each episode's clip drawn uniformly from ``np_random``; ``sequential``: the split's
    clips in store order, so n episodes visit each of its n clips once."""
    correct_reward: float = 1.0
    """Reward for naming the clip's emotion."""
    wrong_reward: float = -1.0
    """Reward for naming another emotion."""
    latency_cost: float = 0.005
    """Cost of one wait (0.05 per second of video at 10 steps/s)."""
    latency_power: float = 0.0
    """A wait at step t of a T-step clip costs ``latency_cost * ((t + 1) / T) ** latency_power``:
    0 = flat, > 0 makes early waits cheap and late ones dear."""
    last_step_wait: LastStepWait = "wrong"
    """A wait at a clip's last step, which the action mask forbids: scored as a ``wrong`` answer, or an
    ``error``."""

    def __post_init__(self) -> None:
        for name, choices in _CHOICES.items():
            if getattr(self, name) not in choices:
                raise ValueError(f"{name} must be one of {choices}, got {getattr(self, name)!r}")
        if self.modality is not None and self.modality not in MODALITIES:
            raise ValueError(f"modality must be one of {MODALITIES} or None, got {self.modality!r}")
        for name in _REWARDS:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ValueError(f"{name} must be a finite number, got {value!r}")
            object.__setattr__(self, name, float(value))
        if self.latency_cost < 0 or self.latency_power < 0:
            raise ValueError(f"latency_cost and latency_power must be >= 0, got {self.latency_cost} and "
                             f"{self.latency_power}")

    @classmethod
    def from_kwargs(cls, caller: Callable[..., Any] | None = None, /, **settings: Any) -> EnvConfig:
        """The defaults with ``settings`` replaced.

        An unknown name is a ``TypeError`` worded as Python words it, ``<caller>() got an unexpected keyword
        argument 'name'``, then the known settings and ``caller``'s other arguments. Wrappers that probe an env
        with an optional argument (TorchRL's ``GymEnv`` passes ``frameskip``) recognise the refusal by that
        wording and retry without it.
        """
        unknown = [name for name in settings if name not in cls.names()]
        if not unknown:
            return cls(**settings)
        also = f"and {', '.join(map(repr, unknown[1:]))}; " if len(unknown) > 1 else ""
        known = f"settings: {', '.join(cls.names())}"
        if caller is None:
            raise TypeError(f"{cls.__name__}() got an unexpected keyword argument {unknown[0]!r} ({also}{known})")
        arguments = [parameter.name for parameter in inspect.signature(caller).parameters.values()
                     if parameter.kind is not parameter.VAR_KEYWORD and parameter.name != "self"]
        raise TypeError(f"{caller.__qualname__}() got an unexpected keyword argument {unknown[0]!r} "
                        f"({also}{known}; arguments: {', '.join(arguments)})")

    @classmethod
    def names(cls) -> tuple[str, ...]:
        """The setting names, in declaration order."""
        return tuple(f.name for f in dataclasses.fields(cls))

    def wait_cost(self, fraction: np.ndarray) -> np.ndarray:
        """Cost of waiting after observing ``fraction`` of a clip."""
        return self.latency_cost * np.asarray(fraction, dtype=np.float64) ** self.latency_power
