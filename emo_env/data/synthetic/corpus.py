"""The synthetic audio-visual emotion corpus: real video files with an audio track, generated offline.

``generate_corpus(out_dir)`` writes ``out_dir/<speaker>/<clip_id>.mp4`` (intra-only MPEG-4 part 2 video at
``fps`` with a 16 kHz mono 16-bit PCM track), ``out_dir/clips.csv`` (``path,label,speaker,duration``) and
``out_dir/face_boxes.csv`` (``clip_id,frame,x,y,w,h``: the ground-truth face box of every frame, framed
as a frontal face detector frames a face). Faces are drawn by :mod:`.face` from facial action
units, speech by :mod:`.voice` from a source-filter model; both follow the same expression
time course (neutral start, onset, apex) from :mod:`.expression`, where the difficulty knobs live.

Every clip draws its randomness from its own generator, seeded by (seed, speaker, emotion, clip), so
the output does not depend on ``workers`` or on the corpus size.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from fractions import Fraction
from multiprocessing import get_context
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, cast

import av
import cv2
import numpy as np
from tqdm.auto import tqdm

from emo_env.data.synthetic.expression import (
    EMOTIONS,
    NEUTRAL,
    Difficulty,
    class_names,
    envelope,
    expression_timing,
    smooth_noise,
)
from emo_env.data.synthetic.face import AUS, FaceIdentity, FaceScene, FaceTrack
from emo_env.data.synthetic.voice import SAMPLE_RATE, VoiceIdentity, synthesize

if TYPE_CHECKING:
    import numpy.typing as npt

__all__ = ["generate_corpus", "Difficulty", "EMOTIONS", "NEUTRAL", "SAMPLE_RATE", "class_names", "clip_id",
           "ClipTiming", "clip_timing"]

_VIDEO_BITRATE_PER_PIXEL = 6.0  # target bits per pixel per second (qmax 8 lets it rise: ~620 kbit/s at 320x240)
_STREAM_SPEAKER, _STREAM_CLIP = 0, 1  # seed-sequence branches for speakers and clips


def clip_id(speaker: int, emotion: str, index: int, width: int = 2) -> str:
    """The id of clip ``index`` (1-based) of ``emotion`` by speaker ``speaker`` (1-based): ``s3_anger_07``."""
    return f"s{speaker}_{emotion}_{index:0{width}d}"


class ClipTiming(NamedTuple):
    """A clip's length and the time course of its expression, in seconds (``frames`` at the corpus's fps)."""

    frames: int
    duration: float
    onset: float
    rise: float


_LAYOUT = ("speakers", "clips_per_emotion", "neutral", "width", "height", "workers")


def clip_timing(clip: str, *, seed: int = 0, min_duration_s: float = 2.0, max_duration_s: float = 4.0, fps: int = 30,
                **settings: Any) -> ClipTiming:
    """The timing of clip ``clip`` (an id as :func:`clip_id` writes it) of the corpus that :func:`generate_corpus`
    writes with these keywords, replayed from the clip's own random stream without rendering anything: the
    ground truth of when its expression starts. ``settings`` are the difficulty knobs; the corpus's size and
    frame size (``speakers``, ``clips_per_emotion``, ``neutral``, ``width``, ``height``, ``workers``) are
    accepted and change no clip's timing."""
    speaker, emotion, index = clip.split("_") if clip.count("_") == 2 else ("", "", "")
    if not (speaker[:1] == "s" and speaker[1:].isdigit() and index.isdigit() and emotion in class_names(True)):
        raise ValueError(f"clip id {clip!r} is not a synthetic corpus clip id like 's3_anger_07'")
    knobs = Difficulty(**{key: value for key, value in settings.items() if key not in _LAYOUT})
    return _draw_timing(_clip_rng(seed, int(speaker[1:]), emotion, int(index)), min_duration_s, max_duration_s, fps,
                        knobs)


def _clip_rng(seed: int, speaker: int, emotion: str, index: int) -> np.random.Generator:
    return np.random.default_rng([seed, _STREAM_CLIP, speaker, class_names(True).index(emotion), index])


def _draw_timing(rng: np.random.Generator, min_duration_s: float, max_duration_s: float, fps: int,
                 knobs: Difficulty) -> ClipTiming:
    """The first draws of a clip's stream: its length, then its expression's onset and rise."""
    frames = max(1, int(round(rng.uniform(min_duration_s, max_duration_s) * fps)))
    onset, rise = expression_timing(rng, knobs, frames / fps)
    return ClipTiming(frames, frames / fps, onset, rise)


@dataclass(frozen=True)
class _Job:
    out_dir: Path
    speaker: int  # 1-based
    emotion: str
    index: int  # 1-based
    clip_id: str
    seed: int
    min_duration_s: float
    max_duration_s: float
    width: int
    height: int
    fps: int
    difficulty: Difficulty


