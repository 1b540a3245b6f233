"""The clip model shared by every dataset adapter and by ingest."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["Clip", "Skip", "Discovery", "DatasetError"]


class DatasetError(ValueError):
    """A dataset root, index or label is unusable; the message names the file and what is wrong."""


@dataclass(frozen=True)
class Clip:
    """One utterance: a video (with its audio track, or a separate audio file), a label, a speaker.

    ``start``/``end`` (seconds) select a segment of a longer recording (IEMOCAP dialogs);
    ``group`` is the speakers group used by leave-one-speakers-group-out folds.
    """

    clip_id: str
    video: Path
    label: str
    speaker: str
    audio: Path | None = None
    group: str | None = None
    start: float | None = None
    end: float | None = None


@dataclass(frozen=True)
class Skip:
    """A file an adapter or ingest left out, and why (one line)."""

    path: str
    reason: str


@dataclass
class Discovery:
    """What an adapter found under a root: usable clips and skipped files."""

    clips: list[Clip] = field(default_factory=list)
    skipped: list[Skip] = field(default_factory=list)
