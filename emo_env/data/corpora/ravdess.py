"""RAVDESS (Ryerson Audio-Visual Database of Emotional Speech and Song): 24 actors, 8 emotions.

Layout assumed (as distributed): folders ``Actor_01`` .. ``Actor_24`` of files named with seven
two-digit codes, ``modality-channel-emotion-intensity-statement-repetition-actor``
(``01-01-05-02-01-01-12.mp4``). Modality: 01 audio-video, 02 video-only, 03 audio-only.
Channel: 01 speech, 02 song. Emotion (the keys of ``data.label_map``, default mapping):
01 neutral -> neutral, 02 calm -> neutral (map ``calm: null`` to drop it instead),
03 happy -> happy, 04 sad -> sad, 05 angry -> anger, 06 fearful -> fear, 07 disgust -> disgust,
08 surprised -> surprise. Actor = speaker (``Actor_12``); the actor folder, when present, must
agree with the name. By default only audio-video speech files are clips; other modalities and
channels are skipped with the reason (options ``modalities`` and ``channels``). The clip id is
the file name without extension.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path

from ..clips import Clip, DatasetError, Discovery, Skip
from .common import VIDEO_EXTENSIONS, LabelMapper, check_root, finish, walk_files

__all__ = ["LABELS", "MODALITIES", "CHANNELS", "discover"]

EMOTIONS = {"01": "neutral", "02": "calm", "03": "happy", "04": "sad", "05": "angry", "06": "fearful",
            "07": "disgust", "08": "surprised"}
LABELS: dict[str, str | None] = {"neutral": "neutral", "calm": "neutral", "happy": "happy", "sad": "sad",
                                 "angry": "anger", "fearful": "fear", "disgust": "disgust", "surprised": "surprise"}
MODALITIES = {"01": "audio-video", "02": "video-only", "03": "audio-only"}
CHANNELS = {"01": "speech", "02": "song"}
_NAME = re.compile(r"(\d\d)-(\d\d)-(\d\d)-(0[12])-(0[12])-(0[12])-(\d\d)")
_ACTOR = re.compile(r"actor[ _-]*(\d+)", re.IGNORECASE)


def discover(root: str | Path, classes: Sequence[str], label_map: Mapping[str, str | None], *,
             modalities: Collection[str] = ("audio-video",), channels: Collection[str] = ("speech",)) -> Discovery:
    """Find the RAVDESS clips under ``root``.

    ``modalities`` may hold ``audio-video`` and ``video-only`` (a clip needs a video; video-only
    clips have no sound); ``channels`` may hold ``speech`` and ``song``.
    """
    root = check_root(root, "RAVDESS")
    _check_option("modalities", modalities, ("audio-video", "video-only"))
    _check_option("channels", channels, tuple(CHANNELS.values()))
    mapper = LabelMapper("RAVDESS", LABELS, classes, label_map)
    clips: list[Clip] = []
    skipped: list[Skip] = []
    for path in walk_files(root, VIDEO_EXTENSIONS, skipped):
        name = _NAME.fullmatch(path.stem)
        codes = name.groups() if name else ()
        if not codes or codes[0] not in MODALITIES or codes[1] not in CHANNELS or codes[2] not in EMOTIONS:
            skipped.append(Skip(str(path), "name is not modality-channel-emotion-intensity-statement-repetition-actor "
                                           "(seven two-digit codes, e.g. 01-01-05-02-01-01-12)"))
            continue
        modality, channel, emotion = MODALITIES[codes[0]], CHANNELS[codes[1]], EMOTIONS[codes[2]]
        if modality not in modalities or channel not in channels:
            skipped.append(Skip(str(path), f"{modality} {channel} file (using {', '.join(modalities)} "
                                           f"{', '.join(channels)} only)"))
            continue
        speaker = f"Actor_{int(codes[6]):02d}"
        folder = next((m for part in path.relative_to(root).parts[:-1] if (m := _ACTOR.fullmatch(part))), None)
        if folder and int(folder.group(1)) != int(codes[6]):
            skipped.append(Skip(str(path), f"name says actor {codes[6]} but the file is in folder {folder.group(0)!r}"))
            continue
        label = mapper.resolve(emotion, str(path))
        if isinstance(label, Skip):
            skipped.append(label)
            continue
        clips.append(Clip(clip_id=path.stem, video=path, label=label, speaker=speaker))
    return finish("RAVDESS", root, clips, skipped, classes)


def _check_option(name: str, values: Collection[str], allowed: Sequence[str]) -> None:
    unknown = [value for value in values if value not in allowed]
    if unknown or not values:
        raise DatasetError(f"RAVDESS option {name}={list(values)!r}: expected one or more of {', '.join(allowed)}")
