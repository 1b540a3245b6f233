"""Per-step samples of a clip from a stream of frames and audio: what ingest stores and what the
online recognizer computes live, with the same code and therefore the same numbers.

Step ``i`` is at ``t_i = (i + 0.5) / step_rate`` seconds; a clip of ``d`` seconds has
``floor(d * step_rate)`` steps. Step ``i`` holds the face crop of the frame shown at ``t_i`` and
the log-mel window centred on ``t_i``. A step is complete once a frame later than ``t_i`` (or the
end) has arrived and the audio reaches past its window (or has ended).
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

import numpy as np

from .audio import LogMelExtractor
from .faces import TIME_TOLERANCE, FaceCrop, FaceTracker
from .media import AudioChunk, VideoFrame

__all__ = ["Step", "StepSampler", "num_steps", "step_time"]


def step_time(index: int, step_rate: float) -> float:
    """Time in seconds of step ``index``."""
    return (index + 0.5) / step_rate


def num_steps(duration: float, step_rate: float) -> int:
    """Number of steps of a clip lasting ``duration`` seconds."""
    return max(0, math.floor(duration * step_rate + 1e-9))


@dataclass(frozen=True)
class Step:
    """The samples of one step."""

    index: int
    time: float
    face: FaceCrop
    mel: np.ndarray  # float32 [frames, bands]


class StepSampler:
    """Feed a clip's :class:`VideoFrame` and :class:`AudioChunk` items; get completed steps in order."""

    def __init__(self, tracker: FaceTracker, mels: LogMelExtractor, step_rate: float) -> None:
        self.tracker = tracker
        self.mels = mels
        self.step_rate = step_rate
        self.duration = 0.0  # end of the latest frame seen
        self._faces: deque[tuple[int, FaceCrop]] = deque()  # steps waiting for their audio
        self._next_face = 0
        self._frames_seen = False

    def push(self, item: VideoFrame | AudioChunk) -> list[Step]:
        """Add one decoded item; return the steps it completes."""
        if isinstance(item, VideoFrame):
            if self._frames_seen:  # the steps before this frame use earlier frames
                self._track(math.ceil((item.time - TIME_TOLERANCE) * self.step_rate - 0.5))
            self.tracker.push(item)
            self._frames_seen = True
            self.duration = max(self.duration, item.time + item.duration)
        else:
            self.mels.push(item.samples)
        return self._complete()

    def finish(self) -> list[Step]:
        """End of the clip: return its remaining steps (none past ``num_steps(duration)``)."""
        total = num_steps(self.duration, self.step_rate)
        self._track(total)
        self.mels.finish()
        return [step for step in self._complete() if step.index < total]

    def _track(self, count: int) -> None:
        while self._next_face < count:
            time = step_time(self._next_face, self.step_rate)
            self._faces.append((self._next_face, self.tracker.crop_at(time)))
            self._next_face += 1

    def _complete(self) -> list[Step]:
        steps = []
        while self._faces and self.mels.ready(time := step_time(self._faces[0][0], self.step_rate)):
            index, face = self._faces.popleft()
            steps.append(Step(index, time, face, self.mels.window_at(time)))
        return steps
