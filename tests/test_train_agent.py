"""train_agent.py and the agent benchmark end to end on a fabricated store: outputs, resume, bad input."""

import json

import pandas as pd
import pytest
import torch

from agents import load_policy
from agents.benchmark import main as benchmark_main
from agents.cli import main
from emo_env.data.store import load_store

FAST = ["agent.dqn.num_envs=16", "agent.dqn.batch_size=32", "agent.dqn.learning_starts=64",
        "agent.reinforce.num_envs=16", "agent.reinforce.batch_episodes=16", "agent.thresholds=[0.3,0.6,0.9]"]


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)  # the CLI sets agent.threads


def train(store, out, *extra, steps=300):
    args = ["--store", str(store), "--out", str(out), "--no-progress", "--set", f"agent.total_steps={steps}",
            "--set", "agent.checkpoint_every=100"]
    for item in FAST:
        args += ["--set", item]
    return main(args + list(extra))


def test_train_agent_writes_policy_report_plots_and_resumes(tiny_store, tmp_path, capsys):
    out = tmp_path / "run"
    assert train(tiny_store, out) == 0
    for name in ("policy.pt", "checkpoint.pt", "report.json", "report.md", "episodes.csv",
                 "learning_curve.png", "decision_times.png", "tradeoff.png"):
        assert (out / name).is_file(), name
    assert any((out / "tb").iterdir())
    report = json.loads((out / "report.json").read_text())
    store = load_store(tiny_store)
    assert report["agent"] == "dqn" and report["steps"] >= 300
    assert report["metrics"]["episodes"] == len(store.clip_indices("eval"))
    assert report["settings"]["store"] == str(tiny_store) and report["settings"]["obs_mode"] == "probs"
    assert set(report["comparison"]) >= {"best_threshold_hm", "above_pareto_curve", "end_accuracy"}
    episodes = pd.read_csv(out / "episodes.csv")
    assert len(episodes) == report["metrics"]["episodes"]
    assert "Confusion matrix" in (out / "report.md").read_text()
    assert "held-out: accuracy" in capsys.readouterr().out
    first_curve = len(report["learning_curve"])

    assert train(tiny_store, out, "--resume", steps=600) == 0
    resumed = json.loads((out / "report.json").read_text())
    assert resumed["steps"] >= 600
    assert len(resumed["learning_curve"]) > first_curve  # the curve continues instead of restarting
    assert resumed["learning_curve"][:first_curve] == report["learning_curve"]
    assert load_policy(out / "policy.pt").spec.obs_dim == report["obs_dim"]


def test_train_agent_baseline_and_other_agents(tiny_store, tmp_path):
    assert train(tiny_store, tmp_path / "threshold", "--agent", "threshold") == 0
    report = json.loads((tmp_path / "threshold" / "report.json").read_text())
    assert report["steps"] == 0 and report["steps_per_s"] is None
    assert train(tiny_store, tmp_path / "reinforce", "--agent", "reinforce", "--seed", "2") == 0


def test_train_agent_reports_bad_input(tiny_store, tmp_path, capsys):
    assert train(tiny_store, tmp_path / "a", "--agent", "nope") == 2
    assert "unknown agent 'nope'" in capsys.readouterr().err
    assert main(["--store", str(tmp_path / "missing.emostore"), "--out", str(tmp_path / "b")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert train(tiny_store, tmp_path / "c", "--set", "agent.dqn.widht=3") == 2
    assert "unknown config key 'agent.dqn.widht'" in capsys.readouterr().err
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "checkpoint.pt").write_bytes(b"not a checkpoint")
    assert train(tiny_store, tmp_path / "d", "--resume") == 2
    assert "corrupt" in capsys.readouterr().err


@pytest.mark.slow
def test_benchmark_writes_table_and_plot(tiny_store, tmp_path):
    args = ["--store", str(tiny_store), "--out", str(tmp_path), "--agents", "dqn,threshold,end", "--seeds", "0,1",
            "--no-progress", "--set", "agent.total_steps=300", "--set", "agent.benchmark.sweep_agents=[dqn]",
            "--set", "agent.benchmark.latency_costs=[0.001,0.05]"]
    for item in FAST:
        args += ["--set", item]
    assert benchmark_main(args) == 0
    summary = pd.read_csv(tmp_path / "benchmark.csv")
    assert summary["agent"].tolist() == ["dqn", "threshold", "end"]
    assert (summary["seeds"] == 2).all()
    assert summary.loc[summary["agent"] == "end", "earliness_mean"].item() == 1.0
    assert summary.loc[summary["agent"] == "threshold", "accuracy_std"].item() == 0.0  # deterministic
    runs = pd.read_csv(tmp_path / "runs.csv")
    assert len(runs) == 6 and set(runs["seed"]) == {0, 1}
    sweep = pd.read_csv(tmp_path / "sweep.csv")
    assert sweep["latency_cost"].tolist() == [0.001, 0.05]
    assert (tmp_path / "benchmark.png").stat().st_size > 10_000
    text = (tmp_path / "benchmark.md").read_text()
    assert "| dqn |" in text and "latency_cost sweep" in text
    assert (tmp_path / "runs" / "dqn" / "seed1" / "policy.pt").is_file()
