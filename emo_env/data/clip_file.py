"""Reading an ingested clip file back: ``clips/<clip_id>.npz`` of an ingest folder (see
:mod:`emo_env.data.ingest`), every array read and checked before anything uses it."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from emo_env.artifacts import ArtifactError, read_npz

__all__ = ["CLIP_ARRAYS", "REINGEST", "read_clip_file"]

#: The per-step arrays of a clip file and their (dtype, dimensions); ``source_hash`` is a string scalar.
CLIP_ARRAYS = {"faces": (np.uint8, 4), "mels": (np.float16, 3), "times": (np.float32, 1),
               "face_found": (np.bool_, 1), "boxes": (np.float32, 2)}
#: What to do about a damaged clip file.
REINGEST = "run the ingest again (python -m emo_env.data ingest, or pretrain_encoder.py): it remakes damaged clip files"


def read_clip_file(path: str | Path) -> dict[str, np.ndarray]:
    """The arrays of an ingested clip file (see the module docstring), every one read and checked:
    a missing, truncated, corrupt or malformed file is a one-line :class:`ArtifactError` naming it."""
    arrays = read_npz(path, "clip file", REINGEST)
    missing = [name for name in (*CLIP_ARRAYS, "source_hash") if name not in arrays]
    if missing:
        raise ArtifactError(f"clip file {path} lacks array(s) {', '.join(missing)}", REINGEST)
    steps = len(arrays["times"]) if arrays["times"].ndim == 1 else -1
    for name, (dtype, ndim) in CLIP_ARRAYS.items():
        array = arrays[name]
        if array.dtype != dtype or array.ndim != ndim or len(array) != steps or steps < 1:
            raise ArtifactError(f"clip file {path}: {name} is {array.dtype} {list(array.shape)}, expected {ndim}-d "
                                f"{np.dtype(dtype)} with one row per step ({steps} steps)", REINGEST)
    if arrays["faces"].shape[-1] != 3 or arrays["boxes"].shape[-1] != 4 or arrays["source_hash"].ndim != 0:
        raise ArtifactError(f"clip file {path} is malformed (faces, boxes or source_hash of the wrong shape)", REINGEST)
    if not np.isfinite(arrays["mels"]).all():
        raise ArtifactError(f"clip file {path}: mels contain NaN or inf", REINGEST)
    return arrays
