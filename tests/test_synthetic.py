"""The synthetic corpus: files that decode, an index and face boxes that agree with them, faces a
detector finds, expressions that unfold, prosody that differs between emotions, determinism."""

from __future__ import annotations

import csv
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from emo_env.data.synthetic import EMOTIONS, SAMPLE_RATE, class_names, clip_timing, generate_corpus
from emo_env.data.synthetic.face import AUS, FACE_PROFILES

FPS = 30


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def _decode(path: Path) -> tuple[np.ndarray, np.ndarray, Fraction | None, int]:
    """RGB frames [T, H, W, 3], mono int16 samples, the video's average frame rate and the audio sample rate."""
    with av.open(str(path)) as container:
        frames = np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])
    with av.open(str(path)) as container:
        fps = container.streams.video[0].average_rate
        rate = container.streams.audio[0].rate
        audio = np.concatenate([f.to_ndarray().reshape(-1) for f in container.decode(audio=0)])
    return frames, audio, fps, rate


def _boxes(root: Path) -> dict[str, np.ndarray]:
    out: dict[str, list[list[float]]] = {}
    for row in _rows(root / "face_boxes.csv"):
        assert int(row["frame"]) == len(out.setdefault(row["clip_id"], []))
        out[row["clip_id"]].append([float(row[k]) for k in "xywh"])
    return {clip: np.array(boxes) for clip, boxes in out.items()}


