"""Ingest: turn clips into per-step face crops and log-mel windows, one ``.npz`` file per clip.

Output in ``out_dir``: ``clips/<clip_id>.npz`` (``faces`` uint8 [T, S, S, 3], ``mels`` float16
[T, F, M], ``times`` float32 [T], ``face_found`` bool [T], ``boxes`` float32 [T, 4], and the
``source_hash`` it was made from), ``index.csv`` (one row per ingested clip) and
``ingest_report.csv`` (``path,reason`` of every skipped clip). Every file is written atomically.
A clip whose npz already holds the same source hash (the media files' content, the segment and
the ingest parameters) is reused, so an interrupted ingest resumes where it stopped. Every array of
a reused npz is read and checked first (:func:`read_clip_file`); a damaged one is made again from
the clip's media and named in the summary. One ingest at a time writes a folder: a second waits.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from emo_env.artifacts import ArtifactError, atomic_path, folder_lock

from ..config import ConfigError
from .audio import LogMelExtractor
from .clip_file import read_clip_file
from .clips import Clip, DatasetError, Skip
from .faces import MIN_FACE_PIXELS, FaceTracker
from .media import MediaError, read_media
from .steps import StepSampler, num_steps

__all__ = ["INGEST_VERSION", "INDEX_COLUMNS", "IngestParams", "IngestResult", "sample_clip", "ingest_dataset"]

INGEST_VERSION = 3  # part of every source hash: bump when the samples' computation changes
INDEX_COLUMNS = ["clip_id", "label", "speaker", "group", "steps", "file", "source_hash"]
REPORT_COLUMNS = ["path", "reason"]


@dataclass(frozen=True)
class IngestParams:
    """How clips become steps (the names match the ``data`` section of the config)."""

    step_rate: float = 10.0
    """Decision steps per second."""
    face_size: int = 64
    """Face crop side in pixels."""
    sample_rate: int = 16000
    """Audio sample rate, Hz."""
    mel_window_s: float = 0.96
    """Log-mel window centred on each step, seconds (VGGish: 0.96)."""
    mel_bands: int = 64
    """Mel bands."""
    mel_fmin: float = 125.0
    """Lowest mel frequency, Hz."""
    mel_fmax: float = 7500.0
    """Highest mel frequency, Hz."""
    mel_win_ms: float = 25.0
    """STFT window, ms."""
    mel_hop_ms: float = 10.0
    """STFT hop, ms."""
    mel_log_offset: float = 0.01
    """Log(mel + offset)."""
    face_detect_every: int = 6
    """Run the face detector at every n-th step, follow the face's look in between (1: every step)."""
    face_scale_step: float = 1.2
    """Ratio between the face sizes the detector tries (OpenCV's scaleFactor, > 1): larger is faster, coarser."""
    face_detect_width: int = 160
    """Width a frame is scaled down to when the whole of it is searched for the face (at the first
    frame, and after the face is lost): larger finds smaller faces and costs more. The detector's
    smallest face is 24 pixels at this width."""

    @classmethod
    def from_section(cls, section: Mapping[str, Any], where: str = "data") -> IngestParams:
        """The parameters in ``section``: a config's ``data`` section, or the ``data`` an encoders file records."""
        missing = [f.name for f in fields(cls) if f.name not in section]
        if missing:
            raise ConfigError(f"{where} has no {', '.join(missing)}: it was made by an older emo-env; "
                              f"ingest and pretrain again")
        return cls(**{f.name: section[f.name] for f in fields(cls)})

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            if not value > 0:
                raise ConfigError(f"data.{name} must be positive, got {value!r}")
        if not self.face_scale_step > 1:
            raise ConfigError(f"data.face_scale_step must be > 1, got {self.face_scale_step!r}")
        if self.face_detect_width < MIN_FACE_PIXELS:
            raise ConfigError(f"data.face_detect_width must be at least {MIN_FACE_PIXELS} (the detector's smallest "
                              f"face, in pixels), got {self.face_detect_width!r}")
        if not self.mel_fmin < self.mel_fmax <= self.sample_rate / 2:
            raise ConfigError(f"data.mel_fmin < data.mel_fmax <= data.sample_rate / 2 does not hold: "
                              f"{self.mel_fmin}, {self.mel_fmax}, {self.sample_rate}")

    def log_mel(self) -> LogMelExtractor:
        """A fresh :class:`LogMelExtractor` with these parameters."""
        return LogMelExtractor(
            self.sample_rate,
            window_s=self.mel_window_s,
            bands=self.mel_bands,
            f_min=self.mel_fmin,
            f_max=self.mel_fmax,
            win_ms=self.mel_win_ms,
            hop_ms=self.mel_hop_ms,
            log_offset=self.mel_log_offset,
        )

    def sampler(self) -> StepSampler:
        """A fresh :class:`StepSampler` for one clip or stream."""
        tracker = FaceTracker(self.face_size, detect_every=self.face_detect_every, scale_step=self.face_scale_step,
                              detect_width=self.face_detect_width)
        return StepSampler(tracker, self.log_mel(), self.step_rate)


