"""``python -m emo_online``: play a video file (or a camera) through the online recognizer.

    python -m emo_online VIDEO [--run PATH] [--out annotated.mp4] [--json] [--fast] [--runtime onnx]
        [--seed N] [--device auto] [--no-progress] [--describe]

A file is one utterance: its video and audio track are pushed in decoding order, at their own pace
(``--fast``: as fast as possible), and the decision is printed with its time; ``--out`` writes the
annotated video. A camera index (``0``) reads frames with OpenCV and the microphone with the
optional ``sounddevice`` package (OpenCV does not capture audio; without it, the face alone): one
decision per utterance, a new utterance starting after each decision, until Ctrl-C. A file without
an audio track is answered from the face, one whose face is never found from the voice.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import queue
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from fractions import Fraction
from pathlib import Path
from typing import Any, cast

import av
import cv2
import numpy as np
import torch

from emo_env.artifacts import CheckpointError, atomic_path
from emo_env.command_line import command_parser
from emo_env.data.media import AudioChunk, MediaError, VideoFrame, has_audio_track, read_media
from emo_env.data.store import StoreError
from emo_env.device import resolve_device

from .annotate import AnnotatedVideo
from .recognizer import Decision, OnlineRecognizer
from .step import RUNTIMES

__all__ = ["main", "play_file", "play_camera", "video_duration"]

CAMERA_MAX_LAG_S = 1.0  # a live stream whose audio or video stalls longer than this is padded


def main(argv: Sequence[str] | None = None, prog: str = "python -m emo_online") -> int:
    """Run the CLI (``emo-env online``); return the exit status (2 for bad input, with a one-line message)."""
    parser = _parser(prog)
    args = parser.parse_args(argv)
    if args.video is None and not args.describe:
        parser.error("the following arguments are required: VIDEO")
    torch.set_num_threads(args.threads)
    cv2.setNumThreads(args.threads)
    if args.seed is not None:
        torch.manual_seed(args.seed)
    camera = args.video is not None and args.video.isdigit() and not Path(args.video).exists()
    options: dict[str, Any] = {"runtime": args.runtime, "familiarity": not args.no_familiarity}
    if camera:
        options["max_lag_s"] = CAMERA_MAX_LAG_S
    if args.utterance_s is not None:
        options["utterance_s"] = args.utterance_s
    try:
        if args.video is not None and not camera and not Path(args.video).is_file():
            raise MediaError(args.video, "file not found")
        device = str(resolve_device(args.device))
        if args.run is not None:
            recognizer = OnlineRecognizer.from_run(args.run, encoders=args.encoders, device=device, **options)
        else:
            recognizer = OnlineRecognizer.from_default(threshold=args.threshold, device=device, **options)
        if args.describe:
            print(_describe(recognizer, device))
            return 0
        if not args.no_progress:
            print(f"policy: {recognizer.policy_name}; algorithmic latency {recognizer.latency_s:.3f} s "
                  f"(mel window centred on each step)", file=sys.stderr)
        report = _json_line if args.json else _text_line
        if camera:
            play_camera(recognizer, int(args.video), report=report, out=args.out)
        else:
            play_file(recognizer, args.video, audio=args.audio, fast=args.fast, report=report, out=args.out)
    except (MediaError, StoreError, CheckpointError, FileNotFoundError, ValueError, ImportError) as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return 0


def play_file(recognizer: OnlineRecognizer, video: str | Path, *, audio: str | Path | None = None, fast: bool = False,
              report: Callable[[Decision], None] = print, out: str | Path | None = None) -> Decision | None:
    """Play ``video`` (with its audio track, or ``audio``) through ``recognizer`` as one utterance, in real
    time (paced by the video frames; audio is pushed as it is decoded) unless ``fast``; ``report`` each
    decision; with ``out`` write the annotated video. Returns the decision (forced at the last step if
    the policy never answered). A video without an audio track is answered from the face alone and one
    whose face is never found from the voice alone; with neither, :class:`MediaError`."""
    hears = audio is not None or has_audio_track(video)
    recognizer.reset(start_s=0.0, duration_s=video_duration(video), audio=hears)
    items = read_media(video, audio, sample_rate=recognizer.sample_rate, require_audio=False)
    with _annotated(out, recognizer, _frame_rate(video) if out else 0.0) as annotated:
        decision = _play(recognizer, items, fast, report, annotated)
    if decision is None and recognizer.history:
        raise MediaError(video, "no face found in any frame and no audio track: nothing to recognize")
    return decision


def _play(recognizer: OnlineRecognizer, items: Iterable[VideoFrame | AudioChunk], fast: bool,
          report: Callable[[Decision], None], annotated: AnnotatedVideo | None) -> Decision | None:
    began = time.monotonic()
    position = 0  # audio samples pushed
    for item in items:
        if isinstance(item, VideoFrame):
            _wait(began, item.time, fast)
            decision = recognizer.push_video(item.source, item.time, item.duration)
            if annotated is not None:
                annotated.add_frame(item.image, item.time)
        else:
            decision = recognizer.push_audio(item.samples, position / recognizer.sample_rate)
            position += item.samples.size
            if annotated is not None:
                annotated.add_audio(item.samples)
        if decision is not None:
            report(decision)
        if annotated is not None:
            annotated.flush()
        elif recognizer.done:
            return recognizer.decision
    if recognizer.done:
        return recognizer.decision
    decision = recognizer.finish()
    if decision is not None:
        report(decision)
    return decision


def play_camera(recognizer: OnlineRecognizer, index: int, *, report: Callable[[Decision], None] = print,
                out: str | Path | None = None) -> None:
    """Recognize utterance after utterance from camera ``index`` and the default microphone until Ctrl-C
    (without ``sounddevice``, from the face alone); each decision starts the next utterance. Not exercised
    by the tests."""
    hears = importlib.util.find_spec("sounddevice") is not None
    if not hears:
        print("no microphone: the optional package sounddevice is not installed (pip install sounddevice); "
              "answering from the face alone", file=sys.stderr)
    recognizer.reset(start_s=0.0, audio=hears)
    with _annotated(out, recognizer, 30.0) as annotated:
        try:
            for kind, data, t in camera_stream(index, recognizer.sample_rate, audio=hears):
                if kind == "video":
                    decision = recognizer.push_video(data, t)
                    if annotated is not None:
                        annotated.add_frame(data, t - recognizer.start_s)
                else:
                    decision = recognizer.push_audio(data, t)
                    if annotated is not None:
                        annotated.add_audio(data)
                if annotated is not None:
                    annotated.flush()
                if decision is not None:
                    report(decision)
                    recognizer.reset(start_s=t, audio=hears)
        except KeyboardInterrupt:
            pass  # the end of a live session: keep what was written


def camera_stream(index: int, sample_rate: int, audio: bool = True) -> Iterator[tuple[str, np.ndarray, float]]:
    """``("video", RGB frame, t)`` from OpenCV and, with ``audio``, ``("audio", samples, t)`` from
    ``sounddevice``, on one clock (seconds since the stream opened; audio timed by its sample count)."""
    capture = cv2.VideoCapture(index)
    if not capture.isOpened():
        raise MediaError(f"camera {index}", "cannot be opened")
    chunks: queue.Queue[np.ndarray] = queue.Queue()
    heard = 0
    began = time.monotonic()
    try:
        with _microphone(sample_rate, chunks.put) if audio else nullcontext():
            while True:
                ok, bgr = capture.read()
                if not ok:
                    return
                yield "video", cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), time.monotonic() - began
                while not chunks.empty():
                    samples = chunks.get()
                    yield "audio", samples, heard / sample_rate
                    heard += samples.size
    finally:
        capture.release()


def _microphone(sample_rate: int, put: Callable[[np.ndarray], None]) -> Any:
    """The default microphone's input stream, handing each chunk of mono samples to ``put``."""
    import sounddevice

    return sounddevice.InputStream(samplerate=sample_rate, channels=1, dtype="float32",
                                   callback=lambda data, frames, when, status: put(data[:, 0].copy()))