def generate_corpus(out_dir: str | Path, *, seed: int = 0, speakers: int = 8, clips_per_emotion: int = 10,
                    min_duration_s: float = 2.0, max_duration_s: float = 4.0, neutral: bool = False,
                    width: int = 320, height: int = 240, fps: int = 30, workers: int = 2,
                    progress: bool = False, **difficulty: Any) -> Path:
    """Generate the corpus into ``out_dir`` and return ``out_dir``.

    ``speakers`` speakers (``s1..sN``) x the six RML emotions (+ neutral, last) x ``clips_per_emotion``
    clips of ``min_duration_s``..``max_duration_s`` seconds each. ``workers`` processes render clips
    in parallel (1 = in this process); the output is the same for any value. ``progress`` shows a
    progress bar (stderr). Extra keyword
    arguments are the difficulty knobs of :class:`Difficulty` (documented there with their defaults).
    """
    if speakers < 1 or clips_per_emotion < 1:
        raise ValueError(f"speakers and clips_per_emotion must be >= 1, got {speakers} and {clips_per_emotion}")
    if not 0.5 <= min_duration_s <= max_duration_s:
        raise ValueError(f"need 0.5 <= min_duration_s <= max_duration_s, got {min_duration_s} and {max_duration_s}")
    if width < 64 or height < 64 or width % 2 or height % 2:
        raise ValueError(f"width and height must be even and >= 64, got {width}x{height}")
    if fps < 1:
        raise ValueError(f"fps must be >= 1, got {fps}")
    try:
        knobs = Difficulty(**difficulty)
    except TypeError as err:
        known = ", ".join(Difficulty.__dataclass_fields__)
        raise TypeError(f"generate_corpus: unknown difficulty knob in {sorted(difficulty)}; known: {known}") from err
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    digits = max(2, len(str(clips_per_emotion)))
    jobs = [_Job(out_dir, s, emotion, k, clip_id(s, emotion, k, digits), seed, min_duration_s, max_duration_s,
                 width, height, fps, knobs)
            for s in range(1, speakers + 1) for emotion in class_names(neutral)
            for k in range(1, clips_per_emotion + 1)]
    results = list(tqdm(_run(jobs, workers), total=len(jobs), unit="clip", disable=not progress))
    _write_csv(out_dir / "clips.csv", ["path", "label", "speaker", "duration"],
               ([r["path"], job.emotion, f"s{job.speaker}", f"{r['duration']:.6g}"]
                for job, r in zip(jobs, results, strict=True)))
    _write_csv(out_dir / "face_boxes.csv", ["clip_id", "frame", "x", "y", "w", "h"],
               ([job.clip_id, i, *(f"{v:.2f}" for v in box)] for job, r in zip(jobs, results, strict=True)
                for i, box in enumerate(r["boxes"])))
    return out_dir


def _run(jobs: Sequence[_Job], workers: int) -> Iterable[dict[str, Any]]:
    if workers <= 1 or len(jobs) == 1:
        return map(_make_clip, jobs)
    return _run_in_pool(jobs, workers)


