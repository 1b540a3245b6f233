"""Log-mel windows centred on step times, computed from a growing stream of mono samples.

As VGGish: a 25 ms periodic Hann window every 10 ms (FFT of the next power of two), magnitude,
64 HTK mel bands over 125-7500 Hz, ``log(mel + 0.01)``. A window of ``window_s`` seconds holds
``round(window_s / hop)`` frames whose centres are symmetric about the step time; samples before
the clip start or after its end are zeros. Consecutive windows on the same hop grid share their
frames: only the frames a window adds to the previous one are computed.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torchaudio

__all__ = ["LogMelExtractor"]


class LogMelExtractor:
    """Push samples as they arrive; ask for the log-mel window ``[frames, bands]`` at a time.

    ``window_at(t)`` needs the samples up to ``t + window_s / 2`` (about), or :meth:`finish`
    to mark the end of the audio; :meth:`ready` says whether it can answer. Times asked must not
    decrease: samples no later window needs are dropped.
    """

    def __init__(
        self,
        sample_rate: int,
        *,
        window_s: float,
        bands: int,
        f_min: float,
        f_max: float,
        win_ms: float,
        hop_ms: float,
        log_offset: float,
    ) -> None:
        self.sample_rate = sample_rate
        self.log_offset = log_offset
        win = round(sample_rate * win_ms / 1000)
        self.hop = round(sample_rate * hop_ms / 1000)
        self.frames = max(1, round(window_s * 1000 / hop_ms))
        n_fft = 2 ** math.ceil(math.log2(win))
        self.span = (self.frames - 1) * self.hop + n_fft  # samples under one window
        self._mel = torchaudio.transforms.MelSpectrogram(
            sample_rate=sample_rate,
            n_fft=n_fft,
            win_length=win,
            hop_length=self.hop,
            f_min=f_min,
            f_max=f_max,
            n_mels=bands,
            power=1.0,
            center=False,
            mel_scale="htk",
        )
        self._buffer = np.zeros(0, np.float32)
        self._offset = 0  # sample index of _buffer[0]
        self._finished = False
        self._last = np.zeros((0, bands), np.float32)  # the frames of the last window
        self._last_first = 0  # its first sample

    def push(self, samples: np.ndarray) -> None:
        """Append mono float samples at ``sample_rate``."""
        if self._finished:
            raise ValueError("samples pushed after finish()")
        self._buffer = np.concatenate([self._buffer, np.asarray(samples, np.float32).reshape(-1)])

    def finish(self) -> None:
        """Mark the end of the audio: later samples are zeros."""
        self._finished = True

    def ready(self, time: float) -> bool:
        """Whether :meth:`window_at` can answer for ``time`` now."""
        return self._finished or self._offset + self._buffer.size >= self._first(time) + self.span

    def window_at(self, time: float) -> np.ndarray:
        """The log-mel window centred on ``time`` seconds: float32 ``[frames, bands]``."""
        if not self.ready(time):
            raise ValueError(f"audio up to {(self._first(time) + self.span) / self.sample_rate:.3f} s needed")
        first = self._first(time)
        rel = first - self._offset  # window start in the buffer
        if rel < 0 and self._offset > 0:
            raise ValueError(f"window at {time:.3f} s asked after later ones")
        shift = first - self._last_first
        kept = len(self._last) - shift // self.hop if shift >= 0 and shift % self.hop == 0 else 0
        kept = max(0, min(kept, self.frames))
        new = self._frames_from(first + kept * self.hop, self.frames - kept)
        window = np.concatenate([self._last[len(self._last) - kept :], new]) if kept else new
        if rel > 0:
            drop = min(rel, self._buffer.size)
            self._buffer, self._offset = self._buffer[drop:], self._offset + drop
        self._last, self._last_first = window, first
        return window.copy()

    def _frames_from(self, start: int, count: int) -> np.ndarray:
        """``count`` log-mel frames ``[count, bands]``, the first starting at sample ``start``."""
        if count == 0:
            return self._last[:0]
        span = (count - 1) * self.hop + self._mel.n_fft
        segment = np.zeros(span, np.float32)
        rel = start - self._offset
        lo, hi = max(rel, 0), min(rel + span, self._buffer.size)
        if hi > lo:
            segment[lo - rel : hi - rel] = self._buffer[lo:hi]
        with torch.no_grad():
            mel = self._mel(torch.from_numpy(segment))
        return torch.log(mel + self.log_offset).T.numpy()

    def _first(self, time: float) -> int:
        return round(time * self.sample_rate - self.span / 2)
