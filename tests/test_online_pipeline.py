"""The online recognizer against the offline pipeline on generated clips: encoders trained on the tiny
corpus, their feature store, the env and the same policy give the same observations and decisions
(step and class) as the recognizer fed the clips' video files; from_run and the CLI find the same."""

from __future__ import annotations

import json
from pathlib import Path
from typing import NamedTuple

import av
import numpy as np
import pandas as pd
import pytest
import torch

from agents import Policy, PolicySpec, evaluate
from agents.baselines import ThresholdPolicy
from agents.cli import main as train_agent
from emo_env.artifacts import CheckpointError
from emo_env.config import load_config
from emo_env.data.store import FeatureStore, load_store
from emo_env.envs.observations import horizon_steps, observation_table
from emo_online import OnlineRecognizer
from emo_online.cli import main as online_cli
from emo_online.cli import play_file
from pretrained_encoders.data import list_folds
from pretrained_encoders.encoders import load_encoders, save_encoders
from pretrained_encoders.folds import run_fold

pytestmark = pytest.mark.slow


class TinyRun(NamedTuple):
    store: FeatureStore
    encoders: Path
    videos: dict[str, Path]  # clip id -> video file


@pytest.fixture(scope="module")
def tiny_run(tiny_corpus, tiny_ingest, tmp_path_factory) -> TinyRun:
    """Encoders trained for one epoch per stage, the last speaker held out, with in-sample beliefs
    (``oof_folds=0``): every clip's store features come from the encoders in ``encoders.pt``."""
    workdir = tmp_path_factory.mktemp("online_run")
    fold = list_folds(tiny_ingest)[-1]
    config = load_config(None, [f"workdir={workdir}", f"data.root={tiny_corpus}", f"data.ingest_dir={tiny_ingest}",
                                f"encoder.speaker={fold}", "encoder.num_epochs=1", "encoder.fusion_epochs=1",
                                "encoder.temporal_epochs=1", "encoder.audio_temporal_epochs=1", "encoder.oof_folds=0",
                                "device=cpu"])
    output = run_fold(config, Path(tiny_ingest), fold, device=torch.device("cpu"), progress=False)
    table = pd.read_csv(tiny_corpus / "clips.csv")
    videos = {Path(path).stem: tiny_corpus / path for path in table["path"]}
    return TinyRun(load_store(output.store), output.encoders, videos)


def spread_threshold(store: FeatureStore) -> float:
    """A threshold that some clips' top probability reaches early, others late or never."""
    return float(np.quantile(np.asarray(store.features["probs"], np.float32).max(axis=1), 0.6))


class WaitThenArgmax(Policy):
    """Waits to the last step, then names the argmax of the observation's first K values (any obs mode)."""

    name = "wait-then-argmax"

    def act(self, obs: np.ndarray, mask: np.ndarray) -> np.ndarray:
        k = self.spec.num_classes
        return np.where(mask[:, 0] == 0, 1 + obs[:, :k].argmax(axis=1), 0).astype(np.int64)


@pytest.mark.parametrize("runtime", ["torch", "onnx"])
@pytest.mark.parametrize("obs_mode", ["probs", "belief", "frame"])
def test_recognizer_decides_as_the_offline_pipeline(tiny_run, obs_mode, runtime):
    store = tiny_run.store
    k = store.num_classes
    table = observation_table(store, obs_mode)
    spec = PolicySpec(obs_mode, table.shape[1], k)
    policy = (WaitThenArgmax(spec, device="cpu") if obs_mode == "frame"
              else ThresholdPolicy(spec, {"threshold": spread_threshold(store)}, device="cpu"))
    offline = evaluate(policy, {"store": store, "obs_mode": obs_mode}, split="eval").episodes.set_index("clip_id")
    rec = OnlineRecognizer(load_encoders(tiny_run.encoders), policy, horizon_steps=horizon_steps(store),
                           runtime=runtime, familiarity=False)  # the offline pipeline has no familiarity gate
    steps_seen = []
    for clip in store.clip_indices("eval"):
        clip_id = store.clip_ids[clip]
        decision = play_file(rec, tiny_run.videos[clip_id], fast=True, report=lambda d: None)
        expected = offline.loc[clip_id]
        assert (decision.step, decision.class_index) == (expected["decision_step"], expected["prediction"]), clip_id
        assert decision.time_s == pytest.approx(expected["time_s"])
        assert rec.total_steps == store.lengths[clip]
        rows = table[store.offsets[clip] : store.offsets[clip] + len(rec.history)]
        np.testing.assert_allclose(np.stack([r.observation for r in rec.history]), rows, atol=2e-3)
        steps_seen.append(decision.step)
    if obs_mode != "frame":  # the threshold answers mid-clip, not only at the forced last step
        assert min(steps_seen) < min(store.lengths[store.clip_indices("eval")]) - 1


def test_from_run_and_cli_give_the_runs_decisions(tiny_run, tmp_path, capsys):
    store = tiny_run.store
    run_dir = tmp_path / "run"
    assert train_agent(["--agent", "threshold", "--store", str(store.path), "--out", str(run_dir), "--no-progress",
                        "--set", f"agent.threshold.threshold={spread_threshold(store)}"]) == 0
    episodes = pd.read_csv(run_dir / "episodes.csv").set_index("clip_id")
    capsys.readouterr()

    rec = OnlineRecognizer.from_run(run_dir, familiarity=False)
    assert rec.horizon_steps == rec.total_steps == store.lengths.max()  # a live utterance lasts at most that
    clip_id = episodes.index[0]
    decision = play_file(rec, tiny_run.videos[clip_id], fast=True, report=lambda d: None)
    assert (decision.step, decision.class_index) == (episodes.loc[clip_id, "decision_step"],
                                                     episodes.loc[clip_id, "prediction"])

    out = tmp_path / "annotated.mp4"
    video = str(tiny_run.videos[clip_id])
    assert online_cli([video, "--run", str(run_dir), "--json", "--fast", "--no-familiarity",
                       "--out", str(out)]) == 0
    printed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert (printed["step"], printed["class_index"], printed["emotion"]) == (
        decision.step, decision.class_index, decision.emotion)
    with av.open(str(out)) as annotated, av.open(str(tiny_run.videos[clip_id])) as source:
        assert [s.type for s in annotated.streams] == ["audio", "video"]
        frames = sum(1 for _ in annotated.decode(video=0))
        assert frames == sum(1 for _ in source.decode(video=0))
        assert annotated.streams.video[0].width > source.streams.video[0].width  # the panel


def test_from_run_checks_the_encoders_against_the_store(tiny_run, tmp_path):
    run_dir = tmp_path / "run"
    with pytest.raises(FileNotFoundError, match="policy.pt"):
        OnlineRecognizer.from_run(run_dir)
    encoders = load_encoders(tiny_run.encoders)
    k = len(encoders.class_names)
    ThresholdPolicy(PolicySpec("probs", k + 1, k), device="cpu").save(run_dir / "policy.pt")
    with pytest.raises(FileNotFoundError, match="report.json"):
        OnlineRecognizer.from_run(run_dir)
    (run_dir / "report.json").write_text(json.dumps({"settings": {"store": str(tiny_run.store.path)}}))
    assert OnlineRecognizer.from_run(run_dir).policy_name == "threshold"
    with torch.no_grad():
        encoders.temporal.head.bias.add_(1.0)
    other = tmp_path / "other.pt"
    save_encoders(other, encoders.models(), encoders.spec)
    with pytest.raises(CheckpointError, match="not the encoders that exported"):
        OnlineRecognizer.from_run(run_dir, encoders=other)
