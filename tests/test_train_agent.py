"""train_agent.py end to end on a fabricated store: outputs, fair baselines, resume, bad input."""

import json

import pandas as pd
import pytest
import torch
from fast_agents import set_args

from agents import load_policy
from agents.cli import main
from emo_env.data.store import load_store


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)  # the CLI sets agent.threads


def train(store, out, *extra, steps=300):
    args = ["--store", str(store), "--out", str(out), "--no-progress",
            *set_args(f"agent.total_steps={steps}", "agent.checkpoint_every=100")]
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
    assert set(report["comparison"]) >= {"best_fair_return", "on_or_above_oracle_curve", "end_accuracy"}
    assert set(report["fair_baselines"]) == {"threshold", "time-threshold", "fixed"}
    assert report["fair_baselines"]["threshold"]["tuned"]["threshold"] in (0.3, 0.6, 0.9)
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
    tuned = report["config"]["threshold"]  # tuned on the training split, saved with the policy
    assert tuned == report["fair_baselines"]["threshold"]["tuned"]["threshold"]
    assert load_policy(tmp_path / "threshold" / "policy.pt").config.threshold == tuned
    assert train(tiny_store, tmp_path / "reinforce", "--agent", "reinforce", "--seed", "2") == 0


def test_train_agent_reports_bad_input(tiny_store, tmp_path, capsys):
    assert train(tiny_store, tmp_path / "a", "--agent", "nope") == 2
    assert "unknown agent 'nope'" in capsys.readouterr().err
    assert main(["--store", str(tmp_path / "missing.emostore"), "--out", str(tmp_path / "b")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert train(tiny_store, tmp_path / "c", "--set", "agent.dqn.widht=3") == 2
    assert "unknown config key 'agent.dqn.widht'" in capsys.readouterr().err
    # checked even where the agent's own obs_mode (probs for dqn) replaces the env section's
    assert train(tiny_store, tmp_path / "e", "--set", "env.obs_mode=pixels") == 2
    assert "config section env: obs_mode must be one of" in capsys.readouterr().err
    assert not (tmp_path / "e").exists()
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "checkpoint.pt").write_bytes(b"not a checkpoint")
    assert train(tiny_store, tmp_path / "d", "--resume") == 0  # a damaged checkpoint is named, then replaced
    assert "checkpoint.pt is truncated or corrupt (BadZipFile): training from scratch" in capsys.readouterr().out


def test_describe_prints_each_setting_with_its_value_and_doc(capsys):
    assert main(["--describe", "--set", "agent.dqn.learning_rate=1e-3", "--set", "env.latency_cost=0.01"]) == 0
    out = capsys.readouterr().out
    assert "agent.dqn.learning_rate = 0.001" in out and "Adam step size" in out  # the override, the field's doc
    assert "env.latency_cost = 0.01" in out and "Cost of one wait" in out
    assert "agent.dqn.epsilon_end = 0.02" in out and "Exploration rate after the decay" in out
