"""Familiarity: how unlike the training clips a stream's front-end features are, per modality.

The novelty of a step is the mean, over the front end's features, of the squared standardised distance
from the training split's mean. A modality's limit is the largest whole-clip mean novelty among the
training clips, so ``unfamiliarity = mean novelty so far / limit`` stays at or below 1 on every training
clip and rises on input unlike them (a real voice against synthetic ones, a camera against rendered faces).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

__all__ = ["FAMILIARITY_PARTS", "Familiarity"]

FAMILIARITY_PARTS = ("voice", "face")


class Familiarity(nn.Module):
    """Per front end (:data:`FAMILIARITY_PARTS`): the training split's feature means and scales, and the
    novelty limit. Fitted once per cascade (:meth:`fit`) and saved with the encoders."""

    voice_mean: torch.Tensor  # buffers
    voice_scale: torch.Tensor
    face_mean: torch.Tensor
    face_scale: torch.Tensor
    limits: torch.Tensor

    def __init__(self, voice_dim: int, face_dim: int):
        super().__init__()
        for part, dim in zip(FAMILIARITY_PARTS, (voice_dim, face_dim), strict=True):
            self.register_buffer(f"{part}_mean", torch.zeros(dim))
            self.register_buffer(f"{part}_scale", torch.ones(dim))
        self.register_buffer("limits", torch.ones(len(FAMILIARITY_PARTS)))

    def novelty(self, part: str, features: torch.Tensor) -> torch.Tensor:
        """The novelty of each row of ``features`` ``[..., D]`` of front end ``part`` (``voice`` or ``face``)."""
        mean, scale = getattr(self, f"{part}_mean"), getattr(self, f"{part}_scale")
        return (((features.to(mean.dtype) - mean) / scale) ** 2).mean(dim=-1)

    def limit(self, part: str) -> float:
        """The largest whole-clip mean novelty of ``part`` among the training clips."""
        return float(self.limits[FAMILIARITY_PARTS.index(part)])

    @classmethod
    def fit(cls, features: dict[str, np.ndarray], offsets: np.ndarray) -> Familiarity:
        """Fit on the training clips' front-end features (``features[part]`` ``[steps, D]``, clips delimited by
        ``offsets``)."""
        model = cls(features["voice"].shape[1], features["face"].shape[1])
        limits = []
        for part in FAMILIARITY_PARTS:
            values = torch.from_numpy(np.asarray(features[part], np.float64))
            getattr(model, f"{part}_mean").copy_(values.mean(dim=0))
            getattr(model, f"{part}_scale").copy_(values.std(dim=0, unbiased=False) + 1e-3)
            novelty = model.novelty(part, values).numpy()
            limits.append(max(float(novelty[a:b].mean()) for a, b in zip(offsets[:-1], offsets[1:], strict=True)))
        model.limits.copy_(torch.tensor(limits))
        return model.eval()
