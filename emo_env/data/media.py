"""Decoding a clip: its video frames and audio (the container's track, or a separate file) in one pass.

Times are seconds from the clip start: the first video frame of the file (or ``start`` for a
segment) is time 0. Audio is resampled to mono at ``sample_rate`` with FFmpeg's resampler and
placed on the same clock: the chunks are contiguous and the first one starts at time 0.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from functools import cached_property, partial
from pathlib import Path
from typing import cast

import av
import numpy as np
import soundfile as sf
from av.video.reformatter import VideoReformatter

__all__ = ["MediaError", "VideoFrame", "AudioChunk", "read_media", "has_audio_track"]


class MediaError(ValueError):
    """A media file is missing, cannot be decoded, or lacks what a clip needs; names the file."""

    def __init__(self, path: str | Path, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = str(path)
        self.reason = reason


@dataclass(frozen=True)
class VideoFrame:
    """One video frame, shown from ``time`` for ``duration`` seconds.

    ``source`` is the RGB array or a function returning it; :attr:`image` calls the function on
    first use, so decoded frames that no step needs are never converted.
    """

    time: float
    duration: float
    source: np.ndarray | Callable[[], np.ndarray] = field(repr=False)

    @cached_property
    def image(self) -> np.ndarray:
        """The frame as uint8 ``[H, W, 3]`` RGB."""
        return self.source if isinstance(self.source, np.ndarray) else self.source()


@dataclass(frozen=True)
class AudioChunk:
    """Mono samples that continue the clip's audio where the previous chunk ended."""

    samples: np.ndarray  # float32 [n]


def read_media(
    video: str | Path,
    audio: str | Path | None = None,
    *,
    sample_rate: int = 16000,
    start: float | None = None,
    end: float | None = None,
    require_audio: bool = True,
) -> Iterator[VideoFrame | AudioChunk]:
    """Yield a clip's video frames and audio chunks in decoding order.

    ``audio`` names a separate WAV/FLAC file; without it the container's first audio track is
    used (whatever streams come before it), and a container without one is an error unless
    ``require_audio`` is false (then only frames come). ``start``/``end`` (seconds in the file)
    select a segment. Raises :class:`MediaError`.
    """
    video = Path(video)
    offset = start or 0.0
    limit = None if end is None else end - offset
    if not video.is_file():
        raise MediaError(video, "file not found")
    separate = _read_audio_file(Path(audio), sample_rate, offset, limit) if audio is not None else None
    try:
        with av.open(str(video)) as container:
            if not container.streams.video:
                raise MediaError(video, "no video stream")
            vstream = container.streams.video[0]
            astream = container.streams.audio[0] if container.streams.audio and separate is None else None
            if astream is None and separate is None and require_audio:
                raise MediaError(video, "no audio track (and no separate audio file)")
            origin = offset + (float(vstream.start_time * cast(Fraction, vstream.time_base)) if vstream.start_time
                               else 0.0)
            if offset > 0:
                container.seek(int(origin / av.time_base))
            if separate is not None:
                yield AudioChunk(separate)
            placer = _AudioPlacer(sample_rate, limit)
            to_rgb = VideoReformatter()  # one converter for every frame: much faster than one each
            streams = [vstream] if astream is None else [vstream, astream]
            time = 0.0  # of the latest video frame, for frames without a timestamp
            for frame in container.decode(*streams):
                if isinstance(frame, av.AudioFrame):
                    samples = placer.place(frame, frame.time - origin if frame.time is not None else 0.0)
                    if samples.size:
                        yield AudioChunk(samples)
                    continue
                time = frame.time - origin if frame.time is not None else time + _frame_duration(frame, vstream)
                if time < -1e-6:
                    continue
                if limit is not None and time >= limit:
                    if astream is None or placer.done:
                        break
                    continue
                yield VideoFrame(time, _frame_duration(frame, vstream), partial(_rgb, to_rgb, frame))
            tail = placer.flush()
            if tail.size:
                yield AudioChunk(tail)
    except (av.error.FFmpegError, OSError) as exc:
        raise MediaError(video, f"cannot decode ({_describe(exc)})") from None


def has_audio_track(path: str | Path) -> bool:
    """Whether the media file ``path`` holds an audio stream (from its header, nothing decoded)."""
    if not Path(path).is_file():
        raise MediaError(path, "file not found")
    try:
        with av.open(str(path)) as container:
            return bool(container.streams.audio)
    except (av.error.FFmpegError, OSError) as exc:
        raise MediaError(path, f"cannot read ({_describe(exc)})") from None


class _AudioPlacer:
    """Resamples decoded audio frames to mono and aligns them with the clip clock."""

    def __init__(self, sample_rate: int, limit: float | None) -> None:
        self._resampler = av.AudioResampler(format="flt", layout="mono", rate=sample_rate)
        self._rate = sample_rate
        self._drop: int | None = None  # samples before time 0 still to drop (< 0: zeros to insert)
        self._left = None if limit is None else round(limit * sample_rate)

    @property
    def done(self) -> bool:
        return self._left == 0

    def place(self, frame: av.AudioFrame, time: float) -> np.ndarray:
        if self._drop is None:
            self._drop = -round(time * self._rate)
        return self._take(frame)

    def flush(self) -> np.ndarray:
        return self._take(None)

    def _take(self, frame: av.AudioFrame | None) -> np.ndarray:
        out = [f.to_ndarray().reshape(-1) for f in self._resampler.resample(frame)]
        samples = np.concatenate(out) if out else np.zeros(0, np.float32)
        if self._drop and self._drop < 0:
            samples = np.concatenate([np.zeros(-self._drop, np.float32), samples])
            self._drop = 0
        elif self._drop:
            cut = min(self._drop, samples.size)
            samples, self._drop = samples[cut:], self._drop - cut
        if self._left is not None:
            samples = samples[: self._left]
            self._left -= samples.size
        return samples


def _read_audio_file(path: Path, sample_rate: int, offset: float, limit: float | None) -> np.ndarray:
    if not path.is_file():
        raise MediaError(path, "file not found")
    try:
        data, rate = sf.read(str(path), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, TypeError) as exc:
        raise MediaError(path, f"cannot decode audio ({exc})") from None
    first = round(offset * rate)
    last = None if limit is None else first + round(limit * rate)
    mono = np.ascontiguousarray(data[first:last].mean(axis=1)[None, :])
    if not mono.size:
        return np.zeros(0, np.float32)
    frame = av.AudioFrame.from_ndarray(mono, format="flt", layout="mono")
    frame.sample_rate = rate
    placer = _AudioPlacer(sample_rate, None)
    return np.concatenate([placer.place(frame, 0.0), placer.flush()])


def _rgb(reformatter: VideoReformatter, frame: av.VideoFrame) -> np.ndarray:
    return reformatter.reformat(frame, format="rgb24").to_ndarray()


def _frame_duration(frame: av.VideoFrame, stream: av.video.stream.VideoStream) -> float:
    if frame.duration:
        return float(frame.duration * cast(Fraction, frame.time_base))
    rate = stream.average_rate or stream.guessed_rate
    return float(1 / rate) if rate else 0.0


def _describe(exc: Exception) -> str:
    return getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
