"""Emotion classes, difficulty knobs and the time course of an expression, shared by the
synthetic face (:mod:`.face`) and voice (:mod:`.voice`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["EMOTIONS", "NEUTRAL", "Difficulty", "class_names", "separate", "envelope", "expression_timing",
           "smooth_noise"]

EMOTIONS = ("happy", "surprise", "sad", "fear", "anger", "disgust")  # RML order
NEUTRAL = "neutral"


def class_names(neutral: bool) -> tuple[str, ...]:
    """The corpus's class names in order: the six RML emotions, then neutral when enabled."""
    return EMOTIONS + ((NEUTRAL,) if neutral else ())


@dataclass(frozen=True)
class Difficulty:
    """The knobs that set how hard the synthetic corpus is."""

    expression_intensity: float = 1.0
    """Scale of every facial action unit and prosody change at the apex."""
    intensity_jitter: float = 0.3
    """A clip's intensity is drawn from ``[1 - jitter, 1] * expression_intensity``."""
    face_separation: float = 0.6
    """How far apart the face-confusable emotions are (fear vs surprise, anger vs disgust): 0 identical
    faces, 1 fully distinct prototypes."""
    voice_separation: float = 1.0
    """The same for the voice-confusable emotions (happy vs surprise vs anger, sad vs disgust)."""
    identity_spread: float = 1.0
    """Between-speaker spread of appearance (face geometry, skin, hair) and voice (pitch, formants,
    speaking rate)."""
    style_spread: float = 0.6
    """Between-speaker spread of the personal way each emotion is expressed (each speaker's deviation
    from the prototype face and prosody); held-out speakers get harder."""
    onset_s: tuple[float, float] = (0.3, 1.0)
    """Expression onset, seconds after the clip starts, drawn uniformly. In seconds, not as a fraction
    of the clip: a live listener cannot know how long an utterance will last, so the evidence must not
    arrive on the clip's own clock."""
    rise_s: tuple[float, float] = (0.3, 0.8)
    """Onset-to-apex time in seconds, drawn uniformly. A clip too short to reach its apex by 90 % of its
    length has both shortened in proportion."""
    expression_noise: float = 0.08
    """Slow random wobble added to each action unit and prosody parameter."""
    image_noise: float = 5.0
    """Sensor noise standard deviation in grey levels (0-255)."""
    lighting_variation: float = 0.12
    """Relative amplitude of the slow drift of brightness."""
    head_motion: float = 1.0
    """Scale of head translation, roll and zoom over the clip."""
    audio_snr_db: float = 22.0
    """Speech to background noise ratio in dB (a clip varies +-5 dB around it)."""

    def __post_init__(self) -> None:
        for name in ("onset_s", "rise_s"):
            low, high = getattr(self, name)
            if not 0.0 <= low <= high:
                raise ValueError(f"{name} must be (low, high) seconds with 0 <= low <= high, got {(low, high)}")
            object.__setattr__(self, name, (float(low), float(high)))
        for name in ("intensity_jitter", "face_separation", "voice_separation"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {getattr(self, name)}")
        for name in ("expression_intensity", "identity_spread", "style_spread", "expression_noise",
                     "image_noise", "lighting_variation", "head_motion"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")


def separate(profiles: Mapping[str, np.ndarray], groups: Sequence[Sequence[str]],
             separation: float) -> dict[str, np.ndarray]:
    """Pull the profiles of each group of confusable emotions toward the group's mean.

    ``separation`` 0 makes a group's profiles identical, 1 leaves them as they are.
    """
    out = {name: np.asarray(p, dtype=np.float64) for name, p in profiles.items()}
    for group in groups:
        mean = np.mean([out[name] for name in group], axis=0)
        for name in group:
            out[name] = mean + separation * (out[name] - mean)
    return out


def expression_timing(rng: np.random.Generator, knobs: Difficulty, duration: float) -> tuple[float, float]:
    """Draw a clip's ``(onset, rise)`` in seconds; shortened together so the apex comes by 90 % of ``duration``."""
    onset, rise = rng.uniform(*knobs.onset_s), rng.uniform(*knobs.rise_s)
    scale = min(1.0, 0.9 * duration / max(onset + rise, 1e-9))
    return onset * scale, rise * scale


def envelope(times: np.ndarray, onset: float, rise: float) -> np.ndarray:
    """Expression strength over time: 0 before ``onset``, a smooth rise over ``rise`` s, then 1."""
    x = np.clip((np.asarray(times, dtype=np.float64) - onset) / max(rise, 1e-6), 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


def smooth_noise(rng: np.random.Generator, times: np.ndarray, dims: int, period: float = 0.6) -> np.ndarray:
    """Smooth random curves ``[len(times), dims]``: unit-variance values at knots ``period`` s apart,
    eased from one knot to the next with a raised cosine."""
    times = np.asarray(times, dtype=np.float64)
    pos = (times - (times[0] if len(times) else 0.0)) / period
    knot = np.floor(pos).astype(int)
    values = rng.standard_normal((int(knot.max(initial=0)) + 2, dims))
    ease = (0.5 - 0.5 * np.cos(np.pi * (pos - knot)))[:, None]
    return values[knot] * (1.0 - ease) + values[knot + 1] * ease
