"""pretrain_encoder.py on a real (tiny) synthetic corpus, its errors, and the bundled default:
the rebuild command reproduces its own output, and the shipped files are what it documents."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from fake_ingest import write_fake_ingest

import pretrained_encoders
from emo_env.artifacts import bundled_store_path
from emo_env.config import default_config, load_config
from emo_env.data.ingest import IngestParams
from emo_env.data.prepare import ingest_params
from emo_env.data.store import load_store
from pretrained_encoders.bundle import build_bundle
from pretrained_encoders.cli import main
from pretrained_encoders.data import list_folds
from pretrained_encoders.encoders import load_encoders


def tiny_overrides(tiny_corpus, tiny_ingest, workdir) -> list[str]:
    return [f"workdir={workdir}", f"data.root={tiny_corpus}", f"data.ingest_dir={tiny_ingest}", "data.workers=1",
            "encoder.num_epochs=1", "encoder.fusion_epochs=1", "encoder.temporal_epochs=1",
            "encoder.audio_temporal_epochs=1", "encoder.embed_dim=16", "encoder.hidden_dim=16",
            "encoder.steps_per_clip=4", "encoder.batch_size=16",
            f"encoder.speaker={list_folds(tiny_ingest)[-1]}"]


@pytest.mark.slow
def test_cli_runs_end_to_end_on_a_tiny_corpus(tiny_corpus, tiny_ingest, tmp_path, capsys):
    args = [a for o in tiny_overrides(tiny_corpus, tiny_ingest, tmp_path) for a in ("--set", o)]
    assert main([*args, "--modality", "visual", "--device", "auto", "--no-progress"]) == 0
    speaker = list_folds(tiny_ingest)[-1]
    store = load_store(tmp_path / "stores" / f"synthetic_{speaker}_visual.emostore")
    assert store.modality == "visual" and set(np.array(store.speakers)[store.split == 1]) == {speaker}
    out = capsys.readouterr().out
    assert "clip accuracy at the end of the clip" in out and "report.md" in out
    encoders = load_encoders(tmp_path / "encoders" / f"synthetic_{speaker}_visual" / "encoders.pt")
    assert encoders.spec["data"]["step_rate"] == 10.0
    assert encoders.spec["mel_frames"] == store.metadata["encoders_spec"]["mel_frames"]


@pytest.mark.parametrize("argv, message", [
    (["--config", "no/such.yaml"], "config file no/such.yaml does not exist"),
    (["--set", "encoder.no_such_key=1"], "unknown config key 'encoder.no_such_key'"),
    (["--set", "encoder.embed_dim=0"], "encoder.embed_dim=0"),
])
def test_cli_errors_are_one_clear_line(argv, message, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("pretrained_encoders.cli.ensure_ingested", lambda config, progress: tmp_path)
    assert main([*argv, "--set", f"workdir={tmp_path}", "--no-progress"]) == 2
    assert message in capsys.readouterr().err


def test_cli_unknown_fold_lists_the_known_ones(tiny_ingest, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("pretrained_encoders.cli.ensure_ingested", lambda config, progress: tiny_ingest)
    assert main(["--speaker", "s99", "--set", f"workdir={tmp_path}", "--no-progress"]) == 2
    assert "no fold 's99'" in capsys.readouterr().err


@pytest.mark.slow
def test_bundle_rebuild_reproduces_its_own_output(tiny_corpus, tiny_ingest, tmp_path):
    config = load_config(None, tiny_overrides(tiny_corpus, tiny_ingest, tmp_path / "work"))
    first = build_bundle(config, tmp_path / "first", progress=False)
    second = build_bundle(config, tmp_path / "second", progress=False)
    a, b = load_store(first[1]), load_store(second[1])
    assert a.clip_ids == b.clip_ids and a.metadata == b.metadata
    for name in a.features:
        np.testing.assert_array_equal(a.features[name], b.features[name])
    assert torch.load(first[0], weights_only=True)["checksum"] == torch.load(second[0], weights_only=True)["checksum"]


def test_shipped_bundle_is_the_documented_default_run():
    store = load_store(bundled_store_path())
    encoders = load_encoders(pretrained_encoders.bundled_encoders_path())
    size = bundled_store_path().stat().st_size + pretrained_encoders.bundled_encoders_path().stat().st_size
    assert size < 10_000_000
    run_config = load_config("synthetic")
    assert run_config == default_config()
    for section in ("seed", "workdir", "data", "synthetic", "encoder"):  # what the store depends on
        assert store.metadata["config"][section] == run_config[section], section
    assert store.metadata["encoder_checksums"]["full"] == torch.load(
        pretrained_encoders.bundled_encoders_path(), weights_only=True)["checksum"]
    assert encoders.modality == store.modality == "fusion" and encoders.class_names == store.class_names
    assert IngestParams.from_section(encoders.spec["data"]) == ingest_params(run_config)  # what online steps use
    assert set(np.array(store.speakers)[store.split == 1]) == {"s8"} and store.num_clips == 480
    # the exported held-out beliefs are the bundled encoders run on the exported front-end features
    for clip in store.clip_indices("eval")[:5]:
        voice, face = (torch.from_numpy(store.clip_feature(n, clip).astype(np.float32)) for n in ("voice", "face"))
        with torch.no_grad():
            audio, visual = encoders.audio.top(voice)[0], encoders.visual.top(face)[0]
            fused = encoders.fusion(audio, visual)[0]
            hidden, logits = encoders.temporal(fused[None])
        np.testing.assert_allclose(store.clip_feature("probs", clip).astype(np.float32),
                                   torch.softmax(logits[0], -1).numpy(), atol=0.02)


@pytest.mark.slow
def test_all_folds_writes_a_cross_fold_summary(tmp_path, capsys, monkeypatch):
    ingest = write_fake_ingest(tmp_path / "ingest", speakers=3, clips_per_class=1)
    monkeypatch.setattr("pretrained_encoders.cli.ensure_ingested", lambda config, progress: ingest)
    overrides = [f"workdir={tmp_path / 'work'}", "encoder.num_epochs=1", "encoder.fusion_epochs=1",
                 "encoder.temporal_epochs=1", "encoder.audio_temporal_epochs=1", "encoder.embed_dim=16",
                 "encoder.hidden_dim=16", "encoder.steps_per_clip=4", "encoder.batch_size=16", "encoder.workers=1"]
    assert main([*(a for o in overrides for a in ("--set", o)), "--all-folds", "--no-progress"]) == 0
    out_dir = tmp_path / "work" / "encoders" / "synthetic_all-folds_fusion"
    assert f"cross-fold summary: {out_dir / 'summary.md'}" in capsys.readouterr().out
    summary = json.loads((out_dir / "summary.json").read_text())
    assert summary["folds"] == ["s1", "s2", "s3"] and summary["clips"] == 18
    reports = [json.loads((tmp_path / "work" / "encoders" / f"synthetic_{f}_fusion" / "report.json").read_text())
               for f in summary["folds"]]
    end = [r["clip_accuracy"]["fusion"] for r in reports]
    pooled = summary["accuracy_vs_fraction"]["fusion"][-1]
    assert pooled["mean"] == pytest.approx(np.mean(end)) and pooled["low"] <= pooled["mean"] <= pooled["high"]
    assert [row["fold"] for row in summary["per_fold"]] == ["s1", "s2", "s3"]
    assert {row["fraction"] for row in summary["calibration"]["eval"]} == {0.2, 0.5, 1.0}
    assert "| s2 |" in (out_dir / "summary.md").read_text()
    assert (out_dir / "summary.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
