"""The synthetic corpus made by ``python -m emo_env.data generate`` (default: 8 speakers x 6 emotions x 10).

The root holds ``clips.csv`` (``path,label,speaker,duration``); the clip id is the file's stem
(``s3_anger_07``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from ..clips import DatasetError, Discovery
from .common import check_root
from .generic_csv import read_clip_table

__all__ = ["discover"]


def discover(root: str | Path, classes: Sequence[str], label_map: Mapping[str, str | None]) -> Discovery:
    """Read the generated corpus under ``root``."""
    root = check_root(root, "synthetic")
    table = root / "clips.csv"
    if not table.is_file():
        raise DatasetError(f"synthetic root {root} has no clips.csv; generate it with "
                           f"`python -m emo_env.data generate --out {root}`")
    return read_clip_table(table, "synthetic", classes, label_map, extra_columns=("duration",),
                           clip_id=lambda relative: relative.stem)
