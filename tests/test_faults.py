"""Fault injection: every kind of file a run reads back is damaged in four ways (cut short, overwritten
with a line of text, bytes flipped in the middle, a file that another file refers to deleted), then the
command that reads it runs again. Where the file's source is at hand it is rebuilt and named; where it
is not, the command stops with one line that names the file and says what to do. No traceback reaches
the user, and two ingests writing one folder at once both end cleanly."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import write_fabricated_store
from fast_agents import set_args

from agents import load_policy
from agents.benchmark.cli import main as benchmark_main
from agents.cli import main as train_main
from emo_env.artifacts import bundled_store_path, encoder_outputs
from emo_env.config import load_config
from emo_env.data.__main__ import main as data_main
from emo_env.data.clip_file import read_clip_file
from emo_env.data.store import load_store
from emo_online.cli import main as online_main
from pretrained_encoders import bundled_encoders_path
from pretrained_encoders.cli import main as pretrain_main
from pretrained_encoders.pipeline import prepare_run_dir

DAMAGES = ("truncate", "junk", "flip", "delete")
SMALL_CLIPS = ("s1_happy", "s1_sad", "s2_happy", "s2_sad")  # clip id prefixes of the small corpus
SMALL_CLASSES = "data.classes=[happy,sad]"


def damage(path: Path, how: str) -> None:
    """Damage ``path`` as an interrupted copy, a full disk, a sync tool or a careless hand would."""
    data = path.read_bytes()
    if how == "truncate":
        path.write_bytes(data[: len(data) // 2])
    elif how == "junk":
        path.write_bytes(b"conflicted copy: this file was replaced by the sync tool\n")
    elif how == "flip":
        middle = len(data) // 2
        path.write_bytes(data[:middle] + bytes(b ^ 0xFF for b in data[middle : middle + 16]) + data[middle + 16 :])
    else:
        path.unlink()


@dataclass
class Outcome:
    code: int
    out: str
    err: str


def run(main, argv: list[str], capsys) -> Outcome:
    """Run a CLI's main function (``capsys``: pytest's capsys or capfd); whatever it says, no traceback."""
    capsys.readouterr()
    code = main([str(arg) for arg in argv])
    captured = capsys.readouterr()
    assert "Traceback" not in captured.out + captured.err
    return Outcome(code, captured.out, captured.err)


def assert_stops_with_one_line(outcome: Outcome, path: Path, remedy: str) -> None:
    """Exit status 2 and one line on stderr naming ``path`` and saying what to do."""
    assert outcome.code == 2
    lines = outcome.err.strip().splitlines()
    assert len(lines) == 1 and str(path) in lines[0] and remedy in lines[0], outcome.err


@pytest.fixture(autouse=True, scope="module")
def restore_threads():
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)  # the CLIs set their own


@pytest.fixture(scope="module")
def small_corpus(tiny_corpus, tmp_path_factory) -> Path:
    """Four clips of the tiny corpus (two speakers, two emotions): a corpus root of its own."""
    root = tmp_path_factory.mktemp("small_corpus")
    table = pd.read_csv(tiny_corpus / "clips.csv")
    table = table[table["path"].map(lambda p: Path(p).stem.rsplit("_", 1)[0] in SMALL_CLIPS)]
    assert len(table) == len(SMALL_CLIPS)
    for relative in table["path"]:
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(tiny_corpus / relative, root / relative)
    table.to_csv(root / "clips.csv", index=False)
    return root


def ingest_args(corpus: Path, out: Path) -> list:
    return ["ingest", "--root", corpus, "--out", out, "--workers", "1", "--quiet", "--set", SMALL_CLASSES]


@pytest.fixture(scope="module")
def small_ingest(small_corpus, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("small_ingest")
    assert data_main([str(a) for a in ingest_args(small_corpus, out)]) == 0
    return out


# --- ingested clip files: made again from the clip's media ---------------------------------------------

@pytest.mark.parametrize("how", DAMAGES)
def test_a_damaged_clip_file_is_made_again_from_its_media(how, small_corpus, small_ingest, tmp_path, capsys):
    ingest = shutil.copytree(small_ingest, tmp_path / "ingest")
    victim = sorted((ingest / "clips").glob("*.npz"))[1]
    before = read_clip_file(victim)
    damage(victim, how)
    outcome = run(data_main, ingest_args(small_corpus, ingest), capsys)
    assert outcome.code == 0
    assert "(1 computed, 3 reused)" in outcome.out
    rebuilt = [line for line in outcome.out.splitlines() if line.startswith("rebuilt from its media: ")]
    assert len(rebuilt) == 1 and f"clip file {victim} " in rebuilt[0], outcome.out
    index = pd.read_csv(ingest / "index.csv")
    assert len(index) == len(SMALL_CLIPS)
    for file in index["file"]:
        read_clip_file(ingest / file)  # every clip readable
    after = read_clip_file(victim)
    for name, array in before.items():
        np.testing.assert_array_equal(after[name], array)  # the same samples as before the damage


def test_two_ingests_into_one_folder_at_once_both_end_cleanly(small_corpus, tmp_path):
    out = tmp_path / "ingest"
    command = [sys.executable, "-m", "emo_env.data", *map(str, ingest_args(small_corpus, out))]
    runs = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    results = [(process.wait(timeout=300), *process.communicate()) for process in runs]
    for code, out_text, err_text in results:
        assert code == 0 and "Traceback" not in out_text + err_text, err_text
    computed = [int(text.split("(")[1].split(" computed")[0]) for _, text, _ in results]
    assert sum(computed) == len(SMALL_CLIPS)  # one run made every clip, the other waited and reused them
    index = pd.read_csv(out / "index.csv")
    assert len(index) == len(SMALL_CLIPS)
    for file in index["file"]:
        read_clip_file(out / file)
    assert not list((out / "clips").glob(".*.tmp"))


# --- feature stores: a store given by path has no source here, so one line -------------------------------

@pytest.mark.parametrize("how", DAMAGES)
def test_a_damaged_feature_store_stops_train_agent_with_one_line(how, tiny_store, tmp_path, capsys):
    store = Path(shutil.copy(tiny_store, tmp_path / "fold.emostore"))
    damage(store, how)
    outcome = run(train_main, ["--store", store, "--out", tmp_path / "run", "--agent", "end", "--no-progress"], capsys)
    assert_stops_with_one_line(outcome, store, "rebuild it with pretrain_encoder.py")
    assert not (tmp_path / "run").exists()


# --- the per-fold stores the benchmark reuses: rebuilt from the ingest and encoders ----------------------

@pytest.mark.parametrize("how", DAMAGES)
def test_a_damaged_fold_store_is_rebuilt_before_the_benchmark_uses_it(how, small_corpus, small_ingest, tmp_path,
                                                                    capsys, monkeypatch):
    overrides = [f"workdir={tmp_path}", f"data.root={small_corpus}", f"data.ingest_dir={small_ingest}",
                 "data.workers=1", SMALL_CLASSES]
    config = load_config(None, overrides)
    stores = {fold: encoder_outputs(config, fold)[1] for fold in ("s1", "s2")}
    for seed, store in enumerate(stores.values()):
        write_fabricated_store(store, seed=seed)
    built = []

    def train_fold(config, ingest_dir, fold, **kwargs):  # stands in for the encoders' training: its own tests
        built.append(fold)
        write_fabricated_store(stores[fold], seed=7)

    monkeypatch.setattr("pretrained_encoders.folds.run_fold", train_fold)
    damage(stores["s1"], how)
    outcome = run(benchmark_main, ["--folds", "all", "--agents", "end", "--seed", "0", "--no-sweep", "--workers", "1",
                                   "--out", tmp_path / "bench", "--no-progress",
                                   *set_args(*overrides, "agent.benchmark.bootstrap_reps=100")], capsys)
    assert outcome.code == 0, outcome.err
    assert built == ["s1"]  # only the damaged store is made again
    expected = (f"building the store of fold s1: {stores['s1']}" if how == "delete"
                else f"rebuilding the store of fold s1: {stores['s1']}")
    assert expected in outcome.out
    load_store(stores["s1"])
    assert sorted(pd.read_csv(tmp_path / "bench" / "runs.csv")["fold"]) == ["s1", "s2"]


# --- agent checkpoints: the run retrains from scratch, naming the checkpoint ------------------------------

def train_args(store: Path, out: Path) -> list:
    return ["--store", store, "--out", out, "--no-progress",
            *set_args("agent.total_steps=300", "agent.checkpoint_every=100")]


@pytest.fixture(scope="module")
def trained_run(tiny_store, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("agent") / "run"
    assert train_main([str(a) for a in train_args(tiny_store, out)]) == 0
    return out


@pytest.mark.parametrize("how", DAMAGES)
def test_a_damaged_agent_checkpoint_is_named_and_training_starts_over(how, tiny_store, trained_run, tmp_path,
                                                                      capsys):
    out = shutil.copytree(trained_run, tmp_path / "run")
    checkpoint = out / "checkpoint.pt"
    damage(checkpoint, how)
    outcome = run(train_main, [*train_args(tiny_store, out), "--resume"], capsys)
    assert outcome.code == 0, outcome.err
    named = [line for line in outcome.out.splitlines() if str(checkpoint) in line and "training from scratch" in line]
    assert len(named) == 1, outcome.out
    assert how == "delete" or " corrupt " in named[0] + " "
    load_policy(out / "policy.pt")
    assert json.loads((out / "report.json").read_text())["steps"] >= 300


# --- policies and encoders read by the online recognizer: no source at hand, one line ---------------------

@pytest.fixture(scope="module")
def online_run(tmp_path_factory) -> tuple[Path, Path]:
    """An agent run (the threshold rule) on a copy of the bundled store, and a copy of its encoders."""
    folder = tmp_path_factory.mktemp("online")
    store = Path(shutil.copy(bundled_store_path(), folder / "bundled.emostore"))
    encoders = Path(shutil.copy(bundled_encoders_path(), folder / "encoders.pt"))
    assert train_main(["--store", str(store), "--out", str(folder / "run"), "--agent", "threshold",
                       "--no-progress"]) == 0
    return folder / "run", encoders


def test_the_online_recognizer_runs_on_the_intact_files(online_run, small_corpus, capsys):
    run_dir, encoders = online_run
    video = next(small_corpus.glob("s1/*.mp4"))
    outcome = run(online_main, [video, "--run", run_dir, "--encoders", encoders, "--fast", "--json"], capsys)
    assert outcome.code == 0, outcome.err
    assert json.loads(outcome.out.strip().splitlines()[-1])["emotion"]


@pytest.mark.parametrize("how", DAMAGES)
def test_a_damaged_policy_stops_the_online_recognizer_with_one_line(how, online_run, small_corpus, tmp_path, capsys):
    run_dir = shutil.copytree(online_run[0], tmp_path / "run")
    policy = run_dir / "policy.pt"
    damage(policy, how)
    video = next(small_corpus.glob("s1/*.mp4"))
    outcome = run(online_main, [video, "--run", run_dir, "--encoders", online_run[1], "--fast"], capsys)
    if how == "delete":
        assert_stops_with_one_line(outcome, run_dir, "train_agent.py writes it")
    else:
        assert_stops_with_one_line(outcome, policy, "train it again with train_agent.py")


@pytest.mark.parametrize("how", DAMAGES)
def test_a_damaged_run_report_stops_the_online_recognizer_with_one_line(how, online_run, small_corpus, tmp_path,
                                                                        capsys):
    run_dir = shutil.copytree(online_run[0], tmp_path / "run")
    report = run_dir / "report.json"
    damage(report, how)
    video = next(small_corpus.glob("s1/*.mp4"))
    outcome = run(online_main, [video, "--run", run_dir, "--encoders", online_run[1], "--fast"], capsys)
    assert_stops_with_one_line(outcome, report, "train_agent.py")


@pytest.mark.parametrize("how", DAMAGES)
def test_damaged_encoders_stop_the_online_recognizer_with_one_line(how, online_run, small_corpus, tmp_path, capsys):
    encoders = Path(shutil.copy(online_run[1], tmp_path / "encoders.pt"))
    damage(encoders, how)
    video = next(small_corpus.glob("s1/*.mp4"))
    outcome = run(online_main, [video, "--run", online_run[0], "--encoders", encoders, "--fast"], capsys)
    remedy = "pass the encoders.pt that exported it" if how == "delete" else "rebuild it with pretrain_encoder.py"
    assert_stops_with_one_line(outcome, encoders, remedy)


# --- benchmark run folders under --resume: a damaged record is never read back; the run is made again ----

def bench_args(store: Path, out: Path) -> list:
    return ["--store", store, "--agents", "dqn,threshold", "--seed", "0", "--no-sweep", "--out", out,
            "--workers", "1", "--no-progress", "--resume",
            *set_args("agent.total_steps=300", "agent.checkpoint_every=100", "agent.benchmark.bootstrap_reps=100")]


@pytest.fixture(scope="module")
def benchmark_run(tiny_store, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("bench") / "out"
    assert benchmark_main([str(a) for a in bench_args(tiny_store, out)]) == 0
    return out


def _runs(out: Path) -> pd.DataFrame:
    return pd.read_csv(out / "runs.csv").drop(columns="train_time_s")


@pytest.mark.parametrize("how", DAMAGES)
def test_a_damaged_benchmark_record_is_run_again_under_resume(how, tiny_store, benchmark_run, tmp_path, capsys):
    out = shutil.copytree(benchmark_run, tmp_path / "out")
    record = next(out.glob("runs/*/dqn/seed0/result.json"))
    damage(record, how)
    outcome = run(benchmark_main, bench_args(tiny_store, out), capsys)
    assert outcome.code == 0, outcome.err
    named = [line for line in outcome.out.splitlines() if str(record) in line]
    assert len(named) == (0 if how == "delete" else 1) and all("running " in line for line in named), outcome.out
    assert "1 of 2 runs read back" in (out / "benchmark.md").read_text()
    pd.testing.assert_frame_equal(_runs(out), _runs(benchmark_run))  # continued from its checkpoint: same figures


def test_a_changed_digit_in_a_benchmark_record_is_noticed(tiny_store, benchmark_run, tmp_path, capsys):
    out = shutil.copytree(benchmark_run, tmp_path / "out")
    record = next(out.glob("runs/*/threshold/seed0/result.json"))
    text = record.read_text()
    at = text.index('"train_time_s": ') + len('"train_time_s": ')
    record.write_text(text[:at] + ("7" if text[at] != "7" else "8") + text[at + 1 :])  # still valid JSON
    outcome = run(benchmark_main, bench_args(tiny_store, out), capsys)
    assert outcome.code == 0 and f"{record} is corrupt (checksum mismatch): running " in outcome.out
    pd.testing.assert_frame_equal(_runs(out), _runs(benchmark_run))


# --- the encoders' training checkpoints under pretrain_encoder.py --resume: the stage trains again -------

def pretrain_args(corpus: Path) -> list:
    """A tiny pretraining run of the small corpus in the current folder (relative paths: the run's recorded
    config is the same in every copy of the folder)."""
    return ["--speaker", "s2", "--no-progress", "--device", "cpu", "--resume", *set_args(
        "workdir=work", f"data.root={corpus}", "data.ingest_dir=ingest", "data.workers=1", SMALL_CLASSES,
        "encoder.num_epochs=1", "encoder.fusion_epochs=1", "encoder.temporal_epochs=1",
        "encoder.audio_temporal_epochs=1", "encoder.embed_dim=8", "encoder.hidden_dim=8", "encoder.steps_per_clip=2",
        "encoder.batch_size=8", "encoder.oof_folds=0",
        "encoder.workers=1")]


@pytest.fixture(scope="module")
def pretrained(small_corpus, small_ingest, tmp_path_factory) -> Path:
    base = tmp_path_factory.mktemp("pretrained")
    shutil.copytree(small_ingest, base / "ingest")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(base)
        assert pretrain_main([str(a) for a in pretrain_args(small_corpus)]) == 0
    return base


def test_damaged_encoder_checkpoints_train_their_stages_again(small_corpus, pretrained, tmp_path, capsys,
                                                              monkeypatch):
    """The four damages in one rerun, each to another stage's checkpoint (a pretraining run costs most);
    a damaged clip file is remade by the same rerun, which ingests first."""
    monkeypatch.chdir(shutil.copytree(pretrained, tmp_path / "base"))
    checkpoints = sorted(Path("work").glob("encoders/*/checkpoints/*.pt"))
    assert len(checkpoints) >= len(DAMAGES)
    victims = dict(zip(DAMAGES, checkpoints, strict=False))
    for how, path in victims.items():
        damage(path, how)
    clip = sorted(Path("ingest/clips").glob("*.npz"))[0]
    damage(clip, "flip")
    outcome = run(pretrain_main, pretrain_args(small_corpus), capsys)
    assert outcome.code == 0, outcome.err
    assert f"rebuilt from its media: clip file {clip} is truncated or corrupt" in outcome.err  # ingests first
    for how, path in victims.items():
        named = [line for line in outcome.err.splitlines() if str(path) in line]
        assert len(named) == (0 if how == "delete" else 1), (how, outcome.err)
        assert all(line.endswith("again from its start") for line in named)
        assert path.is_file()  # made again
    load_store(next(Path("work/stores").glob("*.emostore")))


def test_a_damaged_encoder_run_record_drops_its_checkpoints(tmp_path, capsys):
    run_dir = tmp_path / "run"
    prepare_run_dir(run_dir, {"seed": 0, "encoder": {"embed_dim": 8}}, resume=False)
    (run_dir / "checkpoints").mkdir()
    (run_dir / "checkpoints" / "audio.pt").write_bytes(b"made with another config, perhaps")
    damage(run_dir / "run_config.json", "flip")
    prepare_run_dir(run_dir, {"seed": 0, "encoder": {"embed_dim": 8}}, resume=True)
    assert f"--resume: {run_dir / 'run_config.json'} is corrupt" in capsys.readouterr().err
    assert not (run_dir / "checkpoints").exists()  # which config they belong to is unknown
    assert json.loads((run_dir / "run_config.json").read_text())["seed"] == 0
