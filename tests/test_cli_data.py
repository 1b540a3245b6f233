"""The data CLI (``python -m emo_env.data``) and ``ensure_ingested``: commands, outputs, clean errors."""

import json
import shutil
import subprocess
import sys

import pandas as pd
import pytest

from emo_env.config import default_config
from emo_env.data.__main__ import main
from emo_env.data.prepare import ensure_ingested

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_datasets_lists_the_adapters(capsys):
    assert main(["datasets"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert {"synthetic", "csv", "rml", "ravdess", "affectnet"} <= {line.split()[0] for line in lines}


def test_ingest_command_reuses_finished_clips_and_accepts_params_json(tiny_corpus, tiny_ingest, tmp_path, capsys):
    out = tmp_path / "ingest"
    shutil.copytree(tiny_ingest / "clips", out / "clips")
    params = tmp_path / "params.json"
    params.write_text(json.dumps({"num_epochs": 1, "batch_size": 8, "learning_rate": 1e-3, "decay_step": 5,
                                  "decay_rate": 0.5, "modality": "audio", "speaker": "s2"}))
    argv = ["ingest", "--dataset", "synthetic", "--root", str(tiny_corpus), "--out", str(out),
            "--config", str(params), "--no-progress"]
    assert main(argv) == 0
    summary = capsys.readouterr().out
    clips = len(pd.read_csv(tiny_corpus / "clips.csv"))
    assert f"ingested {clips} clips" in summary and f"(0 computed, {clips} reused)" in summary
    pd.testing.assert_frame_equal(pd.read_csv(out / "index.csv"), pd.read_csv(tiny_ingest / "index.csv"))
    assert (out / "s2" / "evaluation_data.csv").is_file()


def test_preview_writes_a_png_from_an_npz_or_a_video(tiny_corpus, tiny_ingest, tmp_path, capsys):
    clip = next((tiny_ingest / "clips").glob("*.npz"))
    assert main(["preview", str(clip), "--out", str(tmp_path / "sheet.png")]) == 0
    video = next(tiny_corpus.glob("*/*.mp4"))
    assert main(["preview", str(video), "--out", str(tmp_path / "video.png")]) == 0
    for name in ("sheet.png", "video.png"):
        data = (tmp_path / name).read_bytes()
        assert data.startswith(PNG_MAGIC) and len(data) > 20_000
    assert "wrote" in capsys.readouterr().out


@pytest.mark.parametrize("argv, message", [
    (["ingest", "--dataset", "nope"], "error: unknown dataset 'nope' (known: "),
    (["ingest", "--set", "data.colour=1"], "error: override 'data.colour=1': unknown config key 'data.colour'"),
    (["ingest", "--root", "{tmp}/none"], "error: synthetic root {tmp}/none does not exist"),
    (["ingest", "--set", "data.step_rate=0"], "error: data.step_rate must be positive, got 0"),
    (["ingest", "--set", "data.face_scale_step=1.0"], "error: data.face_scale_step must be > 1, got 1.0"),
    (["ingest", "--set", "data.face_detect_width=20"],
     "error: data.face_detect_width must be at least 24 (the detector's smallest face, in pixels), got 20"),
    (["preview", "{tmp}/none.npz"], "error: clip file {tmp}/none.npz does not exist"),
    (["preview", "{tmp}/none.mp4"], "error: {tmp}/none.mp4: file not found"),
])
def test_bad_input_is_one_clean_line(argv, message, tmp_path, capsys):
    assert main([arg.format(tmp=tmp_path) for arg in argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"python -m emo_env.data: {message.format(tmp=tmp_path)}")
    assert "Traceback" not in err and err.count("\n") == 1


@pytest.mark.slow
def test_module_entry_point_exits_cleanly(tmp_path):
    run = subprocess.run([sys.executable, "-m", "emo_env.data", "ingest", "--root", str(tmp_path / "none")],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 2 and "Traceback" not in run.stderr
    assert run.stderr.startswith("python -m emo_env.data: error: synthetic root")


@pytest.mark.slow
def test_ensure_ingested_generates_ingests_and_splits_once(tmp_path, capsys):
    config = default_config()
    config["workdir"] = str(tmp_path)
    config["synthetic"].update(speakers=2, clips_per_emotion=1, min_duration_s=0.6, max_duration_s=0.6)
    config["data"].update(workers=1, folds="losgo", groups={"s1": "a", "s2": "b"})
    ingest_dir = ensure_ingested(config)
    assert ingest_dir == tmp_path / "ingest"
    assert len(pd.read_csv(tmp_path / "raw" / "clips.csv")) == 12
    assert len(pd.read_csv(ingest_dir / "index.csv")) == 12
    assert set(pd.read_csv(ingest_dir / "a" / "evaluation_data.csv")["speaker"]) == {"s1"}
    assert "(12 computed, 0 reused)" in capsys.readouterr().err
    assert ensure_ingested(config) == ingest_dir
    assert "(0 computed, 12 reused)" in capsys.readouterr().err


@pytest.mark.slow
def test_generate_command(tmp_path, capsys):
    out = tmp_path / "corpus"
    argv = ["generate", "--out", str(out), "--seed", "3", "--set", "synthetic.speakers=1",
            "--set", "synthetic.clips_per_emotion=1", "--set", "synthetic.min_duration_s=0.5",
            "--set", "synthetic.max_duration_s=0.5", "--set", "data.workers=1"]
    assert main(argv) == 0
    listed = pd.read_csv(out / "clips.csv")
    assert len(listed) == 6 and all((out / path).is_file() for path in listed["path"])
