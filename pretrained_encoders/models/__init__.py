"""Encoder architectures and :func:`build_models`, which rebuilds all of them from a JSON-able spec."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from torch import nn

from emo_env.data.store import MODALITIES

from .audio import AUDIO_ARCHS, build_audio_encoder
from .familiarity import Familiarity
from .frontends import FRONTEND_DIMS
from .fusion import FusedEncoder, FusionNet
from .temporal import TemporalModel, TemporalState
from .visual import VISUAL_ARCHS, build_visual_encoder

__all__ = [
    "AUDIO_ARCHS", "VISUAL_ARCHS", "MODALITIES", "Familiarity", "FusionNet", "FusedEncoder", "TemporalModel",
    "TemporalState",
    "build_audio_encoder", "build_visual_encoder", "build_model",
]


def build_model(kind: str, spec: Mapping[str, Any], weights: str | Path | None = None) -> nn.Module:
    """Build model ``kind`` (``audio``, ``visual``, ``fusion``, ``temporal``, ``temporal_<modality>`` or
    ``familiarity``) from ``spec``.

    ``spec`` keys: ``audio_arch``, ``visual_arch``, ``embed_dim``, ``hidden_dim``, ``class_names``,
    ``mel_frames``, ``mel_bands``, ``data`` (the ingest settings: log-mel parameters), and ``face_prior``
    (optional: :func:`~pretrained_encoders.models.frontends.face_prior_indices`; when set, ``temporal_visual``
    adds the face network's own reading to its logits, :class:`TemporalModel`). ``weights``: a local
    pretrained file for the audio or visual encoder (see :func:`build_audio_encoder` and
    :func:`build_visual_encoder`), loaded before training.
    """
    num_classes = len(spec["class_names"])
    embed_dim = int(spec["embed_dim"])
    if kind == "audio":
        return build_audio_encoder(
            spec["audio_arch"], embed_dim=embed_dim, num_classes=num_classes, frames=int(spec["mel_frames"]),
            mel_bands=int(spec["mel_bands"]), mel=spec["data"], weights=weights,
        )
    if kind == "visual":
        return build_visual_encoder(spec["visual_arch"], embed_dim=embed_dim, num_classes=num_classes, weights=weights)
    if kind == "fusion":
        return FusionNet(embed_dim, int(spec["hidden_dim"]), num_classes)
    if kind == "temporal" or kind in (f"temporal_{m}" for m in MODALITIES):
        prior = kind == "temporal_visual" and spec.get("face_prior") is not None
        return TemporalModel(embed_dim, int(spec["hidden_dim"]), num_classes, prior=prior)
    if kind == "familiarity":
        return Familiarity(FRONTEND_DIMS["voice"], FRONTEND_DIMS["face"])
    raise ValueError(f"unknown model kind {kind!r} (known: audio, visual, fusion, temporal, "
                     f"{', '.join(f'temporal_{m}' for m in MODALITIES)}, familiarity)")
