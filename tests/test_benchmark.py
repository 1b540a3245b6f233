"""The agent benchmark: fair baselines tuned on the training split only, pooled statistics over folds,
the same results from every executor (this process, local processes, Ray), resume, inner validation."""

import json

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import write_fabricated_store
from fast_agents import set_args

import agents.baselines
import agents.grid
from agents.baselines import ThresholdPolicy, TimeThresholdPolicy, sweep
from agents.benchmark.cli import main as benchmark_main
from agents.evaluation import area_under_tradeoff
from agents.grid import Task, run_grid
from agents.stats import improvement_table, interval_table, score_matrix
from agents.training import env_spec, run_agent
from agents.validation import inner_speaker, inner_validation_store
from emo_env.envs.episodes import open_store


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)  # the CLI sets agent.threads


@pytest.fixture(scope="module")
def two_folds(tmp_path_factory):
    root = tmp_path_factory.mktemp("folds")
    return {"a": write_fabricated_store(root / "a.emostore", seed=0),  # 12 held-out clips
            "b": write_fabricated_store(root / "b.emostore", seed=1, clips_per_class=3)}  # 18


def test_a_fair_baseline_is_tuned_on_the_training_split_only(tiny_store, monkeypatch):
    store = open_store(tiny_store)
    spec = env_spec(store, "probs")
    kwargs = {"store": store, "obs_mode": "probs"}
    splits = []
    evaluate = agents.baselines.evaluate
    monkeypatch.setattr(agents.baselines, "evaluate",
                        lambda p, kw, split: splits.append(split) or evaluate(p, kw, split))
    policy = ThresholdPolicy(spec, {"candidates": [0.3, 0.5, 0.7, 0.9]})
    with pytest.raises(ValueError, match="threshold unset"):
        policy.act(np.zeros((1, 7), np.float32), np.ones((1, 7), np.int8))
    policy.learn({**kwargs, "split": "train"}, 0)
    assert set(splits) == {"train"} and len(splits) == 4
    train = sweep(ThresholdPolicy, spec, [{"threshold": t} for t in (0.3, 0.5, 0.7, 0.9)], kwargs, "train")
    assert policy.config.threshold == train.loc[train["mean_return"].idxmax(), "threshold"]
    fixed = ThresholdPolicy(spec, {"threshold": 0.8})
    fixed.learn({**kwargs, "split": "train"}, 0)  # a value set in the config is kept
    assert fixed.config.threshold == 0.8 and fixed.tuning is None
    splits.clear()
    run = run_agent("time-threshold", env_kwargs=kwargs, hyperparameters={"start_candidates": [0.5, 0.9],
                                                                       "end_candidates": [0.3, 0.6]})
    assert set(splits) == {"train"} and len(splits) == 4  # tuned on the training split only, then evaluated
    assert set(run.evaluation.episodes["speaker"]) == {"s3"}


def test_time_threshold_falls_linearly_with_time():
    policy = TimeThresholdPolicy(env_spec(open_store(None), "probs"), {"start": 0.9, "end": 0.5})
    probs = np.array([[0.65, 0.35], [0.65, 0.35], [0.65, 0.35]])
    assert policy.ready(probs, np.array([0.0, 0.5, 1.0])).tolist() == [False, False, True]
    assert policy.ready(np.array([[0.71, 0.29]]), np.array([0.5])).tolist() == [True]  # 0.9 + (0.5 - 0.9) * 0.5


def test_area_under_tradeoff_integrates_the_best_accuracy_by_earliness():
    points = pd.DataFrame({"earliness": [0.2, 0.5, 0.6, 0.8], "accuracy": [0.5, 0.9, 0.7, 1.0]})
    # 0 before 0.2, 0.5 on [0.2, 0.5), 0.9 on [0.5, 0.8), 1.0 on [0.8, 1]; the point at 0.6 is dominated
    assert area_under_tradeoff(points) == pytest.approx(0.3 * 0.5 + 0.3 * 0.9 + 0.2 * 1.0)


def _runs(means):
    rng = np.random.default_rng(0)
    return pd.DataFrame([{"agent": agent, "fold": f"s{fold}", "seed": seed, "mean_return": rng.normal(mean, 0.02)}
                         for agent, mean in means.items() for fold in range(4) for seed in range(5)])