@dataclass
class IngestResult:
    """What an ingest produced: the index of ingested clips and the skipped ones."""

    ingest_dir: Path
    index: pd.DataFrame
    skipped: list[Skip] = field(default_factory=list)
    reused: int = 0
    computed: int = 0
    rebuilt: list[str] = field(default_factory=list)  # why each damaged or missing clip file was made again

    def rebuilt_lines(self) -> list[str]:
        """One line per clip file made again because it was damaged or lost."""
        return [f"rebuilt from its media: {why}" for why in self.rebuilt]

    def summary(self) -> str:
        """A few lines for the console."""
        lines = [
            f"ingested {len(self.index)} clips, {int(self.index['steps'].sum())} steps "
            f"({self.computed} computed, {self.reused} reused) into {self.ingest_dir}"
        ]
        lines += self.rebuilt_lines()
        if self.skipped:
            lines.append(f"skipped {len(self.skipped)} clips (see {self.ingest_dir / 'ingest_report.csv'}):")
            reasons = Counter(skip.reason.split(" (")[0] for skip in self.skipped)
            lines += [f"  {count:5d}  {reason}" for reason, count in reasons.most_common()]
        return "\n".join(lines)


def sample_clip(clip: Clip, params: IngestParams = IngestParams()) -> dict[str, np.ndarray]:
    """Decode one clip and return its per-step arrays (see the module docstring).

    Raises :class:`MediaError` when the clip is unusable: missing or corrupt media, no audio,
    shorter than one step, or no face detected at any step.
    """
    sampler = params.sampler()
    steps = []
    for item in read_media(clip.video, clip.audio, sample_rate=params.sample_rate, start=clip.start, end=clip.end):
        steps += sampler.push(item)
    steps += sampler.finish()
    steps = steps[: num_steps(sampler.duration, params.step_rate)]
    if not steps:
        raise MediaError(clip.video, f"shorter than one step ({sampler.duration:.3f} s < {1 / params.step_rate:.3f} s)")
    if not any(step.face.found for step in steps):
        raise MediaError(clip.video, f"no face detected (at none of its {len(steps)} steps)")
    return {
        "faces": np.stack([step.face.image for step in steps]),
        "mels": np.stack([step.mel for step in steps]).astype(np.float16),
        "times": np.array([step.time for step in steps], np.float32),
        "face_found": np.array([step.face.found for step in steps], bool),
        "boxes": np.stack([step.face.box for step in steps]).astype(np.float32),
    }


def ingest_dataset(
    clips: Sequence[Clip],
    out_dir: str | Path,
    params: IngestParams = IngestParams(),
    *,
    workers: int = 2,
    skipped: Iterable[Skip] = (),
    progress: bool = True,
) -> IngestResult:
    """Ingest ``clips`` into ``out_dir`` with ``workers`` processes (output independent of it).

    ``skipped`` (files an adapter left out) go into the report with the clips ingest skips.
    Clips already ingested with the same source hash are reused; damaged clip files, and those the
    previous index lists that are gone, are made again (``rebuilt``). A second ingest into the same
    ``out_dir`` waits for the first to finish.
    """
    out_dir = Path(out_dir)
    with folder_lock(out_dir):
        return _ingest_locked(clips, out_dir, params, workers, skipped, progress)


def _ingest_locked(clips: Sequence[Clip], out_dir: Path, params: IngestParams, workers: int,
                   skipped: Iterable[Skip], progress: bool) -> IngestResult:
    (out_dir / "clips").mkdir(parents=True, exist_ok=True)
    for leftover in (out_dir / "clips").glob(".*.tmp"):  # from a run killed while writing
        leftover.unlink()
    _check_unique(clips)
    listed = _listed_clips(out_dir / "index.csv")
    hasher = _SourceHasher(params)
    outcome: dict[str, int | Skip] = {}
    hashes: dict[str, str] = {}
    jobs = []
    rebuilt = []
    for clip in clips:
        try:
            hashes[clip.clip_id] = hasher(clip)
        except OSError as exc:
            reason = "file not found" if isinstance(exc, FileNotFoundError) else f"cannot read ({exc.strerror or exc})"
            outcome[clip.clip_id] = Skip(str(exc.filename or clip.video), reason)
            continue
        target = out_dir / "clips" / f"{clip.clip_id}.npz"
        try:
            stored = _stored_steps(target, hashes[clip.clip_id], clip.clip_id in listed)
        except ArtifactError as exc:
            rebuilt.append(exc.problem)
            stored = None
        if stored is not None:
            outcome[clip.clip_id] = stored
        else:
            jobs.append((clip, params, target, hashes[clip.clip_id]))
    reused = len(outcome) - sum(isinstance(result, Skip) for result in outcome.values())
    bar = tqdm(total=len(clips), initial=len(outcome), desc="ingest", unit="clip", disable=not progress)
    with bar:
        for (clip, *_), result in zip(jobs, _run(jobs, workers), strict=True):
            outcome[clip.clip_id] = result
            bar.update()
    rows = [
        [clip.clip_id, clip.label, clip.speaker, clip.group or "", outcome[clip.clip_id],
         f"clips/{clip.clip_id}.npz", hashes[clip.clip_id]]
        for clip in clips if not isinstance(outcome[clip.clip_id], Skip)
    ]
    index = pd.DataFrame(rows, columns=INDEX_COLUMNS)
    skips = [*skipped, *(result for result in (outcome[clip.clip_id] for clip in clips) if isinstance(result, Skip))]
    _write_csv(out_dir / "index.csv", index)
    _write_csv(out_dir / "ingest_report.csv", pd.DataFrame([[s.path, s.reason] for s in skips], columns=REPORT_COLUMNS))
    return IngestResult(out_dir, index, skips, reused=reused, computed=len(index) - reused, rebuilt=rebuilt)


