"""What the single and the vectorized env share: the store, the reward rule, one split as episodes.

Everything per step is a lookup table indexed by the store row (``offsets[clip] + t``), so
stepping an episode is array indexing; the single env reads them as Python lists, the
vectorized env with numpy fancy indexing.
"""

from __future__ import annotations

import math
import operator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from emo_env.artifacts import bundled_store_path
from emo_env.data.store import SPLITS, FeatureStore, load_store
from emo_env.envs.observations import observation_space, observation_table, resolve_modality, step_fractions

__all__ = ["CLIP_ORDERS", "LAST_STEP_WAIT", "Rules", "Episodes", "open_store"]

CLIP_ORDERS = ("random", "sequential")
LAST_STEP_WAIT = ("wrong", "error")


def open_store(store: str | Path | FeatureStore | None) -> FeatureStore:
    """A loaded store from a path or a store; ``None`` means the bundled store of the synthetic corpus."""
    if isinstance(store, FeatureStore):
        return store
    if store is None:
        path = bundled_store_path()
        if not path.is_file():
            raise FileNotFoundError(
                f"AVEmotion-v0 was made without a feature store and the bundled store {path} is missing. "
                "Build a store with `python pretrain_encoder.py` (it ingests the synthetic corpus, trains the "
                "encoders and exports the feature store) and pass it: gym.make('AVEmotion-v0', store=PATH); "
                "or reinstall emo-env, which ships the bundled store.")
        return load_store(path)
    return load_store(store)


@dataclass(frozen=True)
class Rules:
    """Rewards: a decision earns ``correct_reward`` or ``wrong_reward``; a wait at step ``t`` of a
    ``T``-step clip costs ``latency_cost * ((t + 1) / T) ** latency_power``. An (illegal) wait at
    the last step is a wrong decision (``last_step_wait="wrong"``) or an error (``"error"``)."""

    correct_reward: float = 1.0
    wrong_reward: float = -1.0
    latency_cost: float = 0.005
    latency_power: float = 0.0
    last_step_wait: str = "wrong"

    def __post_init__(self) -> None:
        for name in ("correct_reward", "wrong_reward", "latency_cost", "latency_power"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ValueError(f"{name} must be a finite number, got {value!r}")
            object.__setattr__(self, name, float(value))
        if self.latency_cost < 0 or self.latency_power < 0:
            raise ValueError(f"latency_cost and latency_power must be >= 0, got {self.latency_cost} and {self.latency_power}")
        if self.last_step_wait not in LAST_STEP_WAIT:
            raise ValueError(f"last_step_wait must be one of {LAST_STEP_WAIT}, got {self.last_step_wait!r}")

    def wait_cost(self, fraction: np.ndarray) -> np.ndarray:
        """Cost of waiting after observing ``fraction`` of a clip."""
        return self.latency_cost * np.asarray(fraction, dtype=np.float64) ** self.latency_power


class Episodes:
    """One split of a store as episodes (one clip each), with per-row lookup tables.

    Attributes (rows are store rows): ``observations`` ``[rows, obs_dim]`` float32, ``step``
    (index in the clip), ``fraction`` observed, ``time_s`` observed, ``is_last`` step of its clip,
    ``wait_reward`` (minus the wait cost), ``row_label``; per clip: ``offsets``, ``labels``; ``clips`` are the store indices
    of the split's clips in store order; ``masks[is_last]`` is the int8 action mask.
    """

    def __init__(self, store: FeatureStore, split: str, obs_mode: str, modality: str | None,
                 clip_order: str, rules: Rules) -> None:
        if split not in (*SPLITS, "all"):
            raise ValueError(f"split must be one of {(*SPLITS, 'all')}, got {split!r}")
        if clip_order not in CLIP_ORDERS:
            raise ValueError(f"clip_order must be one of {CLIP_ORDERS}, got {clip_order!r}")
        self.store, self.split, self.clip_order, self.rules = store, split, clip_order, rules
        self.clips = store.clip_indices(split)
        if len(self.clips) == 0:
            raise ValueError(f"feature store {store.path} has no clips in split {split!r}")
        self.obs_mode = obs_mode
        self.modality = resolve_modality(store, obs_mode, modality)
        self.observations = observation_table(store, obs_mode, self.modality)
        self.observation_space = observation_space(store, obs_mode, self.modality)
        lengths = store.lengths
        self.offsets = store.offsets
        self.labels = store.labels
        self.fraction = step_fractions(lengths)
        self.step = np.arange(len(self.fraction)) - np.repeat(self.offsets[:-1], lengths)
        self.is_last = self.step == np.repeat(lengths, lengths) - 1
        self.time_s = (self.step + 1) / store.step_rate
        self.wait_reward = -rules.wait_cost(self.fraction)
        self.row_label = np.repeat(self.labels, lengths)
        self.masks = np.ones((2, store.num_classes + 1), dtype=np.int8)
        self.masks[1, 0] = 0

    @property
    def num_actions(self) -> int:
        return self.store.num_classes + 1

    def draw(self, rng: np.random.Generator, count: int, cursor: int) -> tuple[np.ndarray, int]:
        """Store indices of the next ``count`` clips and the new sweep cursor.

        ``random``: uniform with replacement from ``rng``; ``sequential``: the split's clips in
        store order, continuing from ``cursor`` and wrapping around, so ``len(clips)``
        consecutive draws visit every clip exactly once.
        """
        if self.clip_order == "random":
            return self.clips[rng.integers(len(self.clips), size=count)], cursor
        return self.clips[(cursor + np.arange(count)) % len(self.clips)], cursor + count

    def check_action(self, action: object) -> int:
        """One action as a Python int, or a clear error."""
        try:
            value = operator.index(action)
        except TypeError:
            raise TypeError(f"action must be an integer in [0, {self.num_actions - 1}], got {action!r}") from None
        if not 0 <= value < self.num_actions:
            raise ValueError(self.range_message(value))
        return value

    def range_message(self, value: object) -> str:
        names = self.store.class_names
        return (f"action {value} is out of range: actions are 0 (wait) and 1..{len(names)} "
                f"(predict {names[0]} .. {names[-1]})")

