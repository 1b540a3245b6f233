"""CREMA-D (Crowd-sourced Emotional Multimodal Actors Dataset): 91 actors, 12 sentences, 6 emotions.

Layout assumed (as distributed): ``VideoFlash/<name>.flv`` videos and ``AudioWAV/<name>.wav``
audio, with names ``ActorID_Sentence_EMO_Level`` (``1001_DFA_ANG_XX``): a four-digit actor id
(the speaker), one of the 12 sentence codes, the emotion ``ANG``, ``DIS``, ``FEA``, ``HAP``,
``NEU``, ``SAD`` (the keys of ``data.label_map``; default mapping anger, disgust, fear, happy,
neutral, sad) and the level ``LO``, ``MD``, ``HI`` or ``XX``. A clip is a video and the WAV of
the same name, found anywhere below the root; a video without its WAV, a WAV without its video
and malformed names are skipped. Empty files (the corpus has a few) are skipped. The clip id is
the name.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path

from ..clips import Clip, Discovery, Skip
from .common import VIDEO_EXTENSIONS, LabelMapper, check_root, finish, walk_files

__all__ = ["LABELS", "SENTENCES", "discover"]

LABELS: dict[str, str | None] = {"ANG": "anger", "DIS": "disgust", "FEA": "fear", "HAP": "happy",
                                 "NEU": "neutral", "SAD": "sad"}
SENTENCES = ("IEO", "TIE", "IOM", "IWW", "TAI", "MTI", "IWL", "ITH", "DFA", "ITS", "TSI", "WSI")
_NAME = re.compile(rf"(\d{{4}})_({'|'.join(SENTENCES)})_({'|'.join(LABELS)})_(LO|MD|HI|XX)")


def discover(root: str | Path, classes: Sequence[str], label_map: Mapping[str, str | None]) -> Discovery:
    """Find the CREMA-D video/WAV pairs under ``root``."""
    root = check_root(root, "CREMA-D")
    mapper = LabelMapper("CREMA-D", LABELS, classes, label_map)
    skipped: list[Skip] = []
    videos: dict[str, Path] = {}
    audios: dict[str, Path] = {}
    for path in walk_files(root, VIDEO_EXTENSIONS | {".wav"}, skipped):
        if not _NAME.fullmatch(path.stem):
            skipped.append(Skip(str(path), "name is not ActorID_Sentence_EMO_Level (e.g. 1001_DFA_ANG_XX)"))
            continue
        found = audios if path.suffix.lower() == ".wav" else videos
        if path.stem in found:
            skipped.append(Skip(str(path), f"duplicate of {found[path.stem]}"))
            continue
        found[path.stem] = path
    for stem in sorted(audios.keys() - videos.keys()):
        skipped.append(Skip(str(audios[stem]), "no video of the same name"))
    clips: list[Clip] = []
    for stem, video in sorted(videos.items()):
        if stem not in audios:
            skipped.append(Skip(str(video), "no WAV of the same name"))
            continue
        name_match = _NAME.fullmatch(stem)
        assert name_match is not None  # only files with matching names were collected
        actor, _, emotion, _ = name_match.groups()
        label = mapper.resolve(emotion, str(video))
        if isinstance(label, Skip):
            skipped.append(label)
            continue
        clips.append(Clip(clip_id=stem, video=video, label=label, speaker=actor, audio=audios[stem]))
    return finish("CREMA-D", root, clips, skipped, classes)
