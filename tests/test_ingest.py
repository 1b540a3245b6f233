"""Ingest of generated clips: the output format, face tracking against the ground truth, resuming,
parallel determinism, and every kind of bad input skipped with its reason."""

import dataclasses
import os
import shutil

import numpy as np
import pandas as pd
import pytest
from media_files import burst, write_video

import emo_env.data.ingest as ingest_module
from emo_env.data.clips import Clip, DatasetError
from emo_env.data.corpora import get_adapter
from emo_env.data.ingest import INDEX_COLUMNS, IngestParams, ingest_dataset

CLASSES = ["happy", "surprise", "sad", "fear", "anger", "disgust"]
ARRAYS = ("faces", "mels", "times", "face_found", "boxes")


def _clips(corpus):
    return get_adapter("synthetic")(corpus, CLASSES, {}).clips


def _arrays(path):
    with np.load(path) as stored:
        return {name: stored[name] for name in ARRAYS}


def _iou(a, b):
    x0, y0 = np.maximum(a[:, :2], b[:, :2]).T
    x1, y1 = np.minimum(a[:, :2] + a[:, 2:], b[:, :2] + b[:, 2:]).T
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    return inter / (a[:, 2] * a[:, 3] + b[:, 2] * b[:, 3] - inter)


def test_output_follows_the_contract(tiny_corpus, tiny_ingest):
    index = pd.read_csv(tiny_ingest / "index.csv", keep_default_na=False)
    listed = pd.read_csv(tiny_corpus / "clips.csv")
    assert list(index.columns) == INDEX_COLUMNS
    assert sorted(index["clip_id"]) == sorted(p.split("/")[-1][:-4] for p in listed["path"])
    assert pd.read_csv(tiny_ingest / "ingest_report.csv").columns.tolist() == ["path", "reason"]
    durations = dict(zip(listed["path"].str.split("/").str[-1].str[:-4], listed["duration"], strict=True))
    for row in index.itertuples():
        arrays = _arrays(tiny_ingest / row.file)
        steps = row.steps
        assert abs(steps - durations[row.clip_id] * 10) <= 1
        assert arrays["faces"].shape == (steps, 64, 64, 3) and arrays["faces"].dtype == np.uint8
        assert arrays["mels"].shape == (steps, 96, 64) and arrays["mels"].dtype == np.float16
        assert arrays["times"].dtype == np.float32
        np.testing.assert_allclose(arrays["times"], (np.arange(steps) + 0.5) / 10, atol=1e-6)
        assert arrays["face_found"].dtype == bool and arrays["boxes"].shape == (steps, 4)
        assert np.isfinite(arrays["mels"]).all() and arrays["mels"].min() >= np.log(0.01) - 1e-3
        assert arrays["faces"].std() > 10  # a real picture, not a constant
    for speaker in index["speaker"].unique():
        evaluation = pd.read_csv(tiny_ingest / speaker / "evaluation_data.csv")
        training = pd.read_csv(tiny_ingest / speaker / "training_data.csv")
        assert set(evaluation["speaker"]) == {speaker} and speaker not in set(training["speaker"])
        assert len(evaluation) + len(training) == len(index)


def test_tracked_face_boxes_overlap_the_ground_truth(tiny_corpus, tiny_ingest):
    truth = pd.read_csv(tiny_corpus / "face_boxes.csv").set_index(["clip_id", "frame"])
    ious, found = [], []
    for row in pd.read_csv(tiny_ingest / "index.csv").itertuples():
        arrays = _arrays(tiny_ingest / row.file)
        frames = np.floor(arrays["times"] * 30 + 1e-4).astype(int)  # the frame shown at each step (30 fps)
        expected = truth.loc[[(row.clip_id, f) for f in frames], ["x", "y", "w", "h"]].to_numpy(np.float32)
        ious.append(_iou(arrays["boxes"], expected))
        found.append(arrays["face_found"])
        crops_differ = np.abs(np.diff(arrays["faces"].astype(int), axis=0)).mean()
        assert crops_differ < 40  # a steady track, not jumping around
    ious, found = np.concatenate(ious), np.concatenate(found)
    assert np.mean(ious >= 0.5) >= 0.95
    assert found.mean() >= 0.8


