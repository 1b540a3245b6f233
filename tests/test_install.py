"""The built wheel in a fresh virtual environment outside the checkout: what a user gets from
``pip install emo-env``. The package data is in the wheel, and the documented commands run from an
empty folder: the default training run (``emo-env train``, a small budget) and the recognizer on a
generated clip (``emo-env data generate``, then ``emo-env online CLIP --json``)."""

import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import emo_env

REPO = Path(__file__).resolve().parents[1]
NOT_SOURCE = shutil.ignore_patterns(".git", ".venv", "venv", "runs", "build", "dist", "*.egg-info", "__pycache__",
                                    ".*_cache", ".hypothesis", "site")


def run(command: list, cwd: Path, timeout: float) -> str:
    done = subprocess.run([str(part) for part in command], cwd=cwd, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{' '.join(map(str, command))}\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}"
    return done.stdout


@pytest.mark.slow
def test_the_wheel_installs_in_a_fresh_venv_and_runs_the_documented_commands(tmp_path):
    source = tmp_path / "source"  # a copy, so that building leaves nothing in the checkout
    shutil.copytree(REPO, source, ignore=NOT_SOURCE)
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "--wheel-dir", tmp_path / "dist", source],
        tmp_path, timeout=300)
    wheel = next((tmp_path / "dist").glob("emo_env-*.whl"))
    assert wheel.name.startswith(f"emo_env-{emo_env.__version__}-")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        entry_points = next(archive.read(n).decode() for n in names if n.endswith(".dist-info/entry_points.txt"))
    for shipped in ("emo_env/configs/synthetic.yaml", "emo_env/configs/ravdess.yaml", "emo_env/defaults.yaml",
                    "emo_env/bundled/synthetic.emostore", "pretrained_encoders/bundled/encoders.pt"):
        assert shipped in names, shipped
    assert any(n.endswith(".dist-info/licenses/LICENSE") or n.endswith(".dist-info/LICENSE") for n in names)
    assert "emo-env = emo_online.commands:main" in entry_points
    assert not any(n.startswith(("tests/", "benchmarks/", "docs/")) for n in names)

    venv = tmp_path / "venv"
    run([sys.executable, "-m", "venv", venv], tmp_path, timeout=120)
    # --no-compile: the byte code is written on first import instead (the install takes a third less)
    run([venv / "bin" / "pip", "install", "--quiet", "--no-compile", wheel], tmp_path, timeout=900)
    work = tmp_path / "work"  # an empty folder: no checkout, no configs/ beside it
    work.mkdir()
    emo = venv / "bin" / "emo-env"
    assert run([emo, "--version"], work, timeout=60).strip() == f"emo-env {emo_env.__version__}"

    out = run([emo, "train", "--set", "agent.total_steps=3000", "--no-progress", "--out", "dqn"], work, timeout=600)
    assert "held-out: accuracy" in out and (work / "dqn" / "policy.pt").is_file()

    run([emo, "data", "generate", "--out", "corpus", "--seed", "5", "--no-progress", "--set", "synthetic.speakers=1",
         "--set", "synthetic.clips_per_emotion=1", "--set", "data.workers=1"], work, timeout=300)
    clip = work / "corpus" / "s1" / "s1_happy_01.mp4"
    for policy in ([], ["--run", "dqn"]):  # the bundled default, and the policy just trained
        lines = run([emo, "online", clip, "--json", "--fast", "--device", "cpu", *policy], work, timeout=300)
        decision = json.loads(lines.splitlines()[-1])
        assert decision["emotion"] in decision["probs"] and 0 <= decision["time_s"] <= 4.0
