"""Audio, visual, fusion and temporal encoders: architectures, training, export, bundled weights.

The bundled encoders (``bundled_encoders_path()``) exported the bundled feature store
(``emo_env.artifacts.bundled_store_path()``) in the default run on the synthetic corpus (held-out
speaker s8); ``python -m pretrained_encoders.bundle`` rebuilds both.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

from emo_env.artifacts import ENCODERS_FILE

__all__ = ["bundled_encoders_path", "load_encoders", "Encoders"]


def bundled_encoders_path() -> Path:
    """Path of the bundled ``encoders.pt`` that exported ``emo_env.artifacts.bundled_store_path()``."""
    return Path(str(resources.files(__name__).joinpath("bundled", ENCODERS_FILE)))


def __getattr__(name: str) -> Any:
    # Lazy: importing the package for the bundled paths must not import torch.
    if name in ("load_encoders", "Encoders"):
        from . import encoders

        return getattr(encoders, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