@contextmanager
def _annotated(out: str | Path | None, recognizer: OnlineRecognizer, fps: float) -> Iterator[AnnotatedVideo | None]:
    """The annotated video written atomically to ``out``, or None without ``out``."""
    if out is None:
        yield None
        return
    out = Path(out)
    with atomic_path(out) as tmp, AnnotatedVideo(tmp, recognizer, fps, _container_format(out)) as annotated:
        yield annotated


def video_duration(path: str | Path) -> float:
    """Seconds from the first video frame to the end of the last one (from the packets, nothing decoded)."""
    if not Path(path).is_file():
        raise MediaError(path, "file not found")
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise MediaError(path, "no video stream")
            stream = container.streams.video[0]
            ends = [packet.pts + (packet.duration or 0) for packet in container.demux(stream) if packet.pts is not None]
            first, time_base = stream.start_time or 0, cast(Fraction, stream.time_base)  # read while open
    except (av.error.FFmpegError, OSError) as exc:
        raise MediaError(path, f"cannot read ({exc})") from None
    if not ends:
        raise MediaError(path, "no video frame")
    return float((max(ends) - first) * time_base)


def _frame_rate(path: str | Path) -> float:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        return float(stream.average_rate or stream.guessed_rate or 30)


def _container_format(path: Path) -> str:
    return {".mov": "mov", ".mkv": "matroska"}.get(path.suffix.lower(), "mp4")


def _wait(began: float, media_time: float, fast: bool) -> None:
    if not fast:
        time.sleep(max(0.0, began + media_time - time.monotonic()))


