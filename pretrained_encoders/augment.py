"""Training-time augmentation: brightness/saturation jitter on faces, frequency warping of log-mels."""

from __future__ import annotations

import torch

__all__ = ["jitter_faces", "warp_mels"]

_LUMA = (0.299, 0.587, 0.114)


def jitter_faces(faces: torch.Tensor, generator: torch.Generator, brightness: float, saturation: float) -> torch.Tensor:
    """Scale each face's saturation by U(1 - saturation, 1 + saturation) and brightness by
    U(1 - brightness, 1 + brightness). ``faces``: ``[B, S, S, 3]`` RGB in 0..255; returns float32 in 0..255."""
    x = faces.float()
    b = len(x)
    sat = 1.0 + saturation * (2 * torch.rand(b, 1, 1, 1, generator=generator) - 1)
    bright = 1.0 + brightness * (2 * torch.rand(b, 1, 1, 1, generator=generator) - 1)
    gray = (x * x.new_tensor(_LUMA)).sum(dim=-1, keepdim=True)
    return ((gray + sat.to(x) * (x - gray)) * bright.to(x)).clamp_(0.0, 255.0)


def warp_mels(mels: torch.Tensor, generator: torch.Generator, max_warp: float) -> torch.Tensor:
    """Resample each window's mel axis by a factor U(1 - max_warp, 1 + max_warp) (linear interpolation,
    edges clamped), which shifts formants and pitch harmonics like a vocal-tract-length change.
    ``mels``: ``[B, F, M]``; returns float32."""
    x = mels.float()
    b, _, m = x.shape
    alpha = 1.0 + max_warp * (2 * torch.rand(b, 1, generator=generator) - 1)
    pos = (torch.arange(m, dtype=torch.float32) / alpha).clamp_(0, m - 1).to(x.device)  # [B, M]
    lo = pos.floor().long()
    hi = (lo + 1).clamp_(max=m - 1)
    w = (pos - lo).unsqueeze(1)
    return _bands(x, lo) * (1 - w) + _bands(x, hi) * w


def _bands(x: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """``x[b, f, index[b, j]]`` for every frame ``f``."""
    return torch.gather(x, 2, index.unsqueeze(1).expand(-1, x.shape[1], -1))
