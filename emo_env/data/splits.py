"""Cross-validation folds of an ingest index, written in the paper's layout.

Leave-one-speaker-out (``loso``): one fold per speaker, named after it. Leave-one-speakers-group-
out (``losgo``): one fold per group of speakers, named after the group. Fold ``f`` is written as
``<out_dir>/<f>/training_data.csv`` and ``<out_dir>/<f>/evaluation_data.csv`` (the index columns).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from emo_env.artifacts import atomic_path

from .clips import DatasetError

__all__ = ["FOLD_SCHEMES", "make_folds", "write_folds"]

FOLD_SCHEMES = ("loso", "losgo")


def make_folds(index: pd.DataFrame, scheme: str = "loso",
               groups: Mapping[str, str] | None = None) -> dict[str, pd.DataFrame]:
    """Return ``{fold name: boolean mask of index rows held out for evaluation}``; the rest trains.

    For ``losgo``, ``groups`` maps every speaker to its group; when empty, the index's
    ``group`` column is used.
    """
    if scheme not in FOLD_SCHEMES:
        raise DatasetError(f"unknown fold scheme {scheme!r} (known: {', '.join(FOLD_SCHEMES)})")
    if index.empty:
        raise DatasetError("no ingested clip to split into folds")
    speakers = index["speaker"].astype(str)
    if scheme == "loso":
        held_out = speakers
    elif groups:
        missing = sorted(set(speakers) - set(map(str, groups)))
        if missing:
            raise DatasetError(f"data.groups has no group for speaker(s) {', '.join(missing)}")
        held_out = speakers.map({str(k): str(v) for k, v in groups.items()})
    else:
        held_out = index["group"].fillna("").astype(str)
        if (held_out == "").any():
            raise DatasetError("losgo folds need data.groups (speaker -> group) or a group for every clip")
    names = sorted(set(held_out))
    unsafe = [name for name in names if name in ("", ".", "..") or "/" in name or "\\" in name]
    if unsafe:
        raise DatasetError(f"fold name(s) {unsafe} cannot be folder names; rename the speaker(s) or group(s)")
    if len(names) < 2:
        raise DatasetError(f"{scheme} folds need at least two {'speakers' if scheme == 'loso' else 'groups'}, "
                           f"got {names}")
    return {name: held_out == name for name in names}


def write_folds(index: pd.DataFrame, out_dir: str | Path, folds: Mapping[str, pd.Series]) -> list[Path]:
    """Write each fold's ``training_data.csv`` and ``evaluation_data.csv``; return the fold folders."""
    out_dir = Path(out_dir)
    written = []
    for name, held_out in folds.items():
        folder = out_dir / name
        for file_name, part in (("training_data.csv", index[~held_out]), ("evaluation_data.csv", index[held_out])):
            with atomic_path(folder / file_name) as tmp:
                part.to_csv(tmp, index=False)
        written.append(folder)
    return written
