"""Audio encoders: one log-mel window ``[B, frames, bands]`` -> ``(embedding, logits)``.

``descriptors`` (the default) is a fixed set of prosody and voice-quality descriptors
(:class:`~pretrained_encoders.models.frontends.VoiceFrontEnd`) with a trained projection and class head;
``compact`` and ``vggish`` are networks trained in each fold (VGGish optionally from local AudioSet weights).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch
from torch import nn

from emo_env.artifacts import CheckpointError, load_safe
from emo_env.data.ingest import IngestParams

from .cnn import CompactCNN
from .frontends import FrontEndEncoder, voice_frontend

__all__ = ["AUDIO_ARCHS", "CompactAudioEncoder", "VGGishEncoder", "build_audio_encoder"]


class CompactAudioEncoder(nn.Module):
    """Per-band input normalisation (BatchNorm over mel bands), 2x average pooling in time (20 ms
    resolution, half the cost), then :class:`CompactCNN`."""

    def __init__(self, mel_bands: int, embed_dim: int, num_classes: int):
        super().__init__()
        self.norm = nn.BatchNorm1d(mel_bands)
        self.cnn = CompactCNN(1, embed_dim, num_classes)

    def forward(self, mels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.norm(mels.float().transpose(1, 2)).transpose(1, 2)
        return self.cnn(nn.functional.avg_pool2d(x.unsqueeze(1), (2, 1)))


class VGGishEncoder(nn.Module):
    """The VGGish architecture (AudioSet), a projection to ``embed_dim`` and a classifier.

    Module names of the backbone (``features``, ``embeddings``) match the widely used PyTorch port of
    the AudioSet checkpoint, so its state dict loads as is. Expects windows of 96 frames x 64 bands
    (0.96 s, 10 ms hop) of ``log(mel + 0.01)``, which is what ingest produces by default.
    """

    def __init__(self, embed_dim: int, num_classes: int, frames: int = 96, mel_bands: int = 64):
        super().__init__()
        layers: list[nn.Module] = []
        channels = 1
        for item in (64, "M", 128, "M", 256, 256, "M", 512, 512, "M"):
            if item == "M":
                layers.append(nn.MaxPool2d(2, 2))
            else:
                layers += [nn.Conv2d(channels, int(item), 3, padding=1), nn.ReLU(inplace=True)]
                channels = int(item)
        self.features = nn.Sequential(*layers)
        flat = 512 * (frames // 16) * (mel_bands // 16)
        self.embeddings = nn.Sequential(
            nn.Linear(flat, 4096), nn.ReLU(True), nn.Linear(4096, 4096), nn.ReLU(True), nn.Linear(4096, 128),
            nn.ReLU(True)
        )
        self.embed = nn.Sequential(nn.Linear(128, embed_dim), nn.ReLU(inplace=True))
        self.head = nn.Linear(embed_dim, num_classes)

    def forward(self, mels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.features(mels.float().unsqueeze(1))
        # Flatten in (time, frequency, channel) order, as the original TensorFlow model does.
        x = x.permute(0, 2, 3, 1).flatten(1)
        embedding = self.embed(self.embeddings(x))
        return embedding, self.head(embedding)

    def load_audioset(self, path: str | Path) -> None:
        """Load AudioSet weights (``features.*``, ``embeddings.*``) from a local state-dict file."""
        state = load_safe(path, kind="VGGish weights")
        if not isinstance(state, dict):
            raise CheckpointError(f"VGGish weights {path}: expected a state dict, got {type(state).__name__}")
        backbone = {k: v for k, v in state.items() if k.split(".")[0] in ("features", "embeddings")}
        try:
            missing = nn.Module.load_state_dict(self, backbone, strict=False).missing_keys
        except RuntimeError as exc:
            raise CheckpointError(f"VGGish weights {path} do not fit the VGGish architecture: {exc}") from exc
        missing = [k for k in missing if k.split(".")[0] in ("features", "embeddings")]
        if missing:
            raise CheckpointError(f"VGGish weights {path} lack {len(missing)} backbone tensors, e.g. {missing[0]!r}")


AUDIO_ARCHS = ("descriptors", "compact", "vggish")


def build_audio_encoder(
    arch: str, *, embed_dim: int, num_classes: int, frames: int, mel_bands: int,
    mel: Mapping[str, Any] | None = None, weights: str | Path | None = None,
) -> nn.Module:
    """Build the audio encoder ``arch`` (``descriptors``, ``compact`` or ``vggish``); ``mel`` holds the log-mel
    settings (``mel_fmin``, ``mel_fmax``, ``mel_hop_ms``, ``mel_log_offset``; default: ingest's defaults);
    ``weights`` is a local AudioSet file (VGGish)."""
    if arch in ("descriptors", "compact") and weights is not None:
        raise ValueError("encoder.audio_weights is only used with audio_arch 'vggish'")
    if arch == "descriptors":
        return FrontEndEncoder(voice_frontend(mel_bands, mel or asdict(IngestParams())), embed_dim, num_classes)
    if arch == "compact":
        return CompactAudioEncoder(mel_bands, embed_dim, num_classes)
    if arch == "vggish":
        model = VGGishEncoder(embed_dim, num_classes, frames=frames, mel_bands=mel_bands)
        if weights is not None:
            model.load_audioset(weights)
        return model
    raise ValueError(f"unknown audio_arch {arch!r} (known: {', '.join(AUDIO_ARCHS)})")
