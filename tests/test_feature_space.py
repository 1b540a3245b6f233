"""One feature space (DESIGN.md section 3): every feature an observation exposes means the same on every clip.

- On a small generated corpus, the store's front-end features of a clip are the same whether the clip is a
  training clip or the held-out one, and the same as the online recognizer's step computes.
- On the bundled store, a probe (logistic regression on the end-of-clip observation) trained on six training
  speakers names the seventh speaker's emotion at least half the time, for every observation mode, and on the
  part of each observation besides the class probabilities.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from emo_env.artifacts import bundled_store_path
from emo_env.config import load_config
from emo_env.data.store import load_store
from emo_env.envs.observations import OBS_MODES, observation_table
from emo_online.step import step_runner
from pretrained_encoders.data import list_folds, load_corpus
from pretrained_encoders.encoders import load_encoders
from pretrained_encoders.folds import run_fold

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def fold_store(tiny_corpus, tiny_ingest, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("feature_space")
    fold = list_folds(tiny_ingest)[0]
    config = load_config(None, [f"workdir={workdir}", f"data.root={tiny_corpus}", f"data.ingest_dir={tiny_ingest}",
                                f"encoder.speaker={fold}", "encoder.num_epochs=1", "encoder.fusion_epochs=1",
                                "encoder.temporal_epochs=1", "encoder.audio_temporal_epochs=1", "encoder.oof_folds=2",
                                "device=cpu"])
    return run_fold(config, Path(tiny_ingest), fold, device=torch.device("cpu"), progress=False)


def test_front_end_features_are_the_same_in_every_fold_and_online(fold_store, tiny_ingest):
    store = load_store(fold_store.store)
    other_fold = list_folds(tiny_ingest)[-1]
    assert other_fold != store.metadata["fold"]
    corpus = load_corpus(tiny_ingest, other_fold, store.class_names)  # the clips held out and seen the other way
    runner = step_runner(load_encoders(fold_store.encoders))
    for clip_id in (corpus.clip_ids[0], corpus.clip_ids[-1]):
        c, s = corpus.clip_ids.index(clip_id), store.clip_ids.index(clip_id)
        assert corpus.split[c] != store.split[s]  # a training clip in one fold, held out in the other
        rows = slice(int(corpus.offsets[c]), int(corpus.offsets[c + 1]))
        online = []
        runner.reset()
        for mel, face in zip(corpus.mels[rows].numpy(), corpus.faces[rows].numpy(), strict=True):
            outputs = runner(mel, face)
            online.append(np.concatenate([outputs["voice"], outputs["face"]]))
        stored = np.concatenate([store.clip_feature("voice", s), store.clip_feature("face", s)], axis=1)
        np.testing.assert_allclose(np.asarray(online, np.float16).astype(np.float32), stored.astype(np.float32),
                                   rtol=2e-3, atol=2e-3)


def test_observations_hold_no_cascade_embedding_or_hidden_state(fold_store):
    store = load_store(fold_store.store)
    assert {"hidden", "audio", "visual", "fusion"}.isdisjoint(store.features)
    assert {"voice", "face", "probs", "probs_audio", "probs_visual"} <= set(store.features)


def probe_accuracy(store, obs_mode: str, without_probs: bool) -> float:
    """Mean accuracy over the training speakers of a probe trained on the other training speakers' end-of-clip
    observations (``without_probs``: the observation without its fused class probabilities and time)."""
    table = observation_table(store, obs_mode)
    if without_probs:
        table = table[:, :-store.num_classes - 1] if obs_mode != "frame" else table[:, :-1]
    ends = store.offsets[1:] - 1
    train = np.flatnonzero(store.split == 0)
    speakers = np.asarray(store.speakers)
    scores = []
    for speaker in sorted(set(speakers[train])):
        fit, held = train[speakers[train] != speaker], train[speakers[train] == speaker]
        probe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, C=0.1))
        probe.fit(table[ends[fit]], store.labels[fit])
        scores.append(float((probe.predict(table[ends[held]]) == store.labels[held]).mean()))
    return float(np.mean(scores))


@pytest.mark.parametrize("obs_mode", OBS_MODES)
@pytest.mark.parametrize("without_probs", [False, True])
def test_a_probe_names_an_unseen_training_speakers_emotion(obs_mode, without_probs):
    if obs_mode == "probs" and without_probs:
        pytest.skip("a probs observation is class probabilities and time only")
    store = load_store(bundled_store_path())
    accuracy = probe_accuracy(store, obs_mode, without_probs)
    assert accuracy >= 0.5, f"{obs_mode}{' without probs' if without_probs else ''}: {accuracy:.3f}"
