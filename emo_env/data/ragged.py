"""Clips of different lengths stored as one array of steps plus clip offsets."""

from __future__ import annotations

import numpy as np

__all__ = ["RaggedClips"]


class RaggedClips:
    """Counts shared by containers of ragged clips: clip ``i`` owns rows ``offsets[i]:offsets[i + 1]``.

    Subclasses (dataclasses) provide ``clip_ids``, ``class_names`` and ``offsets``.
    """

    clip_ids: list[str]
    class_names: list[str]
    offsets: np.ndarray

    @property
    def num_clips(self) -> int:
        return len(self.clip_ids)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def lengths(self) -> np.ndarray:
        """Number of steps of every clip."""
        return np.diff(self.offsets)
