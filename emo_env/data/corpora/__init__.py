"""Dataset adapters: one ``discover(root, classes, label_map) -> Discovery`` function per corpus.

Add a corpus with one line in :data:`ADAPTERS`. Face image sets (for pretraining the visual front end
only, not clip corpora) are listed in :data:`IMAGE_SETS`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from ..clips import DatasetError, Discovery
from . import affectnet, baum1s, cremad, enterface, generic_csv, iemocap, ravdess, rml, synthetic

__all__ = ["Adapter", "ADAPTERS", "IMAGE_SETS", "get_adapter"]

Adapter = Callable[[Path, Sequence[str], Mapping[str, "str | None"]], Discovery]

ADAPTERS: dict[str, Adapter] = {
    "synthetic": synthetic.discover,
    "csv": generic_csv.discover,
    "rml": rml.discover,
    "enterface": enterface.discover,
    "baum1s": baum1s.discover,
    "ravdess": ravdess.discover,
    "cremad": cremad.discover,
    "iemocap": iemocap.discover,
}

#: Face image sets with expression labels: name -> its ``discover_images`` (pretrain_encoder.py only).
IMAGE_SETS = {"affectnet": affectnet.discover_images}


def get_adapter(name: str) -> Adapter:
    """The adapter registered as ``name``; an unknown name is a DatasetError listing the known ones."""
    if name not in ADAPTERS:
        raise DatasetError(f"unknown dataset {name!r} (known: {', '.join(sorted(ADAPTERS))})")
    return ADAPTERS[name]
