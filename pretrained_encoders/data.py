"""Load one fold of the ingest output (per-clip npz files + split CSVs) into memory."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from emo_env.data.clip_file import REINGEST, read_clip_file
from emo_env.data.ragged import RaggedClips

__all__ = ["IngestError", "Corpus", "load_corpus", "list_folds"]

_COLUMNS = ("clip_id", "label", "speaker", "steps", "file")


class IngestError(ValueError):
    """The ingest output is missing, inconsistent or corrupt; the message names the file."""


@dataclass
class Corpus(RaggedClips):
    """Every clip of one fold, steps concatenated: clip ``i`` owns rows ``offsets[i]:offsets[i + 1]``."""

    clip_ids: list[str]
    speakers: list[str]
    labels: np.ndarray  # int64 [C]
    split: np.ndarray  # int8 [C]: 0 = training, 1 = evaluation (held-out speaker)
    offsets: np.ndarray  # int64 [C + 1]
    faces: torch.Tensor  # uint8 [N, S, S, 3]
    mels: torch.Tensor  # float16 [N, F, M]
    class_names: list[str]

    def rows(self, clips: np.ndarray) -> np.ndarray:
        """Row indices of every step of ``clips``, clip by clip."""
        if len(clips) == 0:
            return np.zeros(0, dtype=np.int64)
        return np.concatenate([np.arange(self.offsets[c], self.offsets[c + 1]) for c in clips])

    def row_labels(self) -> torch.Tensor:
        """The clip label of every row, int64 ``[N]``."""
        return torch.from_numpy(np.repeat(self.labels, self.lengths))


def list_folds(ingest_dir: str | Path) -> list[str]:
    """Names of the folds (held-out speakers or groups) that have split CSVs in ``ingest_dir``."""
    ingest_dir = Path(ingest_dir)
    return sorted(p.parent.name for p in ingest_dir.glob("*/training_data.csv")
                  if (p.parent / "evaluation_data.csv").is_file())


def load_corpus(ingest_dir: str | Path, fold: str, class_names: Sequence[str]) -> Corpus:
    """Read fold ``fold``'s training and evaluation clips (in CSV order) and their steps."""
    ingest_dir = Path(ingest_dir)
    fold_dir = ingest_dir / fold
    if not (fold_dir / "training_data.csv").is_file():
        known = ", ".join(list_folds(ingest_dir)) or "none"
        raise IngestError(f"{ingest_dir}: no fold {fold!r} (no {fold}/training_data.csv); known folds: {known}")
    tables = [_read_split(fold_dir / name) for name in ("training_data.csv", "evaluation_data.csv")]
    table = pd.concat(tables, ignore_index=True)
    split = np.repeat(np.array([0, 1], dtype=np.int8), [len(t) for t in tables])
    if not len(tables[0]) or not len(tables[1]):
        raise IngestError(f"{fold_dir}: the training and the evaluation split each need at least one clip")
    duplicated = table["clip_id"][table["clip_id"].duplicated()]
    if len(duplicated):
        raise IngestError(f"{fold_dir}: clip {duplicated.iloc[0]!r} is listed more than once")
    classes = list(class_names)
    unknown = sorted(set(table["label"]) - set(classes))
    if unknown:
        raise IngestError(f"{fold_dir}: label(s) {unknown} are not among the classes {classes}")
    lengths = table["steps"].to_numpy(np.int64)
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    faces = mels = None
    for i, row in enumerate(table.itertuples(index=False)):
        arrays = _read_clip(ingest_dir / row.file, int(row.steps))
        if faces is None:
            faces = np.empty((offsets[-1], *arrays["faces"].shape[1:]), np.uint8)
            mels = np.empty((offsets[-1], *arrays["mels"].shape[1:]), np.float16)
        assert mels is not None  # allocated with faces
        for name, target in (("faces", faces), ("mels", mels)):
            if arrays[name].shape[1:] != target.shape[1:]:
                raise IngestError(f"{ingest_dir / row.file}: {name} shape {list(arrays[name].shape[1:])} differs from "
                                  f"the other clips' {list(target.shape[1:])}")
            target[offsets[i] : offsets[i + 1]] = arrays[name]
    return Corpus(
        clip_ids=list(table["clip_id"]),
        speakers=list(table["speaker"]),
        labels=np.array([classes.index(label) for label in table["label"]], dtype=np.int64),
        split=split,
        offsets=offsets,
        faces=torch.from_numpy(faces),
        mels=torch.from_numpy(mels),
        class_names=classes,
    )


def _read_split(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise IngestError(f"split file {path} does not exist")
    table = pd.read_csv(path, dtype={"clip_id": str, "label": str, "speaker": str, "file": str})
    missing = [c for c in _COLUMNS if c not in table.columns]
    if missing:
        raise IngestError(f"{path}: missing column(s) {missing} (has {list(table.columns)})")
    if len(table) and (table["steps"] < 1).any():
        bad = table.loc[table["steps"] < 1, "clip_id"].iloc[0]
        raise IngestError(f"{path}: clip {bad!r} has no steps")
    return table


def _read_clip(path: Path, steps: int) -> dict[str, np.ndarray]:
    arrays = read_clip_file(path)
    if len(arrays["times"]) != steps:
        raise IngestError(f"{path}: the split file says {steps} steps, the clip file has {len(arrays['times'])}; "
                          f"{REINGEST}")
    return arrays
