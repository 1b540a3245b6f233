"""RML emotion database (Ryerson Multimedia Research Lab): 8 speakers, 6 emotions, several languages.

Layout assumed (as distributed): speaker folders ``s1`` .. ``s8``, each holding ``.avi`` clips
directly or in language subfolders (``s1/english/an1.avi``). The first two letters of a file
name code the emotion: ``an`` anger, ``di`` disgust, ``fe`` fear, ``ha`` happy, ``sa`` sad,
``su`` surprise (these codes are the keys of ``data.label_map``). The speaker folder may sit at
any depth below the root and names compare case-insensitively; the speaker id is ``s<N>``.
The clip id joins the speaker, the subfolders and the file name (``s1_english_an1``).
Skipped: files outside a speaker folder and names whose first two letters are not a code.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path

from ..clips import Clip, Discovery, Skip
from .common import VIDEO_EXTENSIONS, LabelMapper, check_root, finish, make_clip_id, walk_files

__all__ = ["LABELS", "discover"]

LABELS: dict[str, str | None] = {"an": "anger", "di": "disgust", "fe": "fear", "ha": "happy", "sa": "sad",
                                 "su": "surprise"}
_SPEAKER = re.compile(r"s(\d+)", re.IGNORECASE)


def discover(root: str | Path, classes: Sequence[str], label_map: Mapping[str, str | None]) -> Discovery:
    """Find the RML clips under ``root``."""
    root = check_root(root, "RML")
    mapper = LabelMapper("RML", LABELS, classes, label_map)
    clips: list[Clip] = []
    skipped: list[Skip] = []
    for path in walk_files(root, VIDEO_EXTENSIONS, skipped):
        folders = path.relative_to(root).parts[:-1]
        depth = next((i for i, name in enumerate(folders) if _SPEAKER.fullmatch(name)), None)
        if depth is None:
            skipped.append(Skip(str(path), "not inside a speaker folder s1..s8"))
            continue
        code = path.name[:2]
        if not mapper.knows(code):
            skipped.append(Skip(str(path), f"file name does not start with an emotion code ({', '.join(LABELS)})"))
            continue
        label = mapper.resolve(code, str(path))
        if isinstance(label, Skip):
            skipped.append(label)
            continue
        speaker_match = _SPEAKER.fullmatch(folders[depth])
        assert speaker_match is not None  # folders[depth] is the first folder that matches
        speaker = f"s{int(speaker_match.group(1))}"
        clip_id = make_clip_id(speaker, *folders[depth + 1:], path.stem)
        clips.append(Clip(clip_id=clip_id, video=path, label=label, speaker=speaker))
    return finish("RML", root, clips, skipped, classes)
