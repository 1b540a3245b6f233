"""Settings of a pretraining run (built from the ``encoder`` config section by the CLI)."""

from __future__ import annotations

from dataclasses import dataclass

from .models import AUDIO_ARCHS, MODALITIES, VISUAL_ARCHS
from .training import TrainSettings

__all__ = ["PretrainSettings"]


@dataclass(frozen=True)
class PretrainSettings:
    """Architectures, dimensions, optimisation and augmentation of every stage of the cascade."""

    seed: int = 0
    modality: str = "fusion"
    audio_arch: str = "compact"
    visual_arch: str = "compact"
    audio_weights: str | None = None
    visual_weights: str | None = None
    embed_dim: int = 64
    hidden_dim: int = 64
    num_epochs: int = 6
    fusion_epochs: int = 4
    temporal_epochs: int = 4
    batch_size: int = 64
    learning_rate: float = 1e-3
    decay_step: int = 10
    decay_rate: float = 0.1
    steps_per_clip: int | None = 10
    oof_folds: int = 7
    finetune: bool = False
    augment: bool = True
    brightness_jitter: float = 0.3
    saturation_jitter: float = 0.3
    freq_warp: float = 0.1

    def __post_init__(self) -> None:
        checks = {
            "modality": self.modality in MODALITIES,
            "audio_arch": self.audio_arch in AUDIO_ARCHS,
            "visual_arch": self.visual_arch in VISUAL_ARCHS,
            "embed_dim": self.embed_dim > 0,
            "hidden_dim": self.hidden_dim > 0,
            "num_epochs": self.num_epochs > 0,
            "fusion_epochs": self.fusion_epochs > 0,
            "temporal_epochs": self.temporal_epochs > 0,
            "batch_size": self.batch_size >= 2,
            "learning_rate": self.learning_rate > 0,
            "decay_step": self.decay_step > 0,
            "decay_rate": self.decay_rate > 0,
            "steps_per_clip": self.steps_per_clip is None or self.steps_per_clip > 0,
            "oof_folds": self.oof_folds >= 0,
            "brightness_jitter": 0 <= self.brightness_jitter < 1,
            "saturation_jitter": 0 <= self.saturation_jitter < 1,
            "freq_warp": 0 <= self.freq_warp < 1,
        }
        bad = [name for name, ok in checks.items() if not ok]
        if bad:
            raise ValueError(f"invalid encoder setting(s): {', '.join(f'encoder.{b}={getattr(self, b)!r}' for b in bad)}")

    def stage(self, epochs: int, scale: float = 1.0) -> TrainSettings:
        """Optimisation settings of a stage trained for ``epochs`` epochs of the full training split.

        A cascade fitted on fewer clips passes ``scale`` = full clips / its clips: its epochs and
        decay step grow in proportion, so every cascade takes about the same optimiser steps.
        """
        return TrainSettings(max(1, round(epochs * scale)), self.batch_size, self.learning_rate,
                             max(1, round(self.decay_step * scale)), self.decay_rate, self.seed)
