"""The compact CNN shared by the audio and visual encoders: small enough to train on a CPU."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

__all__ = ["CompactCNN"]


class CompactCNN(nn.Module):
    """Strided conv blocks (conv, BatchNorm, ReLU), global average pooling, ``embed_dim`` ReLU embedding.

    ``forward(x [B, C, H, W]) -> (embedding [B, embed_dim], logits [B, num_classes])``.
    """

    def __init__(self, in_channels: int, embed_dim: int, num_classes: int, widths: Sequence[int] = (16, 32, 64, 64)):
        super().__init__()
        layers: list[nn.Module] = []
        channels = in_channels
        for i, width in enumerate(widths):
            kernel = 5 if i == 0 else 3
            layers += [
                nn.Conv2d(channels, width, kernel, stride=2, padding=kernel // 2, bias=False),
                nn.BatchNorm2d(width),
                nn.ReLU(inplace=True),
            ]
            channels = width
        self.features = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.embed = nn.Sequential(nn.Linear(channels, embed_dim), nn.ReLU(inplace=True))
        self.head = nn.Linear(embed_dim, num_classes)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        embedding = self.embed(self.features(x))
        return embedding, self.head(embedding)
