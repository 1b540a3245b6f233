"""Pieces every corpus adapter shares: root checks, media walking, label mapping, final checks."""

from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Collection, Iterator, Mapping, Sequence
from pathlib import Path

from ..clips import Clip, DatasetError, Discovery, Skip

__all__ = ["VIDEO_EXTENSIONS", "LabelMapper", "check_root", "walk_files", "make_clip_id", "finish"]

VIDEO_EXTENSIONS = frozenset({".avi", ".mp4", ".flv", ".mov", ".mkv", ".mpg", ".mpeg", ".webm", ".m4v"})


def check_root(root: str | Path, corpus: str) -> Path:
    """Return ``root`` as a Path, or raise DatasetError when it is not an existing folder."""
    root = Path(root).expanduser()
    if not root.exists():
        raise DatasetError(f"{corpus} root {root} does not exist (set data.root to the corpus folder)")
    if not root.is_dir():
        raise DatasetError(f"{corpus} root {root} is not a folder")
    return root


def walk_files(root: Path, extensions: Collection[str], skipped: list[Skip]) -> Iterator[Path]:
    """Yield files under ``root`` whose suffix (any case) is in ``extensions``, in sorted order.

    Empty files are appended to ``skipped`` instead. Hidden files (names starting with ``.``,
    such as macOS ``._`` resource forks) are ignored; folder links are followed.
    """
    for folder, dirs, files in os.walk(root, followlinks=True):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if name.startswith(".") or os.path.splitext(name)[1].lower() not in extensions:
                continue
            path = Path(folder) / name
            if path.stat().st_size == 0:
                skipped.append(Skip(str(path), "empty file"))
            else:
                yield path


def make_clip_id(*parts: str) -> str:
    """Join name parts into a file-name-safe clip id (runs of other characters become ``_``)."""
    return re.sub(r"[^A-Za-z0-9.-]+", "_", "_".join(parts)).strip("_.")


class LabelMapper:
    """Map a corpus's own labels to the project's class names.

    ``defaults`` is the corpus's documented mapping (``None`` drops a label); ``label_map``
    overrides it. Keys compare case-insensitively. A label_map key the corpus does not define,
    or a target outside ``classes``, is a DatasetError (most likely a typo in the config).
    """

    def __init__(self, corpus: str, defaults: Mapping[str, str | None], classes: Sequence[str],
                 label_map: Mapping[str, str | None]) -> None:
        self.corpus = corpus
        self.classes = list(classes)
        if not self.classes:
            raise DatasetError(f"{corpus}: data.classes is empty")
        self.mapping = {key.casefold(): value for key, value in defaults.items()}
        self.overridden = {str(key).casefold() for key in label_map}
        for key, value in label_map.items():
            if str(key).casefold() not in self.mapping:
                raise DatasetError(f"{corpus}: data.label_map key {key!r} is not a {corpus} label "
                                   f"(known: {', '.join(defaults)})")
            if value is not None and value not in self.classes:
                raise DatasetError(f"{corpus}: data.label_map maps {key!r} to {value!r}, "
                                   f"which is not one of data.classes {self.classes}")
            self.mapping[str(key).casefold()] = value

    def knows(self, label: str) -> bool:
        """Whether ``label`` is one of the corpus's labels."""
        return label.casefold() in self.mapping

    def resolve(self, label: str, where: str) -> str | Skip:
        """Return the class name for ``label``, or a Skip for ``where`` when the label is dropped.

        An unknown label raises DatasetError naming ``where``.
        """
        key = label.casefold()
        if key not in self.mapping:
            raise DatasetError(f"{where}: unknown {self.corpus} label {label!r} (known: {', '.join(self.mapping)})")
        target = self.mapping[key]
        if target is None:
            by = ("data.label_map" if key in self.overridden
                  else "default (map it to a class with data.label_map to use it)")
            return Skip(where, f"label {label!r} is dropped by {by}")
        if target not in self.classes:
            return Skip(where, f"label {label!r} ({target}) is not one of data.classes; "
                               f"map it to a class or drop it with data.label_map")
        return target


def finish(corpus: str, root: Path, clips: list[Clip], skipped: list[Skip], classes: Sequence[str]) -> Discovery:
    """Check what an adapter found and return it as a Discovery.

    Raises DatasetError when no clip was found (listing the first skipped files and why), when
    two files give the same clip id, or when a class in ``classes`` got no clip.
    """
    if not clips:
        detail = "; ".join(f"{skip.path}: {skip.reason}" for skip in skipped[:5])
        more = f" (and {len(skipped) - 5} more)" if len(skipped) > 5 else ""
        found = f"{len(skipped)} files skipped: {detail}{more}" if skipped else "no matching file found"
        raise DatasetError(f"{corpus}: no usable clip under {root}; is data.root the {corpus} folder? {found}")
    seen: dict[str, Clip] = {}
    for clip in clips:
        if clip.clip_id in seen:
            raise DatasetError(f"{corpus}: {seen[clip.clip_id].video} and {clip.video} "
                               f"both give clip id {clip.clip_id!r}; keep one of them")
        seen[clip.clip_id] = clip
    counts = Counter(clip.label for clip in clips)
    missing = [name for name in classes if counts[name] == 0]
    if missing:
        raise DatasetError(f"{corpus}: no clip under {root} has class {', '.join(map(repr, missing))}; "
                           f"remove it from data.classes or map a {corpus} label to it with data.label_map")
    return Discovery(clips=clips, skipped=skipped)
