"""The annotated video of a recognizer run: each frame with the face box, the class probabilities of the
latest step, a timeline, and the decision from the moment it is available; the audio track kept."""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

from .recognizer import Decision, OnlineRecognizer, StepRecord

__all__ = ["PANEL_WIDTH", "draw_frame", "AnnotatedVideo"]

PANEL_WIDTH = 220
_BG, _TEXT, _DIM = (24, 24, 28), (235, 235, 235), (150, 150, 160)
_FOUND, _TRACKED, _BAR, _PICK = (70, 200, 90), (240, 170, 50), (90, 140, 230), (240, 200, 60)
_FONT = cv2.FONT_HERSHEY_SIMPLEX


def draw_frame(image: np.ndarray, t: float, record: StepRecord | None, decision: Decision | None,
               class_names: Sequence[str], total_steps: int, step_rate: float) -> np.ndarray:
    """``image`` (RGB) with the face box drawn on it and a side panel: the decision once made (else the
    leading class), probability bars of ``record``'s step, and a timeline of the ``total_steps`` steps."""
    height, width = image.shape[:2]
    frame = np.empty((height, width + PANEL_WIDTH, 3), np.uint8)
    frame[:, :width] = image
    frame[:, width:] = _BG
    if record is not None:
        x, y, w, h = (round(float(v)) for v in record.box)
        cv2.rectangle(frame, (x, y), (x + w, y + h), _FOUND if record.face_found else _TRACKED, 2)
    left = width + 10
    _text(frame, f"{t:5.2f} s", (left, 18), _DIM)
    if decision is not None:
        _text(frame, decision.emotion.upper(), (left, 44), _PICK, scale=0.7, thick=2)
        _text(frame, f"{100 * decision.confidence:.0f} % after {decision.time_s:.2f} s", (left, 62), _TEXT)
    elif record is not None:
        _text(frame, f"listening... {class_names[int(record.probs.argmax())]}", (left, 44), _DIM)
    probs: np.ndarray | None = None
    if decision is not None:
        probs = np.array(list(decision.probs.values()))
    elif record is not None:
        probs = record.probs
    row = max(12, (height - 110) // max(1, len(class_names)))
    for k, name in enumerate(class_names):
        top = 76 + k * row
        value = 0.0 if probs is None else float(probs[k])
        chosen = decision is not None and decision.class_index == k
        cv2.rectangle(frame, (left + 62, top), (left + 62 + round(value * (PANEL_WIDTH - 112)), top + row - 4),
                      _PICK if chosen else _BAR, -1)
        _text(frame, name[:9], (left, top + row - 6), _TEXT if chosen else _DIM, scale=0.38)
        if probs is not None:
            _text(frame, f"{100 * value:.0f}%", (left + PANEL_WIDTH - 46, top + row - 6), _DIM, scale=0.38)
    _timeline(frame, (left, height - 22, PANEL_WIDTH - 20, 12), t, decision, total_steps, step_rate)
    return frame


class AnnotatedVideo:
    """A context manager that writes the frames and audio played through a recognizer, annotated, to
    ``path`` (H.264 video, AAC audio; ``container_format`` as FFmpeg names it, default from the suffix).

    A frame is drawn once the recognizer has run the step that covers it (steps complete a lookahead
    later), so call :meth:`flush` after every push; leaving the ``with`` block draws the rest.
    """

    def __init__(self, path: str | Path, recognizer: OnlineRecognizer, fps: float,
                 container_format: str | None = None) -> None:
        self.recognizer = recognizer
        self.fps = Fraction(fps).limit_denominator(1001)
        self._container = av.open(str(path), "w", format=container_format)
        self._video: av.VideoStream | None = None
        self._audio = self._container.add_stream("aac", rate=recognizer.sample_rate, layout="mono")
        self._pending: deque[tuple[float, np.ndarray]] = deque()
        self._samples = np.zeros(0, np.float32)
        self._audio_pts = 0
        self._frames = 0

    def add_frame(self, image: np.ndarray, t: float) -> None:
        """Queue an RGB frame shown at ``t`` seconds of the utterance."""
        self._pending.append((t, image))

    def add_audio(self, samples: np.ndarray) -> None:
        """Append mono samples at the recognizer's sample rate."""
        self._samples = np.concatenate([self._samples, np.asarray(samples, np.float32).reshape(-1)])
        while self._samples.size >= 1024:
            self._encode_audio(self._samples[:1024])
            self._samples = self._samples[1024:]

    def flush(self) -> None:
        """Draw and write the queued frames whose step the recognizer has run (all once it is done)."""
        rec = self.recognizer
        covered = (len(rec.history) + 0.5) / rec.step_rate
        while self._pending and (rec.done or self._pending[0][0] < covered):
            self._write(*self._pending.popleft())

    def __enter__(self) -> AnnotatedVideo:
        return self

    def __exit__(self, kind: type[BaseException] | None, *_: object) -> None:
        """Write the remaining frames and audio (unless the block failed) and close the file."""
        try:
            if kind is None:
                while self._pending:
                    self._write(*self._pending.popleft())
                if self._samples.size:
                    self._encode_audio(self._samples)
                for stream in (self._video, self._audio):
                    if stream is not None:
                        self._container.mux(stream.encode(None))
        finally:
            self._container.close()

    def _write(self, t: float, image: np.ndarray) -> None:
        rec = self.recognizer
        record = next((r for r in reversed(rec.history) if r.time_s <= t), None)
        decision = rec.decision if rec.decision and t >= rec.decision.time_s + rec.decision.latency_s else None
        frame = draw_frame(image, t, record, decision, rec.class_names, rec.total_steps, rec.step_rate)
        frame = frame[: frame.shape[0] // 2 * 2, : frame.shape[1] // 2 * 2]  # H.264 wants even sides
        if self._video is None:
            self._video = self._container.add_stream("libx264", rate=self.fps)
            self._video.height, self._video.width = frame.shape[:2]
            self._video.pix_fmt = "yuv420p"
        out = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")
        out.pts = self._frames
        self._frames += 1
        self._container.mux(self._video.encode(out))

    def _encode_audio(self, samples: np.ndarray) -> None:
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(samples[None]), format="flt", layout="mono")
        frame.sample_rate, frame.pts = self.recognizer.sample_rate, self._audio_pts
        self._audio_pts += samples.size
        self._container.mux(self._audio.encode(frame))


def _text(image: np.ndarray, text: str, origin: tuple[int, int], colour: tuple[int, int, int], *,
          scale: float = 0.45, thick: int = 1) -> None:
    cv2.putText(image, text, origin, _FONT, scale, colour, thick, cv2.LINE_AA)


def _timeline(image: np.ndarray, box: tuple[int, int, int, int], t: float, decision: Decision | None,
              total_steps: int, step_rate: float) -> None:
    x, y, w, h = box
    span = max(total_steps / step_rate, 1e-6)
    cv2.rectangle(image, (x, y), (x + w, y + h), _DIM, 1)
    cv2.rectangle(image, (x, y), (x + round(w * min(t / span, 1.0)), y + h), _BAR, -1)
    if decision is not None:
        mark = x + round(w * min(decision.time_s / span, 1.0))
        cv2.line(image, (mark, y - 4), (mark, y + h + 4), _PICK, 2)