def test_statistics_come_from_rliable_over_seeds_within_folds():
    runs = _runs({"good": 0.8, "bad": 0.5})
    assert score_matrix(runs, "good", "mean_return").shape == (5, 4)  # [seeds, folds], as rliable expects
    table = interval_table(runs, ["good", "bad"], ["mean_return"], reps=200).set_index("agent")
    assert table.loc["good", "mean_return"] == pytest.approx(runs[runs.agent == "good"]["mean_return"].mean())
    assert (table.loc["good", "mean_return_low"] < table.loc["good", "mean_return"]
            < table.loc["good", "mean_return_high"])
    assert table.loc["bad", "mean_return_high"] < table.loc["good", "mean_return_low"]
    improvement = improvement_table(runs, ["good"], ["bad"], "mean_return", reps=200).iloc[0]
    assert improvement["probability_of_improvement"] == 1.0
    assert improvement["mean_return_difference_low"] > 0.25
    again = improvement_table(runs, ["good"], ["bad"], "mean_return", reps=200).iloc[0]
    assert again.equals(improvement)  # seeded bootstrap
    with pytest.raises(ValueError, match="missing"):
        score_matrix(runs.drop(index=3), "good", "mean_return")


def _tasks(stores, tmp_path):
    settings = {"hyperparameters": {"num_envs": 16, "batch_size": 32, "learning_starts": 64}, "total_steps": 200,
                "checkpoint_every": 0, "eval_every": 0, "progress": False}
    rule = {"hyperparameters": {}, "total_steps": None, "checkpoint_every": 0, "eval_every": 0, "progress": False}
    return [Task(fold, agent, seed, {"store": str(store), "obs_mode": "probs"}, settings if agent == "dqn" else rule,
                 device="cpu", out_dir=str(tmp_path / fold / agent / str(seed)))
            for fold, store in stores.items() for agent in ("dqn", "threshold") for seed in (0, 1)]


def _same_results(a, b):
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        assert (x.task.fold, x.task.agent, x.task.seed) == (y.task.fold, y.task.agent, y.task.seed)
        pd.testing.assert_frame_equal(x.episodes, y.episodes)
        assert x.config == y.config


@pytest.mark.slow
def test_local_processes_give_the_results_of_one_process(two_folds, tmp_path):
    serial = run_grid(_tasks(two_folds, tmp_path / "serial"))
    _same_results(serial, run_grid(_tasks(two_folds, tmp_path / "pool"), workers=2))


@pytest.mark.slow
def test_ray_runs_the_grid_and_gives_the_same_results(two_folds, tmp_path):
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        on_ray = run_grid(_tasks(two_folds, tmp_path / "ray"), use_ray=True)
    finally:
        ray.shutdown()
    _same_results(run_grid(_tasks(two_folds, tmp_path / "serial")), on_ray)


