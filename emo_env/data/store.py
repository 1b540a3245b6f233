"""The feature store: per-step encoder outputs of every clip of one fold, in one memory-mappable file.

Layout (format version 1), all little-endian::

    b"EMOSTORE" | uint32 format version | uint64 header length | JSON header | arrays

Each array starts on a 64-byte boundary; the header records its dtype, shape, byte offset and
SHA-256, and the SHA-256 of the rest of the header (``header_sha256``; stores written before it
have none). Clips are ragged: every per-step feature is one ``[total_steps, dim]`` array and
``offsets[i]:offsets[i + 1]`` are clip ``i``'s rows. Per-step features are named
``audio``, ``visual``, ``fusion`` (encoder embeddings), ``hidden`` and ``probs`` (the temporal
model's state and class probabilities, for the store's ``modality``).
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args

import numpy as np

from emo_env.artifacts import ArtifactError, atomic_path, bundled_store_path, json_checksum

from .ragged import RaggedClips

__all__ = ["FORMAT_VERSION", "SPLITS", "Modality", "MODALITIES", "StoreError", "FeatureStore", "write_store",
           "load_store"]

MAGIC = b"EMOSTORE"
FORMAT_VERSION = 1
ALIGN = 64
SPLITS = ("train", "eval")
Modality = Literal["audio", "visual", "fusion"]
MODALITIES: tuple[Modality, ...] = get_args(Modality)
_PREFIX = struct.Struct("<8sIQ")
_HEADER_KEYS = ("class_names", "step_rate", "modality", "clip_ids", "speakers", "metadata", "arrays")


class StoreError(ArtifactError):
    """A feature store is missing, corrupt, of an unknown version, or inconsistent."""


@dataclass(frozen=True)
class FeatureStore(RaggedClips):
    """A loaded feature store. Feature arrays are read-only memory maps of the file."""

    path: Path
    class_names: list[str]
    step_rate: float
    modality: str
    clip_ids: list[str]
    speakers: list[str]
    offsets: np.ndarray  # int64 [num_clips + 1]
    labels: np.ndarray  # int64 [num_clips]
    split: np.ndarray  # int8 [num_clips]: index into SPLITS
    features: dict[str, np.ndarray]  # name -> [total_steps, dim]
    metadata: dict[str, Any] = field(default_factory=dict)

    def clip_indices(self, split: str = "all") -> np.ndarray:
        """Indices of the clips of ``split`` (``"train"``, ``"eval"`` or ``"all"``), in store order."""
        if split == "all":
            return np.arange(self.num_clips)
        if split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS + ('all',)}, got {split!r}")
        return np.flatnonzero(self.split == SPLITS.index(split))

    def clip_feature(self, name: str, clip: int) -> np.ndarray:
        """The ``[steps, dim]`` rows of feature ``name`` for clip index ``clip``."""
        if name not in self.features:
            raise KeyError(f"store {self.path} has no feature {name!r} (has: {', '.join(self.features)})")
        return self.features[name][self.offsets[clip] : self.offsets[clip + 1]]


def write_store(
    path: str | Path,
    *,
    class_names: Sequence[str],
    step_rate: float,
    modality: str,
    clip_ids: Sequence[str],
    speakers: Sequence[str],
    labels: Sequence[int] | np.ndarray,
    split: Sequence[int] | np.ndarray,
    lengths: Sequence[int] | np.ndarray,
    features: Mapping[str, np.ndarray],
    metadata: Mapping[str, Any] | None = None,
) -> Path:
    """Validate and write a feature store atomically (temp file, then rename). Returns the path."""
    path = Path(path)
    lengths = np.asarray(lengths, dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    arrays: dict[str, np.ndarray] = {
        "offsets": offsets,
        "labels": np.asarray(labels, dtype=np.int64),
        "split": np.asarray(split, dtype=np.int8),
    }
    n = len(clip_ids)
    _check(len(speakers) == n and len(arrays["labels"]) == n and len(arrays["split"]) == n and len(lengths) == n,
           path, "clip_ids, speakers, labels, split and lengths must have one entry per clip")
    _check(n > 0 and bool((lengths > 0).all()), path, "every clip needs at least one step")
    _check(len(set(clip_ids)) == n, path, "clip ids must be unique")
    _check(bool(((arrays["labels"] >= 0) & (arrays["labels"] < len(class_names))).all()), path,
           f"labels must lie in [0, {len(class_names)})")
    _check(bool(((arrays["split"] >= 0) & (arrays["split"] < len(SPLITS))).all()), path,
           "split values must be 0 (train) or 1 (eval)")
    for name, value in features.items():
        value = np.ascontiguousarray(value)
        _check(name not in arrays, path, f"feature name {name!r} is reserved")
        _check(value.ndim == 2 and value.shape[0] == offsets[-1], path,
               f"feature {name!r} must be [total_steps={offsets[-1]}, dim], got {list(value.shape)}")
        if np.issubdtype(value.dtype, np.floating):
            bad = np.flatnonzero(~np.isfinite(value).all(axis=1))
            if len(bad):
                clip = int(np.searchsorted(offsets, bad[0], side="right") - 1)
                raise StoreError(f"{path}: feature {name!r} has NaN/inf values (first in clip {clip_ids[clip]!r})")
        arrays[name] = value
    header: dict[str, Any] = {
        "format_version": FORMAT_VERSION,
        "class_names": list(class_names),
        "step_rate": float(step_rate),
        "modality": modality,
        "clip_ids": [str(c) for c in clip_ids],
        "speakers": [str(s) for s in speakers],
        "metadata": dict(metadata or {}),
        "arrays": {},
    }
    offset = 0
    for name, value in arrays.items():
        header["arrays"][name] = {
            "dtype": value.dtype.str,
            "shape": list(value.shape),
            "offset": offset,
            "sha256": hashlib.sha256(value.tobytes()).hexdigest(),
        }
        offset = _aligned(offset + value.nbytes)
    header = json.loads(json.dumps(header))  # as it reads back: its checksum is over that
    header["header_sha256"] = _header_checksum(header)
    header_bytes = json.dumps(header).encode()
    data_start = _aligned(_PREFIX.size + len(header_bytes))
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        f.write(_PREFIX.pack(MAGIC, FORMAT_VERSION, len(header_bytes)))
        f.write(header_bytes)
        for name, value in arrays.items():
            f.seek(data_start + header["arrays"][name]["offset"])
            f.write(value.tobytes())
        f.truncate(data_start + offset)
        f.flush()
        os.fsync(f.fileno())
    return path


def load_store(path: str | Path, verify: bool = True) -> FeatureStore:
    """Load a store with memory-mapped features; ``verify`` checks every array's SHA-256. A missing,
    damaged or inconsistent file is a one-line :class:`StoreError` that names it and says what to do."""
    path = Path(path)
    try:
        return _load(path, verify)
    except StoreError as exc:
        raise StoreError(exc.problem, _remedy(path)) from None
    except Exception as exc:  # whatever else parsing damaged bytes raises
        raise StoreError(f"{path} is corrupt ({type(exc).__name__}: {exc})", _remedy(path)) from None


def _remedy(path: Path) -> str:
    if path.resolve() == bundled_store_path().resolve():
        return "reinstall emo-env, or rebuild it with python -m pretrained_encoders.bundle"
    return "rebuild it with pretrain_encoder.py and the config that made it (python -m agents.benchmark --folds " \
           "rebuilds the per-fold stores itself)"


def _header_checksum(header: dict[str, Any]) -> str:
    return json_checksum({key: value for key, value in header.items() if key != "header_sha256"})


def _load(path: Path, verify: bool) -> FeatureStore:
    if not path.is_file():
        raise StoreError(f"feature store {path} does not exist")
    size = path.stat().st_size
    with open(path, "rb") as f:
        prefix = f.read(_PREFIX.size)
        if len(prefix) < _PREFIX.size:
            raise StoreError(f"{path} is not a feature store (file too short: {size} bytes)")
        magic, version, header_len = _PREFIX.unpack(prefix)
        if magic != MAGIC:
            raise StoreError(f"{path} is not a feature store (bad magic bytes {magic!r})")
        if version != FORMAT_VERSION:
            raise StoreError(f"{path}: store format version {version} is not supported (this code reads version "
                             f"{FORMAT_VERSION})")
        if _PREFIX.size + header_len > size:
            raise StoreError(f"{path} is truncated: header runs past the end of the file")
        try:
            header = json.loads(f.read(header_len))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise StoreError(f"{path}: corrupt header ({exc})") from exc
    missing = [k for k in _HEADER_KEYS if not isinstance(header, dict) or k not in header]
    if missing:
        raise StoreError(f"{path}: corrupt header (missing {', '.join(missing)})")
    if "header_sha256" in header and header["header_sha256"] != _header_checksum(header):
        raise StoreError(f"{path} is corrupt: checksum mismatch in the header")
    data_start = _aligned(_PREFIX.size + header_len)
    arrays: dict[str, np.ndarray] = {}
    for name, spec in header["arrays"].items():
        try:
            shape = tuple(int(n) for n in spec["shape"])
            dtype = np.dtype(spec["dtype"])
            start = data_start + int(spec["offset"])
        except (KeyError, TypeError, ValueError) as exc:
            raise StoreError(f"{path}: corrupt header entry for array {name!r} ({exc})") from exc
        nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
        if start + nbytes > size:
            raise StoreError(f"{path} is truncated: array {name!r} needs bytes up to {start + nbytes}, file has {size}")
        array = np.memmap(path, dtype=dtype, mode="r", offset=start, shape=shape) if nbytes else np.zeros(shape, dtype)
        if verify and hashlib.sha256(array.tobytes()).hexdigest() != spec.get("sha256"):
            raise StoreError(f"{path} is corrupt: checksum mismatch in array {name!r}")
        if verify and np.issubdtype(dtype, np.floating) and not np.isfinite(array).all():
            raise StoreError(f"{path}: feature {name!r} has NaN/inf values")
        arrays[name] = array
    for required in ("offsets", "labels", "split"):
        if required not in arrays:
            raise StoreError(f"{path}: missing array {required!r}")
    num_clips = len(header["clip_ids"])
    if arrays["offsets"].shape != (num_clips + 1,) or any(
            a.shape[:1] != (num_clips,) for a in (arrays["labels"], arrays["split"])):
        raise StoreError(f"{path}: offsets, labels and split do not match the {num_clips} clip ids")
    for name, array in arrays.items():
        if name not in ("offsets", "labels", "split") and (array.ndim != 2 or array.shape[0] != arrays["offsets"][-1]):
            raise StoreError(f"{path}: feature {name!r} has shape {list(array.shape)}, "
                             f"expected [{arrays['offsets'][-1]}, dim]")
    return FeatureStore(
        path=path,
        class_names=header["class_names"],
        step_rate=header["step_rate"],
        modality=header["modality"],
        clip_ids=header["clip_ids"],
        speakers=header["speakers"],
        offsets=np.asarray(arrays.pop("offsets")),
        labels=np.asarray(arrays.pop("labels")),
        split=np.asarray(arrays.pop("split")),
        features=arrays,
        metadata=header["metadata"],
    )


def _aligned(n: int) -> int:
    return -(-n // ALIGN) * ALIGN


def _check(condition: bool, path: Path, message: str) -> None:
    if not condition:
        raise StoreError(f"{path}: {message}")
