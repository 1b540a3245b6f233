"""``encoders.pt``: every trained model's state dict plus a JSON-able spec; :func:`load_encoders`."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import torch
from torch import nn

from emo_env.artifacts import CheckpointError, load_safe, save_atomic

from .models import MODALITIES, Familiarity, FusionNet, TemporalModel, build_model

__all__ = ["ENCODERS_FORMAT", "ENCODERS_VERSION", "KINDS", "Encoders", "save_encoders", "load_encoders",
           "state_checksum"]

ENCODERS_FORMAT = "emo-env-encoders"
ENCODERS_VERSION = 7  # 2: the temporal model holds its calibration; 3: a quadratic in log(1 + step);
# 4: front ends (voice descriptors, FER2013 face network), one calibrated temporal model per modality, familiarity;
# 5: 38 voice descriptors, summarised over the active frames; 6: the visual temporal model adds the face network's
# own reading (spec "face_prior"); 7: that reading corrected for FER2013's base rates and half uniform
TEMPORAL_KINDS = tuple(f"temporal_{m}" for m in MODALITIES)
KINDS = ("audio", "visual", "fusion", *TEMPORAL_KINDS, "familiarity")
REBUILD_ENCODERS = "rebuild it with pretrain_encoder.py and the config that made it (--resume reuses its checkpoints)"


@dataclass
class Encoders:
    """The models of one trained cascade, in eval mode, and the spec they were built from.

    ``spec`` holds the architectures and dims, ``class_names``, the default ``modality``, and the ``data``
    parameters of the steps (step rate, face size, log-mel settings). ``temporals`` holds one calibrated temporal
    model per modality (audio, visual, fusion); :attr:`temporal` is the default modality's. ``familiarity``
    says how unlike the training clips a stream's front-end features are.
    """

    spec: dict[str, Any]
    audio: nn.Module
    visual: nn.Module
    fusion: FusionNet
    temporals: dict[str, TemporalModel]
    familiarity: Familiarity

    @property
    def modality(self) -> str:
        return self.spec["modality"]

    @property
    def temporal(self) -> TemporalModel:
        """The temporal model of the default modality."""
        return self.temporals[self.modality]

    def models(self) -> dict[str, nn.Module]:
        """Every model by its kind in ``encoders.pt`` (:data:`KINDS`)."""
        return {"audio": self.audio, "visual": self.visual, "fusion": self.fusion} | {
            f"temporal_{m}": model for m, model in self.temporals.items()} | {"familiarity": self.familiarity}

    @property
    def class_names(self) -> list[str]:
        return list(self.spec["class_names"])

    def to(self, device: torch.device | str) -> Encoders:
        for model in self.models().values():
            model.to(device)
        return self


def state_checksum(states: Mapping[str, Mapping[str, torch.Tensor]]) -> str:
    """SHA-256 over every tensor (name, dtype, shape, bytes) of the state dicts, in a fixed order."""
    digest = hashlib.sha256()
    for kind in sorted(states):
        for key in sorted(states[kind]):
            tensor = states[kind][key].detach().cpu().contiguous()
            digest.update(f"{kind}.{key}:{tensor.dtype}:{list(tensor.shape)}".encode())
            digest.update(tensor.view(-1).view(torch.uint8).numpy().tobytes() if tensor.numel() else b"")
    return digest.hexdigest()


def save_encoders(path: str | Path, models: Mapping[str, nn.Module], spec: Mapping[str, Any]) -> str:
    """Write ``models`` (keys :data:`KINDS`) and ``spec`` atomically; returns the checksum."""
    json.dumps(spec)  # the spec must stay plain data (weights_only loading)
    states = {kind: {k: v.detach().cpu() for k, v in models[kind].state_dict().items()} for kind in KINDS}
    checksum = state_checksum(states)
    save_atomic({"format": ENCODERS_FORMAT, "version": ENCODERS_VERSION, "spec": dict(spec),
                 "state_dicts": states, "checksum": checksum}, path)
    return checksum


def load_encoders(path: str | Path, device: torch.device | str = "cpu") -> Encoders:
    """Rebuild every model from ``encoders.pt`` (``weights_only=True``), checking format and checksum."""
    data = load_safe(path, kind="encoders file", remedy=REBUILD_ENCODERS)
    if not isinstance(data, dict) or data.get("format") != ENCODERS_FORMAT:
        raise CheckpointError(f"{path} is not an encoders file "
                              f"(format {data.get('format') if isinstance(data, dict) else None!r})")
    if data.get("version") != ENCODERS_VERSION:
        raise CheckpointError(f"{path}: encoders format version {data.get('version')} is not supported "
                              f"(this code reads version {ENCODERS_VERSION})", REBUILD_ENCODERS)
    states = data.get("state_dicts")
    if not isinstance(states, dict) or state_checksum(states) != data.get("checksum"):
        raise CheckpointError(f"{path} is corrupt: checksum mismatch", REBUILD_ENCODERS)
    models = {}
    for kind in KINDS:
        model = build_model(kind, data["spec"])
        try:
            model.load_state_dict(states[kind])
        except (KeyError, RuntimeError) as exc:
            raise CheckpointError(f"{path}: weights of the {kind} model do not fit its spec ({exc})",
                                  REBUILD_ENCODERS) from exc
        models[kind] = model.eval()
    temporals = {m: cast(TemporalModel, models.pop(f"temporal_{m}")) for m in MODALITIES}
    return Encoders(spec=data["spec"], temporals=temporals, **models).to(device)  # type: ignore[arg-type]
