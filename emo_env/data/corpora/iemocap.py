"""IEMOCAP (Interactive Emotional Dyadic Motion Capture): 5 sessions of dyadic dialogs, 10 actors.

Layout assumed (as distributed): ``Session<N>/dialog/avi/DivX/<dialog>.avi`` dialog videos,
``Session<N>/dialog/wav/<dialog>.wav`` dialog audio (used when present, else the video's own
track) and ``Session<N>/dialog/EmoEvaluation/<dialog>.txt`` files whose utterance lines read
``[6.2901 - 8.2357]<TAB>Ses01F_impro01_F000<TAB>neu<TAB>[2.5000, 2.5000, 2.5000]``: the segment
in seconds, the utterance name, its categorical label and its dimensional ratings. Each utterance
is one clip: the dialog video with ``start``/``end`` set to its segment, clip id = utterance
name. The speaker is the session plus the gender of the utterance's speaker (the letter after
the last underscore: ``Ses01F_impro01_M003`` -> ``Ses01M``); the group (for
leave-one-session-out folds) is the session (``Ses01``). Labels (the keys of ``data.label_map``):
``neu``, ``hap``, ``exc``, ``sad``, ``ang``, ``fru``, ``sur``, ``fea``, ``dis``, ``oth``,
``xxx``; the default is the common 4-class setting: ang -> anger, hap and exc -> happy,
sad -> sad, neu -> neutral, every other label dropped. A dialog video frames both actors; the
face tracker follows the most prominent face. Skipped: utterances whose dialog video is missing,
malformed lines, empty segments, and dialog videos without an evaluation file.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path

from ..clips import Clip, Discovery, Skip
from .common import VIDEO_EXTENSIONS, LabelMapper, check_root, finish, walk_files

__all__ = ["LABELS", "discover"]

LABELS: dict[str, str | None] = {"ang": "anger", "hap": "happy", "exc": "happy", "sad": "sad", "neu": "neutral",
                                 "fru": None, "sur": None, "fea": None, "dis": None, "oth": None, "xxx": None}
_LINE = re.compile(r"\[\s*(\S+)\s*-\s*(\S+)\s*\]\t(\S+)\t(\S+)\t\[.*\]\s*")
_UTTERANCE = re.compile(r"(Ses\d\d)[FM]_\S+_([FM])\d+")


def discover(root: str | Path, classes: Sequence[str], label_map: Mapping[str, str | None]) -> Discovery:
    """Find the IEMOCAP utterances under ``root``."""
    root = check_root(root, "IEMOCAP")
    mapper = LabelMapper("IEMOCAP", LABELS, classes, label_map)
    skipped: list[Skip] = []
    videos: dict[str, Path] = {}
    audios: dict[str, Path] = {}
    evaluations: list[Path] = []
    for path in walk_files(root, VIDEO_EXTENSIONS | {".wav", ".txt"}, skipped):
        suffix = path.suffix.lower()
        if suffix == ".txt":
            if path.parent.name == "EmoEvaluation":
                evaluations.append(path)
        elif suffix == ".wav":
            if path.parent.name == "wav" and path.parent.parent.name == "dialog":
                audios[path.stem] = path
        elif path.stem in videos:
            skipped.append(Skip(str(path), f"duplicate of dialog video {videos[path.stem]}"))
        else:
            videos[path.stem] = path
    clips: list[Clip] = []
    for evaluation in evaluations:
        video = videos.get(evaluation.stem)
        for number, line in enumerate(evaluation.read_text(errors="replace").splitlines(), start=1):
            if not line.startswith("["):
                continue
            where = f"{evaluation}:{number}"
            parsed = _parse(line)
            if isinstance(parsed, str):
                skipped.append(Skip(where, parsed))
                continue
            start, end, utterance, code = parsed
            label = mapper.resolve(code, where)
            if isinstance(label, Skip):
                skipped.append(label)
            elif video is None:
                skipped.append(Skip(where, f"dialog video {evaluation.stem}.avi not found"))
            else:
                utterance_match = _UTTERANCE.fullmatch(utterance)
                assert utterance_match is not None  # _parse checked the utterance name
                session, gender = utterance_match.groups()
                clips.append(Clip(clip_id=utterance, video=video, label=label, speaker=session + gender,
                                  audio=audios.get(evaluation.stem), group=session, start=start, end=end))
    for stem in sorted(videos.keys() - {path.stem for path in evaluations}):
        skipped.append(Skip(str(videos[stem]), f"no EmoEvaluation/{stem}.txt for this dialog video"))
    return finish("IEMOCAP", root, clips, skipped, classes)


def _parse(line: str) -> tuple[float, float, str, str] | str:
    """An utterance line as (start, end, utterance, label), or the reason it is malformed."""
    match = _LINE.fullmatch(line)
    if not match:
        return "malformed utterance line (expected '[start - end]<TAB>utterance<TAB>label<TAB>[v, a, d]')"
    try:
        start, end = float(match.group(1)), float(match.group(2))
    except ValueError:
        return f"malformed time range [{match.group(1)} - {match.group(2)}]"
    if not _UTTERANCE.fullmatch(match.group(3)):
        return f"malformed utterance name {match.group(3)!r} (expected e.g. Ses01F_impro01_F000)"
    if not 0 <= start < end:
        return f"empty or negative segment [{start} - {end}]"
    return start, end, match.group(3), match.group(4)