@pytest.mark.slow
def test_benchmark_pools_folds_and_resumes(two_folds, tmp_path, monkeypatch, capsys):
    args = ["--store", str(two_folds["a"]), "--out", str(tmp_path), "--agents", "dqn,threshold,fixed,end",
            "--seeds", "0,1", "--workers", "1", "--no-progress",
            *set_args("agent.total_steps=300", "agent.benchmark.sweep_agents=[dqn]",
                      "agent.benchmark.latency_costs=[0.001,0.005]", "agent.benchmark.bootstrap_reps=100")]
    monkeypatch.setattr("agents.benchmark.cli.fold_stores", lambda config, folds, **kw: two_folds)
    assert benchmark_main([a for a in args if a not in ("--store", str(two_folds["a"]))] + ["--folds", "all"]) == 0
    summary = pd.read_csv(tmp_path / "benchmark.csv").set_index("agent")
    assert summary.index.tolist() == ["dqn", "threshold", "fixed", "end"]
    runs = pd.read_csv(tmp_path / "runs.csv")
    assert len(runs) == 2 * 4 * 2 and set(runs["fold"]) == {"a", "b"}
    episodes = pd.read_csv(tmp_path / "episodes.csv")
    clips = sum(len(open_store(s).clip_indices("eval")) for s in two_folds.values())
    assert len(episodes) == 4 * 2 * clips  # every held-out clip of every run
    dqn = episodes[episodes["agent"] == "dqn"].assign(correct=lambda e: e["prediction"] == e["label"])
    per_run = dqn.groupby(["fold", "seed"])["correct"].mean()
    assert summary.loc["dqn", "accuracy"] == pytest.approx(per_run.mean())  # each fold weighs the same
    assert summary.loc["end", "earliness"] == 1.0
    assert summary.loc["threshold", "mean_return_low"] == summary.loc["threshold", "mean_return_high"]  # deterministic
    improvement = pd.read_csv(tmp_path / "improvement.csv")
    assert set(zip(improvement["agent"], improvement["baseline"], strict=True)) == {
        ("dqn", "threshold"), ("dqn", "fixed"), ("end", "threshold"), ("end", "fixed")}
    folds = pd.read_csv(tmp_path / "folds.csv")
    assert len(folds) == 4 * 2 and (folds.loc[folds["agent"] == "end", "earliness_spread"] == 0).all()
    sweep_table = pd.read_csv(tmp_path / "sweep.csv")
    assert sweep_table["latency_cost"].tolist() == [0.001, 0.005]
    # the point at the benchmark's own latency cost (0.005) is the first seed's main run, not run again
    first = runs[(runs["agent"] == "dqn") & (runs["seed"] == 0)]
    assert sweep_table.set_index("latency_cost").loc[0.005, "mean_return"] == pytest.approx(first["mean_return"].mean())
    assert not (tmp_path / "sweep" / "a" / "dqn" / "latency_cost=0.005").exists()
    report = json.loads((tmp_path / "benchmark.json").read_text())
    assert report["folds"] == ["a", "b"] and report["wall_time_s"] > 0
    limits = report["limits"]  # no policy beats the clairvoyant; the oracle is one of the thresholds swept
    assert limits["clairvoyant"]["mean_return"] >= max(limits["oracle"]["mean_return"], summary["mean_return"].max())
    assert limits["oracle"]["mean_return"] == pytest.approx(pd.read_csv(tmp_path / "oracle.csv")["mean_return"].max())
    text = (tmp_path / "benchmark.md").read_text()
    assert "oracle" in text.lower() and "| dqn | threshold |" in text
    assert (tmp_path / "runs" / "b" / "dqn" / "seed1" / "policy.pt").is_file()

    assert (tmp_path / "benchmark.png").stat().st_size > 10_000

    calls = []
    run_agent_ = agents.grid.run_agent
    monkeypatch.setattr("agents.grid.run_agent", lambda *a, **k: calls.append(k["resume"]) or run_agent_(*a, **k))
    folds_args = [a for a in args if a not in ("--store", str(two_folds["a"]))] + ["--folds", "all", "--resume"]
    assert benchmark_main(folds_args) == 0
    assert calls == []  # finished runs are read back, and the report says so
    assert "18 of 18 runs read back" in (tmp_path / "benchmark.md").read_text()
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "runs.csv").drop(columns="train_time_s"),
                                  runs.drop(columns="train_time_s"))
    assert benchmark_main(folds_args + ["--no-sweep", "--set", "env.latency_cost=0.01"]) == 0
    assert calls == [False] * len(runs)  # other rewards: every run again, from scratch


def test_inner_validation_holds_out_a_training_speaker_and_drops_the_test_speaker(tiny_store, tmp_path):
    store = open_store(tiny_store)  # s1, s2 train; s3 held out
    assert inner_speaker(store) == "s1"
    inner = open_store(inner_validation_store(store, tmp_path / "inner.emostore"))
    assert sorted(set(inner.speakers)) == ["s1", "s2"]
    assert {inner.speakers[i] for i in inner.clip_indices("eval")} == {"s1"}
    for clip, clip_id in enumerate(inner.clip_ids):
        source = store.clip_ids.index(clip_id)
        np.testing.assert_array_equal(inner.clip_feature("probs", clip), store.clip_feature("probs", source))
        assert inner.labels[clip] == store.labels[source]
    with pytest.raises(ValueError, match="'s3' must be one of at least two training speakers"):
        inner_validation_store(store, tmp_path / "bad.emostore", "s3")
