"""What the single and the vectorized env share: the store, and one split of it as episodes under an
:class:`~emo_env.envs.env_config.EnvConfig`.

Everything per step is a lookup table indexed by the store row (``offsets[clip] + t``), so
stepping an episode is array indexing; the single env reads them as Python lists, the
vectorized env with numpy fancy indexing.
"""

from __future__ import annotations

import operator
from pathlib import Path
from typing import Any

import numpy as np

from emo_env.artifacts import bundled_store_path
from emo_env.data.store import FeatureStore, load_store
from emo_env.envs.env_config import EnvConfig
from emo_env.envs.observations import observation_space, observation_table, resolve_modality, step_fractions

__all__ = ["Episodes", "open_store"]


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


class Episodes:
    """One split of a store as episodes (one clip each), with per-row lookup tables.

    Attributes (rows are store rows): ``observations`` ``[rows, obs_dim]`` float32, ``step``
    (index in the clip), ``fraction`` observed, ``time_s`` observed, ``is_last`` step of its clip,
    ``wait_reward`` (minus the wait cost), ``row_label``; per clip: ``offsets``, ``labels``; ``clips`` are the
    store indices of the split's clips in store order; ``masks[is_last]`` is the int8 action mask.
    """

    def __init__(self, store: FeatureStore, config: EnvConfig) -> None:
        self.store, self.config = store, config
        self.clips = store.clip_indices(config.split)
        if len(self.clips) == 0:
            raise ValueError(f"feature store {store.path} has no clips in split {config.split!r}")
        self.modality = resolve_modality(store, config.obs_mode, config.modality)
        self.observations = observation_table(store, config.obs_mode, self.modality)
        self.observation_space = observation_space(store, config.obs_mode, self.modality)
        lengths = store.lengths
        self.offsets = store.offsets
        self.labels = store.labels
        self.fraction = step_fractions(lengths)
        self.step = np.arange(len(self.fraction)) - np.repeat(self.offsets[:-1], lengths)
        self.is_last = self.step == np.repeat(lengths, lengths) - 1
        self.time_s = (self.step + 1) / store.step_rate
        self.wait_reward = -config.wait_cost(self.fraction)
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
        if self.config.clip_order == "random":
            return self.clips[rng.integers(len(self.clips), size=count)], cursor
        return self.clips[(cursor + np.arange(count)) % len(self.clips)], cursor + count

    def check_action(self, action: Any) -> int:
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

