"""BAUM-1s (Bahcesehir University Multimodal Affective Database, spontaneous): 31 subjects.

Layout assumed (as distributed): the clips as video files (``.mp4``) under the root, in subject
folders or not, and one annotation table (CSV/TSV, or Excel with ``openpyxl`` installed) found
as the single file under the root whose name contains ``annot`` (or given as ``annotations``).
The table has one row per clip, with a header: a clip column (header containing ``clip``,
``file``, ``name`` or ``video``; the name is matched to a video file's name, extension and
folders ignored), an emotion column (``emotion``, ``label`` or ``class``) and optionally a
subject column (``subject`` or ``speaker``). Without a subject column the subject is the
leading ``S<digits>`` of the clip name (``S001_007``), else the nearest such folder name.

Labels (the keys of ``data.label_map``) and their default mapping: happiness/happy -> happy,
sadness/sad -> sad, anger/angry -> anger, disgust -> disgust, fear -> fear,
surprise -> surprise, neutral -> neutral; the other affective and mental states (boredom,
contempt, unsure, thinking, concentrating, bothered, interest) are dropped. The usual setting,
the six basic emotions, is the shipped config ``baum1s``.

Folds: leave one speakers group out. The sorted subjects are cut into ``groups`` contiguous,
near-equal groups ``g1`` .. ``g<groups>`` (default 5), recorded as each clip's group.
Skipped: annotated clips without a video, videos without an annotation row, dropped labels.
An annotation row with an unknown label is an error naming the file and row.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd

from ..clips import Clip, DatasetError, Discovery, Skip
from .common import VIDEO_EXTENSIONS, LabelMapper, check_root, finish, make_clip_id, walk_files

__all__ = ["LABELS", "discover"]

LABELS: dict[str, str | None] = {
    "happiness": "happy", "happy": "happy", "sadness": "sad", "sad": "sad", "anger": "anger", "angry": "anger",
    "disgust": "disgust", "fear": "fear", "surprise": "surprise", "neutral": "neutral",
    "boredom": None, "contempt": None, "unsure": None, "thinking": None, "concentrating": None,
    "bothered": None, "interest": None,
}
_TABLES = (".csv", ".tsv", ".txt", ".xlsx", ".xls")
_SUBJECT = re.compile(r"(S\d+)(?![A-Za-z0-9])", re.IGNORECASE)
_COLUMNS = {"clip": ("clip", "file", "name", "video"), "label": ("emotion", "label", "class"),
            "speaker": ("subject", "speaker")}


def discover(root: str | Path, classes: Sequence[str], label_map: Mapping[str, str | None], *,
             annotations: str | Path | None = None, groups: int = 5) -> Discovery:
    """Find the annotated BAUM-1s clips under ``root``."""
    root = check_root(root, "BAUM-1s")
    if groups < 1:
        raise DatasetError(f"BAUM-1s option groups={groups}: expected at least 1")
    mapper = LabelMapper("BAUM-1s", LABELS, classes, label_map)
    table_path = Path(annotations) if annotations is not None else _find_annotations(root)
    rows = _read_table(table_path)
    skipped: list[Skip] = []
    videos: dict[str, Path] = {}
    for path in walk_files(root, VIDEO_EXTENSIONS, skipped):
        if path.stem in videos:
            skipped.append(Skip(str(path), f"duplicate of {videos[path.stem]}"))
        else:
            videos[path.stem] = path
    found: list[tuple[str, Path, str]] = []
    annotated: set[str] = set()
    for number, clip, label, speaker in rows:
        where = f"{table_path}:{number}"
        stem = Path(clip.replace("\\", "/")).stem
        annotated.add(stem)
        target = mapper.resolve(label, where)
        if isinstance(target, Skip):
            skipped.append(target)
            continue
        video = videos.get(stem)
        if video is None:
            skipped.append(Skip(where, f"annotated clip {clip!r} has no video file under {root}"))
            continue
        speaker = speaker or _subject(video, root)
        if not speaker:
            skipped.append(Skip(str(video), "cannot tell the subject (no subject column, S<digits> name or folder)"))
            continue
        found.append((speaker, video, target))
    for stem in sorted(videos.keys() - annotated):
        skipped.append(Skip(str(videos[stem]), f"not in the annotation file {table_path}"))
    group_of = _groups({speaker for speaker, _, _ in found}, groups)
    clips = [Clip(clip_id=make_clip_id(video.stem), video=video, label=label, speaker=speaker, group=group_of[speaker])
             for speaker, video, label in found]
    return finish("BAUM-1s", root, clips, skipped, classes)


def _find_annotations(root: Path) -> Path:
    tables = [path for path in walk_files(root, _TABLES, []) if "annot" in path.name.casefold()]
    if len(tables) != 1:
        found = ", ".join(map(str, tables)) if tables else "none"
        raise DatasetError(f"BAUM-1s: expected one annotation table (a {'/'.join(_TABLES)} file whose name "
                           f"contains 'annot') under {root}, found {found}; pass its path as annotations")
    return tables[0]


def _read_table(path: Path) -> list[tuple[int, str, str, str | None]]:
    """Rows of the annotation table as (row number, clip, label, subject or None)."""
    if not path.is_file():
        raise DatasetError(f"BAUM-1s annotation file {path} does not exist")
    try:
        if path.suffix.lower() in (".xlsx", ".xls"):
            table = pd.read_excel(path, header=None, dtype=str)
        else:
            table = pd.read_csv(path, sep=None, engine="python", header=None, dtype=str)
    except ImportError as exc:
        raise DatasetError(f"reading {path} needs {exc.name} (pip install {exc.name}), or save it as CSV") from exc
    except (ValueError, pd.errors.ParserError) as exc:
        raise DatasetError(f"BAUM-1s annotation file {path} is not a readable table: {exc}") from exc
    header = [str(cell).strip().casefold() for cell in table.iloc[0]] if len(table) else []
    columns = {key: next((i for i, cell in enumerate(header) if any(word in cell for word in words)), None)
               for key, words in _COLUMNS.items()}
    if columns["clip"] is None or columns["label"] is None:
        raise DatasetError(f"BAUM-1s annotation file {path}: the header needs a clip column "
                           f"({'/'.join(_COLUMNS['clip'])}) and an emotion column ({'/'.join(_COLUMNS['label'])}); "
                           f"got {header}")
    rows = []
    for number, values in enumerate(table.iloc[1:].itertuples(index=False), start=2):
        clip, label = values[columns["clip"]], values[columns["label"]]
        if pd.isna(clip) and pd.isna(label):
            continue
        if pd.isna(clip) or pd.isna(label):
            raise DatasetError(f"{path}:{number}: row without a clip name or an emotion")
        speaker = values[columns["speaker"]] if columns["speaker"] is not None else None
        rows.append((number, str(clip).strip(), str(label).strip(), None if pd.isna(speaker) else str(speaker).strip()))
    return rows


def _subject(video: Path, root: Path) -> str | None:
    match = _SUBJECT.match(video.stem)
    if match:
        return match.group(1).upper()
    folders = [part for part in reversed(video.relative_to(root).parts[:-1]) if _SUBJECT.fullmatch(part)]
    return folders[0].upper() if folders else None


def _groups(speakers: set[str], groups: int) -> dict[str, str]:
    """Cut the speakers, in natural order (S2 before S10), into ``groups`` contiguous, near-equal groups g1, g2, ..."""
    ordered = sorted(speakers, key=lambda name: [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", name)])
    count = min(groups, len(ordered))
    return {speaker: f"g{i * count // len(ordered) + 1}" for i, speaker in enumerate(ordered)}
