"""Any corpus listed in a CSV file: ``path,label,speaker[,audio_path][,group]``, one row per clip.

``root`` is the CSV file or a folder holding ``clips.csv``; relative paths are relative to the
CSV's folder. ``label`` is a class name or a key of ``data.label_map``; ``audio_path`` names a
separate WAV/FLAC file when the video has no audio track; ``group`` is the speakers group used by
leave-one-speakers-group-out folds. The clip id joins the path's folders and stem
(``s1/clip_03.mp4`` gives ``s1_clip_03``).
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from ..clips import Clip, DatasetError, Discovery, Skip
from .common import LabelMapper, finish, make_clip_id

__all__ = ["REQUIRED", "OPTIONAL", "discover", "read_clip_table"]

REQUIRED = ("path", "label", "speaker")
OPTIONAL = ("audio_path", "group")


def discover(root: str | Path, classes: Sequence[str], label_map: Mapping[str, str | None]) -> Discovery:
    """Read the clips listed in ``root`` (a CSV file, or a folder holding ``clips.csv``)."""
    root = Path(root).expanduser()
    table = root / "clips.csv" if root.is_dir() else root
    if not table.is_file():
        raise DatasetError(f"CSV index {table} does not exist (data.root must be a CSV file or a folder with "
                           "clips.csv)")
    return read_clip_table(table, "CSV", classes, label_map)


def read_clip_table(
    table: Path,
    corpus: str,
    classes: Sequence[str],
    label_map: Mapping[str, str | None],
    *,
    extra_columns: Sequence[str] = (),
    clip_id: Callable[[Path], str] = lambda relative: make_clip_id(*relative.with_suffix("").parts),
) -> Discovery:
    """Read a clip table. A bad header or an unknown label is a DatasetError naming the file and row;
    a listed file that does not exist is skipped. ``extra_columns`` are allowed and ignored."""
    mapper = LabelMapper(corpus, {**{name: name for name in classes}, **label_map}, classes, label_map)
    clips: list[Clip] = []
    skipped: list[Skip] = []
    with open(table, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        _check_header(table, reader.fieldnames or [], extra_columns)
        for row in reader:
            where = f"{table} row {reader.line_num}"
            values = {key: (value or "").strip() for key, value in row.items() if key is not None}
            if None in row:
                raise DatasetError(f"{where}: more fields than the header's {len(reader.fieldnames or [])}")
            for key in REQUIRED:
                if not values[key]:
                    raise DatasetError(f"{where}: empty {key!r}")
            label = mapper.resolve(values["label"], where)
            video = table.parent / values["path"]
            audio = table.parent / values["audio_path"] if values.get("audio_path") else None
            missing = next((p for p in (video, audio) if p is not None and not p.is_file()), None)
            if isinstance(label, Skip) or missing is not None:
                skipped.append(label if isinstance(label, Skip) else Skip(str(missing), "file not found"))
                continue
            clips.append(Clip(clip_id=clip_id(Path(values["path"])), video=video, label=label,
                              speaker=values["speaker"], audio=audio, group=values.get("group") or None))
    return finish(corpus, table, clips, skipped, classes)


def _check_header(table: Path, header: Sequence[str], extra_columns: Sequence[str]) -> None:
    expected = f"expected {','.join(REQUIRED)}[,{'][,'.join(OPTIONAL)}]"
    missing = [name for name in REQUIRED if name not in header]
    unknown = [name for name in header if name not in (*REQUIRED, *OPTIONAL, *extra_columns)]
    if missing or unknown:
        problems = [f"missing column(s) {', '.join(missing)}"] * bool(missing)
        problems += [f"unknown column(s) {', '.join(unknown)}"] * bool(unknown)
        raise DatasetError(f"{table} row 1: bad header {','.join(header) or '(empty)'}: {'; '.join(problems)} "
                           f"({expected})")
