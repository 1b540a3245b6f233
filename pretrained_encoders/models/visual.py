"""Visual encoders: one RGB face crop ``uint8 [B, S, S, 3]`` -> ``(embedding, logits)``."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from ..checkpoint import CheckpointError, load_safe
from .cnn import CompactCNN

__all__ = ["VISUAL_ARCHS", "CompactVisualEncoder", "MobileNetV2Encoder", "build_visual_encoder"]

_MEAN = (0.485, 0.456, 0.406)
_STD = (0.229, 0.224, 0.225)


class _FaceInput(nn.Module):
    """uint8 ``[B, S, S, 3]`` RGB -> float ``[B, 3, S, S]`` normalised with the ImageNet statistics."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("mean", torch.tensor(_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(_STD).view(1, 3, 1, 1), persistent=False)

    def forward(self, faces: torch.Tensor) -> torch.Tensor:
        x = faces.permute(0, 3, 1, 2).float() / 255.0
        return (x - self.mean) / self.std


class CompactVisualEncoder(nn.Module):
    """:class:`CompactCNN` on a normalised face crop."""

    def __init__(self, embed_dim: int, num_classes: int):
        super().__init__()
        self.input = _FaceInput()
        self.cnn = CompactCNN(3, embed_dim, num_classes)

    def forward(self, faces: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.cnn(self.input(faces))


class MobileNetV2Encoder(nn.Module):
    """torchvision's MobileNetV2 backbone, a projection to ``embed_dim`` and a classifier."""

    def __init__(self, embed_dim: int, num_classes: int, weights: str | Path | None = None):
        super().__init__()
        try:
            from torchvision.models import mobilenet_v2
        except ImportError as exc:
            raise ImportError(
                "visual_arch 'mobilenetv2' needs torchvision, which is not installed: "
                "pip install 'emo-env[vision]', or use visual_arch 'compact'"
            ) from exc
        backbone = mobilenet_v2(weights=None)
        if weights is not None:
            state = load_safe(weights, kind="MobileNetV2 weights")
            try:
                backbone.load_state_dict(state)
            except (RuntimeError, TypeError, AttributeError) as exc:
                raise CheckpointError(f"MobileNetV2 weights {weights} do not fit torchvision's mobilenet_v2: {exc}") from exc
        self.input = _FaceInput()
        self.features = backbone.features
        self.embed = nn.Sequential(nn.Linear(backbone.last_channel, embed_dim), nn.ReLU(inplace=True))
        self.head = nn.Linear(embed_dim, num_classes)

    def forward(self, faces: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.features(self.input(faces)).mean(dim=(2, 3))
        embedding = self.embed(x)
        return embedding, self.head(embedding)


VISUAL_ARCHS = ("compact", "mobilenetv2")


def build_visual_encoder(arch: str, *, embed_dim: int, num_classes: int, weights: str | Path | None = None) -> nn.Module:
    """Build the visual encoder ``arch`` (``compact`` or ``mobilenetv2``); ``weights``: local ImageNet file."""
    if arch == "compact":
        if weights is not None:
            raise ValueError("encoder.visual_weights is only used with visual_arch 'mobilenetv2'")
        return CompactVisualEncoder(embed_dim, num_classes)
    if arch == "mobilenetv2":
        return MobileNetV2Encoder(embed_dim, num_classes, weights)
    raise ValueError(f"unknown visual_arch {arch!r} (known: {', '.join(VISUAL_ARCHS)})")
