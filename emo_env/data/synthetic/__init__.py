"""The synthetic audio-visual emotion corpus (DESIGN.md section 4), generated offline.

- :mod:`.expression`: emotion classes, the difficulty knobs and the time course of an expression;
- :mod:`.face`: faces drawn from facial action units;
- :mod:`.voice`: speech from a source-filter model with emotional prosody;
- :mod:`.corpus`: speakers, clips and the video files with their audio track (``generate_corpus``), and
  each clip's ground-truth expression timing (``clip_timing``).
"""

from .corpus import (
    EMOTIONS,
    NEUTRAL,
    SAMPLE_RATE,
    ClipTiming,
    Difficulty,
    class_names,
    clip_id,
    clip_timing,
    generate_corpus,
)

__all__ = ["generate_corpus", "Difficulty", "EMOTIONS", "NEUTRAL", "SAMPLE_RATE", "class_names", "clip_id",
           "ClipTiming", "clip_timing"]
