"""Small media files written with PyAV for the ingest tests (no face in them: plain frames)."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np


def write_video(path: Path, *, seconds: float = 1.0, fps: int = 30, size: tuple[int, int] = (64, 48),
                audio: np.ndarray | None = None, sample_rate: int = 16000, frames: np.ndarray | None = None,
                codec: str = "mpeg4") -> Path:
    """Write a video (grey ramp frames unless ``frames`` [T, H, W, 3] is given; ``codec`` "png" is
    lossless) with ``audio`` (float32 ``[channels, n]`` or ``[n]``) as an AAC track, or no audio
    track when ``audio`` is None."""
    if frames is None:
        count = round(seconds * fps)
        frames = np.broadcast_to((np.arange(count) * 7 % 256).astype(np.uint8)[:, None, None, None],
                                 (count, size[1], size[0], 3))
    with av.open(str(path), "w") as container:
        video = container.add_stream(codec, rate=fps)
        video.height, video.width = frames.shape[1:3]
        video.pix_fmt = "rgb24" if codec == "png" else "yuv420p"
        sound = None
        if audio is not None:
            planes = np.atleast_2d(np.asarray(audio, np.float32))
            sound = container.add_stream("aac", rate=sample_rate)
            sound.layout = "mono" if len(planes) == 1 else "stereo"
        for i, image in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")
            frame.pts = i
            container.mux(video.encode(frame))
        container.mux(video.encode())
        if sound is not None:
            for start in range(0, planes.shape[1], 1024):
                frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(planes[:, start:start + 1024]),
                                                   format="fltp", layout=sound.layout.name)
                frame.sample_rate, frame.pts = sample_rate, start
                container.mux(sound.encode(frame))
            container.mux(sound.encode())
    return path


def burst(seconds: float, at: float, sample_rate: int = 16000, width: float = 0.004,
          freq: float = 1000.0) -> np.ndarray:
    """Silence with a short tone burst centred at ``at`` seconds."""
    t = np.arange(round(seconds * sample_rate)) / sample_rate
    return (0.8 * np.sin(2 * np.pi * freq * t) * (np.abs(t - at) <= width / 2)).astype(np.float32)


def write_with_data_stream(path: Path, container_format: str, video_codec: str, audio: np.ndarray,
                           sample_rate: int = 22050, fps: int = 25) -> Path:
    """One second of grey ramp frames and ``audio`` (float32 ``[n]``) as MP3 in ``container_format``, with a
    data stream added first and one packet on it, as in files that carry cue points or metadata (the
    MPEG-TS demuxer lists the streams data, video, audio; the FLV one audio, data as text, video)."""
    options = {"flvflags": "no_metadata"} if container_format == "flv" else {}
    with av.open(str(path), "w", format=container_format, options=options) as container:
        data = container.add_data_stream()
        video = container.add_stream(video_codec, rate=fps)
        video.width, video.height, video.pix_fmt = 64, 48, "yuv420p"
        sound = container.add_stream("libmp3lame", rate=sample_rate)
        sound.layout = "mono"
        container.start_encoding()
        cue = av.Packet(b"\x02\x00\x0aonCuePoint\x08\x00\x00\x00\x00\x00\x00\x09")
        cue.stream, cue.pts, cue.dts, cue.time_base = data, 0, 0, Fraction(1, 1000)
        container.mux(cue)
        for i in range(fps):
            frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), i * 9, np.uint8), format="rgb24")
            frame.pts = i
            container.mux(video.encode(frame))
        container.mux(video.encode())
        for start in range(0, audio.size, 1152):
            chunk = av.AudioFrame.from_ndarray(np.ascontiguousarray(audio[None, start:start + 1152]), format="fltp",
                                               layout="mono")
            chunk.sample_rate, chunk.pts = sample_rate, start
            container.mux(sound.encode(chunk))
        container.mux(sound.encode())
    return path
