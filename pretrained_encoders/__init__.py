"""Audio, visual, fusion and temporal encoders: architectures, training, export, bundled weights.

The bundled files (``bundled_encoders_path()``, ``bundled_store_path()``) come from the default run
on the synthetic corpus (held-out speaker s8); ``python -m pretrained_encoders.bundle`` rebuilds them.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

__all__ = ["bundled_store_path", "bundled_encoders_path", "load_encoders", "Encoders"]


def _bundled(name: str) -> Path:
    return Path(str(resources.files(__name__).joinpath("bundled", name)))


def bundled_store_path() -> Path:
    """Path of the bundled feature store of the default synthetic corpus (held-out speaker s8)."""
    return _bundled("synthetic.emostore")


def bundled_encoders_path() -> Path:
    """Path of the bundled ``encoders.pt`` that exported :func:`bundled_store_path`."""
    return _bundled("encoders.pt")


def __getattr__(name: str) -> Any:
    # Lazy: importing the package for the bundled paths must not import torch.
    if name in ("load_encoders", "Encoders"):
        from . import encoders

        return getattr(encoders, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
