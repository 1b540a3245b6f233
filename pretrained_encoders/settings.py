"""Settings of a pretraining run (built from the ``encoder`` config section by the CLI)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import get_args

from .models import AUDIO_ARCHS, MODALITIES, VISUAL_ARCHS
from .training import Schedule, TrainSettings

__all__ = ["PretrainSettings"]


@dataclass(frozen=True)
class PretrainSettings:
    """Architectures, dimensions, optimisation and augmentation of every stage of the cascade."""

    seed: int = 0
    """Seed of every stage (the config's top-level seed)."""
    modality: str = "fusion"
    """Audio, visual or fusion: what the temporal model and the store's default observation use."""
    audio_arch: str = "descriptors"
    """Audio encoder: descriptors (fixed prosody and voice-quality descriptors with a trained projection),
    compact or vggish (networks trained in each fold)."""
    visual_arch: str = "fer2013"
    """Visual encoder: fer2013 (the bundled FER2013 mini-Xception, pretrained on real photos and frozen, with a
    trained projection), compact or mobilenetv2 (needs torchvision; trained in each fold)."""
    audio_weights: str | None = None
    """Local file of pretrained audio weights (never downloaded)."""
    visual_weights: str | None = None
    """Local file of pretrained visual weights (never downloaded)."""
    face_prior: bool = True
    """The visual temporal model adds the FER2013 face network's own reading of the face (its probabilities of
    the classes, by name, divided by FER2013's base rates and mixed half and half with the uniform) to its
    logits and learns only what to add to it, so that a real face keeps the reading of a network trained on
    real photographs. Needs every class to have a FER2013 counterpart (anger, disgust, fear, happy, sad,
    surprise, neutral); otherwise off."""
    embed_dim: int = 64
    """Audio, visual and fused embedding size."""
    hidden_dim: int = 64
    """Temporal LSTM state size (and the fusion MLP's hidden layer)."""
    num_epochs: int = 6
    """Epochs of the audio and visual encoders."""
    fusion_epochs: int = 4
    """Epochs of the fusion network."""
    temporal_epochs: int = 4
    """Epochs of the visual and fusion temporal models (more overfits: their inner-fold curves peak at 2-4)."""
    audio_temporal_epochs: int = 12
    """Epochs of the audio temporal model (its inner-fold curve rises to about 10, then stays flat)."""
    batch_size: int = 64
    """Minibatch size of every stage."""
    learning_rate: float = 1e-3
    """Adam step size."""
    lr_schedule: Schedule = "cosine"
    """Learning-rate schedule of every stage: step (x decay_rate every decay_step epochs) or cosine
    (a half cosine to 0 over the stage's optimiser steps)."""
    decay_step: int = 10
    """Step schedule: the learning rate is multiplied by decay_rate every decay_step epochs."""
    decay_rate: float = 0.1
    """Step schedule factor."""
    steps_per_clip: int | None = 10
    """Frame samples drawn per training clip per encoder epoch (None = every step)."""
    oof_folds: int = 7
    """Training-split beliefs cross-fitted over K speaker folds (0 or 1 = in-sample)."""
    finetune: bool = False
    """Train the fusion net end to end with the encoders (default: encoders frozen)."""
    augment: bool = True
    """Augment faces and log-mels while training the encoders."""
    brightness_jitter: float = 0.3
    """Faces: brightness x U(1 - b, 1 + b)."""
    saturation_jitter: float = 0.3
    """Faces: saturation x U(1 - s, 1 + s)."""
    freq_warp: float = 0.1
    """Log-mel: mel axis resampled by U(1 - w, 1 + w)."""

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
            "audio_temporal_epochs": self.audio_temporal_epochs > 0,
            "batch_size": self.batch_size >= 2,
            "learning_rate": self.learning_rate > 0,
            "lr_schedule": self.lr_schedule in get_args(Schedule),
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
            settings = ", ".join(f"encoder.{name}={getattr(self, name)!r}" for name in bad)
            raise ValueError(f"invalid encoder setting(s): {settings}")

    def temporal_epochs_of(self, modality: str) -> int:
        """Epochs of the temporal model on ``modality``'s embeddings (one of ``MODALITIES``)."""
        if modality not in MODALITIES:
            raise ValueError(f"modality must be one of {MODALITIES}, got {modality!r}")
        return self.audio_temporal_epochs if modality == "audio" else self.temporal_epochs

    def stage(self, epochs: int, scale: float = 1.0) -> TrainSettings:
        """Optimisation settings of a stage trained for ``epochs`` epochs of the full training split.

        A cascade fitted on fewer clips passes ``scale`` = full clips / its clips: its epochs and
        decay step grow in proportion, so every cascade takes about the same optimiser steps.
        """
        return TrainSettings(max(1, round(epochs * scale)), self.batch_size, self.learning_rate,
                             max(1, round(self.decay_step * scale)), self.decay_rate, self.seed, self.lr_schedule)
