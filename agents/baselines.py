"""Baselines that learn nothing: answer at the end, at a fixed time, past a confidence threshold, at random.

The rule-based ones read the temporal model's class probabilities and the time observed from
the observation (``belief`` and ``probs`` modes end with ``[probs (K), time]``, time = steps seen
/ the store's longest clip, see ``emo_env.envs.observations``) and answer with the argmax class.
Every one of them answers at the last step, where waiting is not allowed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from agents.policy import EnvSpec, Policy

__all__ = ["EndPolicy", "FixedTimePolicy", "ThresholdPolicy", "RandomPolicy", "probs_and_time"]


def probs_and_time(obs: np.ndarray, spec: EnvSpec) -> tuple[np.ndarray, np.ndarray]:
    """The class probabilities ``[B, K]`` and time observed ``[B]`` held in a belief/probs observation."""
    k = spec.num_classes
    return obs[:, -k - 1 : -1], obs[:, -1]


class _RulePolicy(Policy):
    """Answer with the most probable class once :meth:`ready` says so (or waiting is not allowed)."""

    obs_modes: ClassVar[tuple[str, ...]] = ("belief", "probs")
    default_total_steps: ClassVar[int] = 0

    def ready(self, probs: np.ndarray, time: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def act(self, obs: np.ndarray, mask: np.ndarray) -> np.ndarray:
        probs, time = probs_and_time(np.asarray(obs), self.spec)
        answer = self.ready(probs, time) | (np.asarray(mask)[:, 0] == 0)
        return np.where(answer, 1 + probs.argmax(axis=1), 0).astype(np.int64)


class EndPolicy(_RulePolicy):
    """Wait until the last step, then answer with the temporal model's argmax (full-clip accuracy)."""

    name = "end"

    def ready(self, probs: np.ndarray, time: np.ndarray) -> np.ndarray:
        return np.zeros(len(probs), dtype=bool)


@dataclass
class FixedTimeConfig:
    time: float = 0.5  # answer once the time observed (steps / the store's longest clip) reaches this


class FixedTimePolicy(_RulePolicy):
    """Answer at a fixed step: once the time observed reaches a fixed share of the longest clip
    (a live stream does not know how long the utterance will last, so not a share of *this* clip)."""

    name = "fixed"
    Config = FixedTimeConfig

    def ready(self, probs: np.ndarray, time: np.ndarray) -> np.ndarray:
        return time >= self.config.time


@dataclass
class ThresholdConfig:
    threshold: float = 0.9  # answer once the top class probability reaches this


class ThresholdPolicy(_RulePolicy):
    """Answer once the temporal model's top class probability reaches a threshold (swept for a Pareto curve)."""

    name = "threshold"
    Config = ThresholdConfig

    def ready(self, probs: np.ndarray, time: np.ndarray) -> np.ndarray:
        return probs.max(axis=1) >= self.config.threshold


class RandomPolicy(Policy):
    """A uniformly random allowed action at every step."""

    name = "random"
    default_total_steps: ClassVar[int] = 0

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._rng = np.random.default_rng(self.seed)

    def act(self, obs: np.ndarray, mask: np.ndarray) -> np.ndarray:
        allowed = np.asarray(mask, dtype=bool)
        # Random scores, then the highest allowed one: uniform over the allowed actions of each row.
        scores = np.where(allowed, self._rng.random(allowed.shape), -1.0)
        return scores.argmax(axis=1).astype(np.int64)