def test_interrupted_ingest_resumes_with_the_finished_clips(tiny_corpus, tiny_ingest, tmp_path, monkeypatch):
    clips = _clips(tiny_corpus)[:4]
    calls = []
    real = ingest_module.sample_clip

    def interrupted_at_third(clip, params):
        calls.append(clip.clip_id)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(clip, params)

    monkeypatch.setattr(ingest_module, "sample_clip", interrupted_at_third)
    with pytest.raises(KeyboardInterrupt):
        ingest_dataset(clips, tmp_path, workers=1, progress=False)
    assert sorted(p.name for p in (tmp_path / "clips").iterdir()) == sorted(f"{c.clip_id}.npz" for c in clips[:2])
    assert not (tmp_path / "index.csv").exists()
    done = {p: p.stat().st_mtime_ns for p in (tmp_path / "clips").iterdir()}

    calls.clear()
    monkeypatch.setattr(ingest_module, "sample_clip", real)
    result = ingest_dataset(clips, tmp_path, workers=1, progress=False)
    assert (result.reused, result.computed) == (2, 2)
    assert {p: p.stat().st_mtime_ns for p in done} == done  # reused, not rewritten
    expected = pd.read_csv(tiny_ingest / "index.csv", keep_default_na=False).set_index("clip_id")
    for row in result.index.itertuples():
        assert expected.loc[row.clip_id, "source_hash"] == row.source_hash
        for name, values in _arrays(tmp_path / row.file).items():
            np.testing.assert_array_equal(values, _arrays(tiny_ingest / row.file)[name])


def test_changed_sources_params_or_damaged_outputs_are_recomputed(tiny_corpus, tiny_ingest, tmp_path):
    clips = _clips(tiny_corpus)[:3]
    shutil.copytree(tiny_ingest / "clips", tmp_path / "clips")
    (tmp_path / "clips" / f"{clips[1].clip_id}.npz").write_bytes(b"cut short")
    (tmp_path / "clips" / f".{clips[2].clip_id}.npz.x1y2.tmp").write_bytes(b"killed while writing")
    result = ingest_dataset(clips, tmp_path, workers=1, progress=False)
    assert (result.reused, result.computed) == (2, 1)
    assert not list((tmp_path / "clips").glob(".*"))
    result = ingest_dataset(clips[:1], tmp_path, IngestParams(face_size=32), workers=1, progress=False)
    assert result.computed == 1
    assert _arrays(tmp_path / "clips" / f"{clips[0].clip_id}.npz")["faces"].shape[1:] == (32, 32, 3)
    edited = dataclasses.replace(clips[0], video=tmp_path / "edited.mp4")
    shutil.copy(clips[2].video, edited.video)  # the file under this clip's name now holds other media
    result = ingest_dataset([edited], tmp_path, workers=1, progress=False)
    assert result.computed == 1
    assert np.array_equal(_arrays(tmp_path / result.index["file"][0])["faces"],
                          _arrays(tiny_ingest / f"clips/{clips[2].clip_id}.npz")["faces"])


@pytest.mark.slow
def test_two_workers_give_the_same_output(tiny_corpus, tiny_ingest, tmp_path):
    clips = _clips(tiny_corpus)[:3]
    result = ingest_dataset(clips, tmp_path, workers=2, progress=False)
    assert result.computed == 3
    for row in result.index.itertuples():
        for name, values in _arrays(tmp_path / row.file).items():
            np.testing.assert_array_equal(values, _arrays(tiny_ingest / row.file)[name])


def test_bad_inputs_are_skipped_with_a_reason(tiny_corpus, tmp_path):
    good = _clips(tiny_corpus)[0]
    corrupt = tmp_path / "corrupt.mp4"
    corrupt.write_bytes(good.video.read_bytes()[: 3000])
    cases = {
        "missing": (tmp_path / "missing.mp4", "file not found"),
        "corrupt": (corrupt, "cannot decode"),
        "mute": (write_video(tmp_path / "mute.mp4", seconds=1.0), "no audio track"),
        "faceless": (write_video(tmp_path / "faceless.mp4", seconds=1.0, audio=burst(1.0, 0.5)),
                     "no face detected (at none of its 10 steps)"),
        "short": (write_video(tmp_path / "short.mp4", seconds=2 / 30, audio=burst(0.1, 0.05)),
                  "shorter than one step (0.067 s < 0.100 s)"),
    }
    clips = [good] + [Clip(name, path, "happy", "s9") for name, (path, _) in cases.items()]
    result = ingest_dataset(clips, tmp_path / "out", workers=1, progress=False)
    assert result.index["clip_id"].tolist() == [good.clip_id]
    report = pd.read_csv(tmp_path / "out" / "ingest_report.csv")
    assert report["path"].tolist() == [str(path) for path, _ in cases.values()]
    for reason, (_, expected) in zip(report["reason"], cases.values(), strict=True):
        assert expected in reason and "\n" not in reason
    assert sorted(os.listdir(tmp_path / "out" / "clips")) == [f"{good.clip_id}.npz"]
    summary = result.summary()
    assert "ingested 1 clips" in summary and "skipped 5 clips" in summary and "file not found" in summary


def test_duplicate_clip_ids_are_refused(tiny_corpus, tmp_path):
    clip = _clips(tiny_corpus)[0]
    with pytest.raises(DatasetError, match=f"clip id '{clip.clip_id}' is used by"):
        ingest_dataset([clip, clip], tmp_path, progress=False)