def _run_in_pool(jobs: Sequence[_Job], workers: int) -> Iterator[dict[str, Any]]:
    with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn"), initializer=_init_worker) as pool:
        yield from pool.map(_make_clip, jobs, chunksize=max(1, len(jobs) // (8 * workers)))


def _init_worker() -> None:
    cv2.setNumThreads(1)  # parallel across clips, not within one


def _speaker(seed: int, speaker: int, knobs: Difficulty) -> tuple[FaceIdentity, VoiceIdentity]:
    rng = np.random.default_rng([seed, _STREAM_SPEAKER, speaker])
    face = FaceIdentity.sample(rng, knobs.identity_spread, knobs.style_spread)
    voice = VoiceIdentity.sample(rng, female=speaker % 2 == 0, spread=knobs.identity_spread,
                                 style_spread=knobs.style_spread)
    return face, voice


def _make_clip(job: _Job) -> dict[str, Any]:
    """Render, synthesize and write one clip; return its relative path, duration and face boxes."""
    knobs = job.difficulty
    face_id, voice_id = _speaker(job.seed, job.speaker, knobs)
    rng = _clip_rng(job.seed, job.speaker, job.emotion, job.index)
    n_frames, duration, onset, rise = _draw_timing(rng, job.min_duration_s, job.max_duration_s, job.fps, knobs)
    intensity = knobs.expression_intensity * rng.uniform(1.0 - knobs.intensity_jitter, 1.0)

    speech = synthesize(voice_id, voice_id.prosody(job.emotion, knobs.voice_separation),
                        lambda t: intensity * envelope(t, onset, rise), duration, rng, knobs.audio_snr_db,
                        knobs.expression_noise)
    track = _face_track(face_id, job, knobs, rng, n_frames, onset, rise, intensity, speech.mouth_open,
                        speech.mouth_round)
    scene = FaceScene(face_id, job.width, job.height, rng, knobs.image_noise)
    rel = Path(f"s{job.speaker}") / f"{job.clip_id}.mp4"
    boxes = _write_video(job.out_dir / rel, scene.frames(track), speech.audio,
                         job.fps, job.width, job.height)
    return {"path": rel.as_posix(), "duration": duration, "boxes": boxes}


def _face_track(face_id: FaceIdentity, job: _Job, knobs: Difficulty, rng: np.random.Generator, n_frames: int,
                onset: float, rise: float, intensity: float, mouth_open: np.ndarray,
                mouth_round: np.ndarray) -> FaceTrack:
    """Everything that moves in the clip's video, per frame."""
    t = np.arange(n_frames) / job.fps
    apex = face_id.expression(job.emotion, knobs.face_separation)
    strength = intensity * envelope(t, onset, rise)
    wobble = knobs.expression_noise * smooth_noise(rng, t, len(AUS), 0.7)
    aus = np.clip(face_id.rest + strength[:, None] * apex + wobble, 0.0, 1.2)
    per_frame = SAMPLE_RATE / job.fps  # speech articulation averaged over each frame's span
    edges = np.minimum((np.arange(n_frames + 1) * per_frame).round().astype(int), len(mouth_open))
    counts = np.maximum(np.diff(edges), 1)
    open_ = np.add.reduceat(mouth_open, edges[:-1].clip(max=len(mouth_open) - 1)) / counts
    round_ = np.add.reduceat(mouth_round, edges[:-1].clip(max=len(mouth_round) - 1)) / counts
    blink = np.zeros(n_frames)
    at = rng.uniform(0.0, 1.5)
    while at < t[-1] + 0.2:  # blinks: about one every 3 s, 0.2 s long
        blink = np.maximum(blink, np.clip(1.0 - np.abs(t - at) / 0.1, 0.0, 1.0) ** 0.7)
        at += rng.exponential(2.8) + 0.3
    gaze = np.repeat(rng.normal(0.0, 0.12, (int(t[-1] / 0.7) + 2, 2)), max(1, int(0.7 * job.fps)), axis=0)[:n_frames]
    motion = knobs.head_motion * smooth_noise(rng, t, 4, 0.8) * [4.0, 3.0, 2.0, 0.02]
    pose = motion + [0.0, 0.0, 0.0, 1.0]
    light = rng.uniform(0.85, 1.1) * (1.0 + knobs.lighting_variation * smooth_noise(rng, t, 1, 1.0)[:, 0])
    return FaceTrack(aus=aus, mouth_open=open_, mouth_round=round_, blink=blink, gaze=gaze, pose=pose, light=light)


def _write_video(path: Path, frames: Iterable[tuple[np.ndarray, np.ndarray]], audio: np.ndarray, fps: int,
                 width: int, height: int) -> np.ndarray:
    """Encode frames (MPEG-4 part 2) and audio (16-bit PCM) into ``path`` atomically; return the boxes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    pcm = np.round(np.clip(audio, -1.0, 1.0) * 32767).astype(np.int16)
    boxes = []
    try:
        with av.open(str(tmp), "w", format="mp4") as container:
            # Intra-only (every frame decodes on its own, and encoding is fast); qmax: no blocky frames.
            video = container.add_stream("mpeg4", rate=fps, options={"g": "1", "qmax": "8"})
            video.width, video.height, video.pix_fmt = width, height, "yuv420p"
            video.bit_rate = int(_VIDEO_BITRATE_PER_PIXEL * width * height)
            video.codec_context.thread_count = 1
            sound = container.add_stream("pcm_s16le", rate=SAMPLE_RATE, layout="mono")
            sound.time_base = Fraction(1, SAMPLE_RATE)
            sent = 0
            for i, (image, box) in enumerate(frames):
                boxes.append(box)
                yuv = cast("npt.NDArray[np.uint8]", cv2.cvtColor(image, cv2.COLOR_RGB2YUV_I420))
                container.mux(video.encode(av.VideoFrame.from_ndarray(yuv, format="yuv420p")))
                upto = min(len(pcm), int(round((i + 1) * SAMPLE_RATE / fps)))
                if upto - sent >= SAMPLE_RATE // 2 or upto == len(pcm) > sent:  # half-second audio chunks
                    chunk = av.AudioFrame.from_ndarray(pcm[None, sent:upto], format="s16", layout="mono")
                    chunk.sample_rate, chunk.pts = SAMPLE_RATE, sent
                    container.mux(sound.encode(chunk))
                    sent = upto
            container.mux(video.encode())
            container.mux(sound.encode())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return np.array(boxes, dtype=np.float32).reshape(-1, 4)


def _write_csv(path: Path, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(header)
            writer.writerows(rows)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
