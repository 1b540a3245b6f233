"""eNTERFACE'05 audio-visual emotion database: 42 subjects, 6 emotions, 5 sentences each.

Layout assumed (as distributed): ``subject 1/anger/sentence 1/s1_an_1.avi``: subject folders
``subject <N>``, emotion folders ``anger``, ``disgust``, ``fear``, ``happiness``, ``sadness``,
``surprise`` (the keys of ``data.label_map``), sentence folders ``sentence <K>``, ``.avi`` files.
The published corpus is irregular (a subject number is absent, some subjects lack an emotion or a
sentence, some emotion folders hold the files without a sentence level, file names vary), so
discovery goes by folder names, in any order and any case, at any depth: the emotion comes
from the emotion folder, the speaker (``s<N>``) from the subject folder, and the sentence level
is optional. A file name of the form ``s<N>_<code>_<K>`` whose emotion code (``an``, ``di``,
``fe``, ``ha``, ``sa``, ``su``) contradicts its emotion folder is skipped as misplaced, as are
files outside a subject or an emotion folder. The clip id joins the folder and file names.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path

from ..clips import Clip, Discovery, Skip
from .common import VIDEO_EXTENSIONS, LabelMapper, check_root, finish, make_clip_id, walk_files

__all__ = ["LABELS", "discover"]

LABELS: dict[str, str | None] = {"anger": "anger", "disgust": "disgust", "fear": "fear",
                                 "happiness": "happy", "sadness": "sad", "surprise": "surprise"}
_SUBJECT = re.compile(r"subject[ _-]*(\d+)", re.IGNORECASE)
_NAME = re.compile(r"s[ _-]*\d+[ _-]*(an|di|fe|ha|sa|su)[ _-]*\d+", re.IGNORECASE)


def discover(root: str | Path, classes: Sequence[str], label_map: Mapping[str, str | None]) -> Discovery:
    """Find the eNTERFACE'05 clips under ``root``."""
    root = check_root(root, "eNTERFACE'05")
    mapper = LabelMapper("eNTERFACE'05", LABELS, classes, label_map)
    clips: list[Clip] = []
    skipped: list[Skip] = []
    for path in walk_files(root, VIDEO_EXTENSIONS, skipped):
        folders = path.relative_to(root).parts[:-1]
        subjects = [match for name in folders if (match := _SUBJECT.fullmatch(name))]
        emotions = [name for name in folders if name.casefold() in LABELS]
        if len(subjects) != 1 or len(emotions) != 1:
            what = "subject folder" if len(subjects) != 1 else "emotion folder (" + ", ".join(LABELS) + ")"
            skipped.append(Skip(str(path), f"not inside exactly one {what}"))
            continue
        emotion = emotions[0]
        name = _NAME.fullmatch(path.stem)
        if name and name.group(1).casefold() != emotion.casefold()[:2]:
            skipped.append(Skip(str(path), f"file name codes {name.group(1)!r} but the file is in folder {emotion!r}"))
            continue
        label = mapper.resolve(emotion, str(path))
        if isinstance(label, Skip):
            skipped.append(label)
            continue
        speaker = f"s{int(subjects[0].group(1))}"
        start = min(folders.index(subjects[0].group(0)), folders.index(emotion))
        inner = [name for name in folders[start:] if name != subjects[0].group(0)]
        clip_id = make_clip_id(speaker, *inner, path.stem)
        clips.append(Clip(clip_id=clip_id, video=path, label=label, speaker=speaker))
    return finish("eNTERFACE'05", root, clips, skipped, classes)