def _clip(root: Path, speaker: str, label: str) -> Path:
    return root / speaker / f"{speaker}_{label}_01.mp4"


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    w = max(0.0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    return w * h / (a[2] * a[3] + b[2] * b[3] - w * h)


def test_index_lists_every_clip_in_rml_order(tiny_corpus):
    rows = _rows(tiny_corpus / "clips.csv")
    assert list(rows[0]) == ["path", "label", "speaker", "duration"]
    assert [(r["speaker"], r["label"]) for r in rows] == [(f"s{s}", e) for s in (1, 2, 3) for e in EMOTIONS]
    for row in rows:
        assert row["path"] == f"{row['speaker']}/{row['speaker']}_{row['label']}_01.mp4"
        assert (tiny_corpus / row["path"]).is_file()
        assert 1.5 - 1 / FPS <= float(row["duration"]) <= 2.0 + 1 / FPS
    assert not [p for p in tiny_corpus.rglob("*") if p.name.endswith(".tmp")], "temporary files left behind"


def test_files_decode_to_the_indexed_duration_with_a_box_per_frame(tiny_corpus):
    boxes = _boxes(tiny_corpus)
    rows = _rows(tiny_corpus / "clips.csv")
    assert set(boxes) == {Path(r["path"]).stem for r in rows}
    for row in rows:
        duration = float(row["duration"])
        frames, audio, fps, rate = _decode(tiny_corpus / row["path"])
        assert fps == FPS and frames.shape[1:] == (240, 320, 3)
        assert len(frames) == round(duration * FPS)
        assert rate == SAMPLE_RATE and abs(len(audio) / rate - duration) < 1e-3
        assert np.abs(audio).max() > 1000, "the audio track is silent"
        clip_boxes = boxes[Path(row["path"]).stem]
        assert len(clip_boxes) == len(frames)
        centres = clip_boxes[:, :2] + clip_boxes[:, 2:] / 2
        assert ((centres > 0) & (centres < [320, 240])).all() and (clip_boxes[:, 2] > 60).all()


def test_haar_cascade_finds_the_ground_truth_face(tiny_corpus):
    cascade = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")
    boxes = _boxes(tiny_corpus)
    hits = []
    for row in _rows(tiny_corpus / "clips.csv"):
        frames, _, _, _ = _decode(tiny_corpus / row["path"])
        truth = boxes[Path(row["path"]).stem]
        for i in range(0, len(frames), 8):
            gray = cv2.cvtColor(frames[i], cv2.COLOR_RGB2GRAY)
            found = cascade.detectMultiScale(gray, scaleFactor=1.1, minNeighbors=5, minSize=(30, 30))
            hits.append(max((_iou(truth[i], box) for box in found), default=0.0) >= 0.5)
    assert len(hits) > 80 and np.mean(hits) >= 0.95


def _region(frame: np.ndarray, box: np.ndarray, top: float, bottom: float) -> np.ndarray:
    """A horizontal band of the face box (fractions of its height), grey, smoothed, relative to its mean
    (sensor noise and a change of lighting do not count as a change of expression)."""
    x, y, w, h = box
    band = frame[int(y + top * h):int(y + bottom * h), int(x + 0.15 * w):int(x + 0.85 * w)]
    band = cv2.GaussianBlur(cv2.cvtColor(band, cv2.COLOR_RGB2GRAY).astype(np.float32), (0, 0), 1.5)  # denoised
    return band / band.mean()


@pytest.mark.parametrize("label, top, bottom", [("surprise", 0.1, 0.35), ("anger", 0.1, 0.35),
                                                ("happy", 0.65, 0.9)])
def test_expression_unfolds_from_a_neutral_start(tiny_corpus, label, top, bottom):
    boxes = _boxes(tiny_corpus)
    for speaker in ("s1", "s2", "s3"):
        path = _clip(tiny_corpus, speaker, label)
        frames, _, _, _ = _decode(path)
        box = boxes[path.stem][0]  # the head barely moves: compare the same pixels
        first, second, last = (_region(frames[i], box, top, bottom) for i in (0, 1, -1))
        noise = np.abs(second - first).mean()
        assert np.abs(last - first).mean() > 3 * noise, f"{path.name}: the {label} face does not change"


# The action units that define each emotion in FACS/EMFACS (must be clearly active at the apex).
FACS_UNITS = {"happy": ("cheek_raise", "lip_corner_pull"),
              "surprise": ("inner_brow_raise", "outer_brow_raise", "upper_lid_raise", "jaw_drop"),
              "sad": ("inner_brow_raise", "brow_lower", "lip_corner_depress"),
              "fear": ("inner_brow_raise", "outer_brow_raise", "brow_lower", "upper_lid_raise", "lip_stretch"),
              "anger": ("brow_lower", "lid_tighten", "lip_press"),
              "disgust": ("nose_wrinkle", "upper_lip_raise", "brow_lower")}


@pytest.mark.parametrize("emotion", EMOTIONS)
def test_face_profiles_hold_the_facs_units_of_each_emotion(emotion):
    profile = FACE_PROFILES[emotion]
    for unit in FACS_UNITS[emotion]:
        assert profile[AUS.index(unit)] >= 0.3, f"{emotion} lacks {unit}"


def _rms_db(audio: np.ndarray) -> float:
    x = audio.astype(np.float64) / 32768
    return 10 * np.log10(np.mean(x ** 2) + 1e-12)


def _median_pitch(audio: np.ndarray) -> float:
    """Median autocorrelation pitch (Hz) over loud 40 ms frames."""
    x = audio.astype(np.float64) / 32768
    size, lags = 640, np.arange(SAMPLE_RATE // 400, SAMPLE_RATE // 70)
    frames = [x[i:i + size] for i in range(0, len(x) - size, size // 2)]
    loudest = np.percentile([np.mean(f ** 2) for f in frames], 60)
    pitches = []
    for f in frames:
        if np.mean(f ** 2) < loudest:
            continue
        f = f - f.mean()
        corr = np.array([np.dot(f[:-lag], f[lag:]) for lag in lags])
        pitches.append(SAMPLE_RATE / lags[np.argmax(corr)])
    return float(np.median(pitches))


def test_anger_is_louder_and_higher_pitched_than_sadness(tiny_corpus):
    for speaker in ("s1", "s2", "s3"):
        _, anger, _, _ = _decode(_clip(tiny_corpus, speaker, "anger"))
        _, sad, _, _ = _decode(_clip(tiny_corpus, speaker, "sad"))
        late = slice(len(anger) // 2, None), slice(len(sad) // 2, None)  # after the onset
        assert _rms_db(anger[late[0]]) > _rms_db(sad[late[1]]) + 3, speaker
        assert _median_pitch(anger[late[0]]) > _median_pitch(sad[late[1]]) * 2 ** (2 / 12), speaker


def test_clip_timing_replays_the_generated_clips(tiny_corpus):
    rows = _rows(tiny_corpus / "clips.csv")
    for row in rows:
        timing = clip_timing(Path(row["path"]).stem, seed=0, min_duration_s=1.5, max_duration_s=2.0, speakers=3)
        assert timing.duration == pytest.approx(float(row["duration"]), abs=1e-5), row["path"]
        assert 0.0 < timing.onset and timing.onset + timing.rise <= 0.9 * timing.duration + 1e-9
    assert len({clip_timing(Path(row["path"]).stem).onset for row in rows}) == len(rows)
    with pytest.raises(ValueError, match="'s1_calm_01' is not a synthetic corpus clip id"):
        clip_timing("s1_calm_01")


def test_same_seed_same_clips_whatever_the_workers_and_corpus_size(tmp_path):
    small = dict(clips_per_emotion=1, min_duration_s=0.6, max_duration_s=0.8, width=160, height=120)
    one = generate_corpus(tmp_path / "one", seed=5, speakers=1, workers=1, **small)
    two = generate_corpus(tmp_path / "two", seed=5, speakers=2, workers=2, **small)
    other = generate_corpus(tmp_path / "other", seed=6, speakers=1, workers=1, **small)
    assert _rows(two / "clips.csv")[:6] == _rows(one / "clips.csv")
    for emotion in EMOTIONS:
        frames, audio, _, _ = _decode(_clip(one, "s1", emotion))
        frames2, audio2, _, _ = _decode(_clip(two, "s1", emotion))
        frames3, audio3, _, _ = _decode(_clip(other, "s1", emotion))
        assert np.array_equal(frames, frames2) and np.array_equal(audio, audio2)
        assert frames.shape != frames3.shape or not np.array_equal(frames, frames3)
        assert len(audio) != len(audio3) or not np.array_equal(audio, audio3)


def test_neutral_is_optional_and_last(tmp_path):
    root = generate_corpus(tmp_path, speakers=1, clips_per_emotion=1, min_duration_s=0.5, max_duration_s=0.5,
                           neutral=True, width=160, height=120, workers=1)
    assert [r["label"] for r in _rows(root / "clips.csv")] == list(class_names(True)) == [*EMOTIONS, "neutral"]


@pytest.mark.parametrize("kwargs, error, words", [
    ({"speakers": 0}, ValueError, "speakers"),
    ({"min_duration_s": 3.0, "max_duration_s": 2.0}, ValueError, "min_duration_s"),
    ({"width": 321}, ValueError, "even"),
    ({"loudness": 2.0}, TypeError, "face_separation"),
    ({"onset_s": (0.9, 0.6)}, ValueError, "onset_s must be"),
    ({"voice_separation": 1.5}, ValueError, "voice_separation"),
])
def test_bad_arguments_are_named(tmp_path, kwargs, error, words):
    with pytest.raises(error, match=words):
        generate_corpus(tmp_path, workers=1, **kwargs)
    assert not (tmp_path / "clips.csv").exists()


def test_config_defaults_are_the_generator_defaults():
    from emo_env.config import default_config
    from emo_env.data.synthetic import Difficulty

    section = default_config()["synthetic"]
    knobs = {name: section[name] for name in Difficulty.__dataclass_fields__}
    assert Difficulty(**knobs) == Difficulty()
