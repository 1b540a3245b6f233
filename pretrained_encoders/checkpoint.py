"""Atomic writes and safe loading (``weights_only=True``) of torch files."""

from __future__ import annotations

import os
import pickle
import zipfile
from pathlib import Path
from typing import Any

import torch

from emo_env.data.atomic import atomic_path

__all__ = ["CheckpointError", "atomic_path", "save_atomic", "load_safe"]


class CheckpointError(ValueError):
    """A checkpoint or weights file is missing, truncated, corrupt or of an unexpected kind."""


def save_atomic(obj: Any, path: str | Path) -> Path:
    """``torch.save`` to a temp file in the same folder, fsync, then rename it over ``path``."""
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        torch.save(obj, f)
        f.flush()
        os.fsync(f.fileno())
    return Path(path)


def load_safe(path: str | Path, kind: str = "checkpoint") -> Any:
    """``torch.load(path, weights_only=True)`` on CPU; a missing or damaged file is a :class:`CheckpointError`."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{kind} {path} does not exist")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except (RuntimeError, EOFError, OSError, zipfile.BadZipFile, pickle.UnpicklingError, ValueError) as exc:
        # torch's own message spans many lines and suggests weights_only=False, which would run the file's code
        if "Unsupported global" in str(exc):
            raise CheckpointError(f"{kind} {path} holds Python objects other than tensors and plain values: not an "
                                  f"emo-env {kind}, and not unpickled") from exc
        raise CheckpointError(f"{kind} {path} is truncated or corrupt ({type(exc).__name__})") from exc