def _check_unique(clips: Sequence[Clip]) -> None:
    seen: dict[str, Clip] = {}
    for clip in clips:
        if clip.clip_id in seen:
            raise DatasetError(f"clip id {clip.clip_id!r} is used by {seen[clip.clip_id].video} and {clip.video}")
        seen[clip.clip_id] = clip


class _SourceHasher:
    """SHA-256 of a clip's media files, its segment, and the ingest parameters (file digests cached)."""

    def __init__(self, params: IngestParams) -> None:
        self._params = json.dumps({"version": INGEST_VERSION, **asdict(params)}, sort_keys=True)
        self._files: dict[Path, str] = {}

    def __call__(self, clip: Clip) -> str:
        digest = hashlib.sha256(self._params.encode())
        digest.update(json.dumps([clip.start, clip.end]).encode())
        for path in (clip.video, clip.audio):
            if path is not None:
                digest.update(self._file(Path(path)).encode())
        return digest.hexdigest()

    def _file(self, path: Path) -> str:
        if path not in self._files:
            with open(path, "rb") as f:
                self._files[path] = hashlib.file_digest(f, "sha256").hexdigest()
        return self._files[path]


def _listed_clips(index: Path) -> set[str]:
    """The clip ids the previous ingest's index lists (none when it is missing or unreadable: it is rewritten)."""
    try:
        return set(pd.read_csv(index, usecols=["clip_id"], dtype=str, keep_default_na=False)["clip_id"])
    except (OSError, ValueError):
        return set()


def _stored_steps(target: Path, source_hash: str, listed: bool) -> int | None:
    """Steps of the clip file ``target`` when it was made from ``source_hash``; None when it is missing
    (and not ``listed`` in the previous index) or made from another source. A damaged or lost file
    raises :class:`ArtifactError`."""
    if not target.is_file():
        if listed:
            raise ArtifactError(f"clip file {target} does not exist (the previous index lists it)")
        return None
    arrays = read_clip_file(target)
    return len(arrays["times"]) if str(arrays["source_hash"]) == source_hash else None


def _run(jobs: list, workers: int) -> Iterator[int | Skip]:
    """Each clip runs single-threaded (small operations; same numbers in every process)."""
    if workers <= 1 or len(jobs) <= 1:
        with _single_threaded():
            yield from map(_ingest_one, jobs)
        return
    context = _process_context()
    with context.Pool(min(workers, len(jobs)), initializer=_set_threads, initargs=(1, 1)) as pool:
        yield from pool.imap(_ingest_one, jobs)


def _process_context() -> multiprocessing.context.BaseContext:
    """Fresh worker processes (never forks of a caller that may run threads): from a fork server that
    imports this module once, where there is one, else spawned."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([__name__])
    return context


@contextmanager
def _single_threaded() -> Iterator[None]:
    previous = torch.get_num_threads(), cv2.getNumThreads()
    _set_threads(1, 1)
    try:
        yield
    finally:
        _set_threads(*previous)


def _set_threads(torch_threads: int, cv2_threads: int) -> None:
    torch.set_num_threads(torch_threads)
    cv2.setNumThreads(cv2_threads)


def _ingest_one(job: tuple[Clip, IngestParams, Path, str]) -> int | Skip:
    clip, params, target, source_hash = job
    try:
        arrays = sample_clip(clip, params)
    except MediaError as exc:
        return Skip(exc.path, exc.reason)
    except Exception as exc:  # one broken clip must never stop the corpus
        return Skip(str(clip.video), f"failed: {type(exc).__name__}: {exc}".replace("\n", " "))
    with atomic_path(target) as tmp, open(tmp, "wb") as f:
        # numpy's stub types **kwds so that they could fill allow_pickle: bool, which a dict of arrays cannot
        np.savez_compressed(f, source_hash=np.array(source_hash), **arrays)  # type: ignore[arg-type]
    return len(arrays["times"])


def _write_csv(path: Path, table: pd.DataFrame) -> None:
    with atomic_path(path) as tmp:
        table.to_csv(tmp, index=False)
