"""The fusion network: concatenated audio and visual embeddings -> fused embedding + logits."""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["FusionNet", "FusedEncoder"]


class FusionNet(nn.Module):
    """MLP (Linear, BatchNorm, ReLU) x 2 on ``[audio, visual]``, as in the paper's fusion network."""

    def __init__(self, embed_dim: int, hidden_dim: int, num_classes: int):
        super().__init__()
        self.mlp = nn.Sequential(
            nn.Linear(2 * embed_dim, hidden_dim), nn.BatchNorm1d(hidden_dim), nn.ReLU(inplace=True),
            nn.Linear(hidden_dim, embed_dim), nn.BatchNorm1d(embed_dim), nn.ReLU(inplace=True),
        )
        self.head = nn.Linear(embed_dim, num_classes)

    def forward(self, audio: torch.Tensor, visual: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        embedding = self.mlp(torch.cat([audio, visual], dim=1))
        return embedding, self.head(embedding)


class FusedEncoder(nn.Module):
    """Audio encoder + visual encoder + fusion net on raw inputs, for fine-tuning end to end."""

    def __init__(self, audio: nn.Module, visual: nn.Module, fusion: FusionNet):
        super().__init__()
        self.audio, self.visual, self.fusion = audio, visual, fusion

    def forward(self, mels: torch.Tensor, faces: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.fusion(self.audio(mels)[0], self.visual(faces)[0])
