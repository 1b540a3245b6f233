"""Feature store: round trip, memory mapping, validation on write, corruption detection on load."""

from __future__ import annotations

import hashlib
import json
import struct

import numpy as np
import pytest

from emo_env.data.store import FORMAT_VERSION, StoreError, load_store, write_store

CLASSES = ["happy", "surprise", "sad"]


def store_args(seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    lengths = [3, 5, 2, 4]
    total = sum(lengths)
    probs = rng.dirichlet(np.ones(3), total)
    return dict(
        class_names=CLASSES, step_rate=10.0, modality="fusion", clip_ids=["s1_a", "s1_b", "s2_a", "s2_b"],
        speakers=["s1", "s1", "s2", "s2"], labels=[0, 2, 1, 0], split=[0, 0, 1, 1], lengths=lengths,
        features={"audio": rng.normal(size=(total, 4)).astype(np.float16),
                  "hidden": rng.normal(size=(total, 6)).astype(np.float32), "probs": probs.astype(np.float16)},
        metadata={"seed": seed, "config": {"encoder": {"embed_dim": 4}}},
    )


@pytest.fixture
def store_path(tmp_path):
    return write_store(tmp_path / "s.emostore", **store_args())


def test_round_trip(store_path):
    args = store_args()
    store = load_store(store_path)
    assert store.class_names == CLASSES and store.step_rate == 10.0 and store.modality == "fusion"
    assert store.clip_ids == args["clip_ids"] and store.speakers == args["speakers"]
    assert store.lengths.tolist() == args["lengths"] and store.labels.tolist() == args["labels"]
    assert store.clip_indices("eval").tolist() == [2, 3] and store.clip_indices("train").tolist() == [0, 1]
    for name, value in args["features"].items():
        assert store.features[name].dtype == value.dtype
        np.testing.assert_array_equal(store.features[name], value)
        assert isinstance(store.features[name], np.memmap) and not store.features[name].flags.writeable
    np.testing.assert_array_equal(store.clip_feature("hidden", 1), args["features"]["hidden"][3:8])
    assert store.metadata == args["metadata"]
    with pytest.raises(KeyError, match="no feature 'visual'"):
        store.clip_feature("visual", 0)


def test_write_is_deterministic_and_leaves_no_temp_files(tmp_path):
    a = write_store(tmp_path / "a.emostore", **store_args())
    b = write_store(tmp_path / "b.emostore", **store_args())
    assert a.read_bytes() == b.read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.emostore", "b.emostore"]


@pytest.mark.parametrize("damage, message", [
    (lambda d: d[: len(d) // 2], "truncated"),
    (lambda d: d[:20], "truncated"),
    (lambda d: d[:5], "file too short"),
    (lambda d: b"NOTASTOR" + d[8:], "bad magic"),
    (lambda d: d[:8] + struct.pack("<I", FORMAT_VERSION + 1) + d[12:],
     f"version {FORMAT_VERSION + 1} is not supported"),
    (lambda d: d[:20] + b"\xff\xfe" + d[22:], "corrupt header"),
])
def test_damaged_files_are_clear_errors(store_path, damage, message):
    store_path.write_bytes(damage(store_path.read_bytes()))
    with pytest.raises(StoreError, match=message) as info:
        load_store(store_path)
    assert str(store_path) in str(info.value)


def test_every_flipped_data_byte_is_detected(store_path):
    data = bytearray(store_path.read_bytes())
    header_len = struct.unpack_from("<Q", data, 12)[0]
    header = json.loads(data[20 : 20 + header_len])
    data_start = -(-(20 + header_len) // 64) * 64
    for name, spec in header["arrays"].items():
        flipped = bytearray(data)
        flipped[data_start + spec["offset"]] ^= 0x01
        store_path.write_bytes(bytes(flipped))
        with pytest.raises(StoreError, match=f"checksum mismatch in array '{name}'"):
            load_store(store_path)
    store_path.write_bytes(bytes(data))
    load_store(store_path)


def test_header_missing_keys_is_a_clear_error(store_path):
    data = store_path.read_bytes()
    header_len = struct.unpack_from("<Q", data, 12)[0]
    header = json.loads(data[20 : 20 + header_len])
    del header["arrays"]
    body = json.dumps(header).encode()
    store_path.write_bytes(data[:8] + struct.pack("<IQ", FORMAT_VERSION, len(body)) + body)
    with pytest.raises(StoreError, match="corrupt header \\(missing arrays\\)"):
        load_store(store_path)


def test_nan_features_are_refused_on_write_and_on_load(tmp_path):
    args = store_args()
    args["features"]["hidden"][6, 2] = np.nan
    with pytest.raises(StoreError, match="'hidden' has NaN/inf values \\(first in clip 's1_b'\\)"):
        write_store(tmp_path / "nan.emostore", **args)
    assert list(tmp_path.iterdir()) == []  # nothing written, no temp file left
    # a file whose checksums are right but whose features are not finite (written by other code)
    good = store_args()
    path = write_store(tmp_path / "ok.emostore", **good)
    data = bytearray(path.read_bytes())
    header_len = struct.unpack_from("<Q", data, 12)[0]
    header = json.loads(data[20 : 20 + header_len])
    spec = header["arrays"]["hidden"]
    values = good["features"]["hidden"].copy()
    values[0, 0] = np.inf


    spec["sha256"] = hashlib.sha256(values.tobytes()).hexdigest()
    rest = {key: value for key, value in header.items() if key != "header_sha256"}
    header["header_sha256"] = hashlib.sha256(json.dumps(rest, sort_keys=True).encode()).hexdigest()
    body = json.dumps(header).encode()
    assert len(body) == header_len  # same length: array offsets unchanged
    start = -(-(20 + header_len) // 64) * 64 + spec["offset"]
    data[20 : 20 + header_len] = body
    data[start : start + values.nbytes] = values.tobytes()
    path.write_bytes(bytes(data))
    with pytest.raises(StoreError, match="'hidden' has NaN/inf"):
        load_store(path)


@pytest.mark.parametrize("change, message", [
    (dict(labels=[0, 3, 1, 0]), "labels must lie in"),
    (dict(split=[0, 0, 2, 1]), "split values"),
    (dict(lengths=[3, 5, 2, 0]), "at least one step"),
    (dict(clip_ids=["a", "a", "b", "c"]), "unique"),
    (dict(speakers=["s1"]), "one entry per clip"),
])
def test_inconsistent_input_is_refused(tmp_path, change, message):
    with pytest.raises(StoreError, match=message):
        write_store(tmp_path / "bad.emostore", **(store_args() | change))


def test_missing_file(tmp_path):
    with pytest.raises(StoreError, match="does not exist"):
        load_store(tmp_path / "nope.emostore")