def _describe(recognizer: OnlineRecognizer, device: str) -> str:
    rows = {"policy": recognizer.policy_name, "observations": recognizer.obs_mode, "modality": recognizer.modality,
            "classes": ", ".join(recognizer.class_names), "step rate": f"{recognizer.step_rate:g} steps/s",
            "sample rate": f"{recognizer.sample_rate} Hz", "horizon": f"{recognizer.horizon_steps} steps",
            "utterance": f"{recognizer.utterance_s:g} s at the latest (live)",
            "algorithmic latency": f"{recognizer.latency_s:.3f} s (mel window centred on each step)",
            "runtime": recognizer.runtime, "device": device}
    return "\n".join(f"  {key:<20} {value}" for key, value in rows.items())


def _text_line(decision: Decision) -> None:
    how = "forced at the last step" if decision.forced else "policy answered"
    if len(decision.modalities) == 1:
        how += {"audio": "; from the voice alone", "visual": "; from the face alone"}[decision.modalities[0]]
    print(f"{decision.time_s:6.2f} s  {decision.emotion:<9} {100 * decision.confidence:5.1f} %  step {decision.step}  "
          f"({how}; available {decision.latency_s:.2f} s later + {1000 * decision.compute_s:.1f} ms compute)",
          flush=True)


def _json_line(decision: Decision) -> None:
    print(json.dumps(decision.to_dict()), flush=True)


def _parser(prog: str) -> argparse.ArgumentParser:
    parser = command_parser(prog, "Play a video file (or a camera) through the online recognizer and print the "
                                  "decision: the emotion, its confidence and when it was made. The bundled "
                                  "encoders sit on front ends that mean the same on real input (a face network "
                                  "pretrained on real photos, fixed voice descriptors); everything on top was "
                                  "trained on the synthetic corpus only (rendered faces, synthesized voices), and "
                                  "the face's model starts from the face network's own reading. On real posed "
                                  "faces expect about what that network achieves, or a little more, at a "
                                  "confidence somewhat above the accuracy; a real "
                                  "voice is unlike the synthetic ones, so the recognizer answers from the face "
                                  "beside it, and with lowered confidence from a voice alone. For real use, train "
                                  "encoders on your own corpus (pretrain_encoder.py) and pass --run and "
                                  "--encoders.", [
        "%(prog)s clip.mp4 --fast                    # the bundled encoders and threshold policy",
        "%(prog)s clip.mp4 --run runs/synthetic/agents/dqn --json",
        "%(prog)s clip.mp4 --out annotated.mp4 --runtime onnx",
        "%(prog)s 0                                  # camera 0 and the microphone (pip install sounddevice)",
        "%(prog)s --run runs/synthetic/agents/dqn --describe"])
    parser.add_argument("video", metavar="VIDEO", nargs="?",
                        help="video file (its audio track if any; a face or a voice alone is answered from it), "
                             "or a camera index (0, 1, ...); "
                             "required unless --describe")
    parser.add_argument("--run", type=Path, help="agent run folder of train (default: the bundled "
                                                 "encoders with the threshold baseline)")
    parser.add_argument("--encoders", type=Path,
                        help="encoders.pt that exported the run's store (default: found from the store)")
    parser.add_argument("--threshold", type=float, help="threshold of the default policy, without --run (default: "
                                                        "tuned on the bundled store's training split)")
    parser.add_argument("--audio", type=Path, help="separate audio file (WAV/FLAC) for VIDEO (default: its own track)")
    parser.add_argument("--out", type=Path,
                        help="write the annotated video here (.mp4, .mov or .mkv; default: none written)")
    parser.add_argument("--json", action="store_true", help="print each decision as one JSON line")
    parser.add_argument("--fast", action="store_true", help="as fast as possible instead of real time")
    parser.add_argument("--utterance-s", type=float, help="a live utterance is decided by then at the latest "
                                                          "(default: the store's longest clip)")
    parser.add_argument("--threads", type=int, default=1, help="torch, ONNX Runtime and OpenCV threads")
    parser.add_argument("--runtime", choices=RUNTIMES, default="torch",
                        help="run the encoders in torch or ONNX Runtime (several times cheaper per step; "
                             "pip install 'emo-env[onnx]')")
    parser.add_argument("--seed", type=int, metavar="N", help="seed torch's generator, for a policy of your own "
                                                              "that samples (default: unseeded; the bundled "
                                                              "encoders and policies draw nothing at random)")
    parser.add_argument("--device", default="auto", metavar="DEVICE",
                        help="where torch runs: auto (a GPU when present) | cpu | cuda | cuda:N")
    parser.add_argument("--no-familiarity", action="store_true",
                        help="no familiarity gate: answer as the offline pipeline does, even on input unlike the "
                             "training clips (by default an unfamiliar voice or face does not answer while the other "
                             "modality can, and unfamiliar input lowers the confidence)")
    parser.add_argument("--no-progress", action="store_true", help="no status line on stderr")
    parser.add_argument("--describe", action="store_true",
                        help="print the recognizer's settings (policy, encoders, step rate, latency), then exit")
    return parser
