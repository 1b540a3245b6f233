"""The value of waiting: the target on hand-made paths, the belief dynamics, and the feature groups of
benchmarks/bench_waiting_value.py."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from agents.stopping import BeliefPaths
from agents.waiting_value import belief_dynamics, belief_features, continuation_stops, waiting_gain
from emo_env.envs.episodes import open_store

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.fixture(scope="module")
def bench():
    sys.path.insert(0, str(BENCHMARKS))
    try:
        import bench_waiting_value

        yield bench_waiting_value
    finally:
        sys.path.remove(str(BENCHMARKS))


def _paths(probs: list[list[list[float]]], labels: list[int], length: list[int], cost: float = 0.1) -> BeliefPaths:
    p = np.asarray(probs, dtype=np.float64)
    steps = np.arange(p.shape[1])
    reward = np.where(p.argmax(axis=2) == np.asarray(labels)[:, None], 1.0, -1.0)
    paid = np.minimum(steps[None, :], np.asarray(length)[:, None] - 1) * cost
    time = np.broadcast_to((steps + 1) / p.shape[1], p.shape[:2]).copy()
    return BeliefPaths(p, time, reward, paid, np.asarray(length), np.asarray(labels), np.array(["a"] * len(labels)),
                       p.shape[1])


# Clip 0 (label 0, 4 steps): wrong, right, wrong (confident), right; clip 1 (2 steps, padded): wrong, right.
HAND = _paths([[[0.4, 0.6], [0.7, 0.3], [0.1, 0.9], [0.55, 0.45]],
               [[0.3, 0.7], [0.8, 0.2], [0.8, 0.2], [0.8, 0.2]]], labels=[0, 0], length=[4, 2])


def test_waiting_gain_on_a_hand_computed_case():
    ready = HAND.probs.max(axis=2) >= 0.8  # the continuation rule: answer once the top probability is 0.8
    # Answering now returns -1, 0.9, -1.2, 0.7 (clip 0) and -1, 0.9 (clip 1). Waiting at steps 0 and 1 of
    # clip 0 leads to the confident wrong step 2; waiting at its step 2 leads to the last step.
    assert continuation_stops(HAND, ready).tolist() == [[2, 2, 3, 3], [1, 1, 1, 1]]
    gain = waiting_gain(HAND, ready)
    np.testing.assert_allclose(gain[0, :3], [-0.2, -2.1, 1.9])
    np.testing.assert_allclose(gain[1, :1], [1.9])
    assert np.isnan(gain[0, 3]) and np.isnan(gain[1, 1:]).all()  # no choice at the last step nor past it


def test_waiting_gain_matches_a_brute_force_rollout():
    rng = np.random.default_rng(0)
    n, steps, k = 30, 9, 3
    probs = rng.dirichlet(np.ones(k), size=(n, steps))
    length = rng.integers(1, steps + 1, size=n)
    probs = np.where(np.arange(steps)[None, :, None] < length[:, None, None], probs,
                     probs[np.arange(n), length - 1][:, None, :])
    paths = _paths(probs.tolist(), rng.integers(0, k, size=n).tolist(), length.tolist(), cost=0.03)
    ready = rng.random((n, steps)) < 0.3
    gain = waiting_gain(paths, ready)
    for i in range(n):
        for t in range(steps):
            if t >= length[i] - 1:
                assert np.isnan(gain[i, t])
                continue
            stop = next(s for s in range(t + 1, length[i]) if ready[i, s] or s == length[i] - 1)
            assert gain[i, t] == pytest.approx(paths.answer[i, stop] - paths.answer[i, t])


def test_belief_features_and_dynamics_on_a_hand_computed_case():
    base = belief_features(HAND.probs, HAND.time)
    np.testing.assert_allclose(base[0, :, 0], [0.6, 0.7, 0.9, 0.55])
    np.testing.assert_allclose(base[0, :, 1], [0.2, 0.4, 0.8, 0.1])
    np.testing.assert_allclose(base[1, 0, 2], -(0.3 * np.log(0.3) + 0.7 * np.log(0.7)))
    dynamics = belief_dynamics(HAND.probs, window=2)
    np.testing.assert_allclose(dynamics[0, :, 0], [0.0, 0.1, 0.2, -0.35])  # top change over one step
    np.testing.assert_allclose(dynamics[0, :, 2], [0.0, 0.1, 0.3, -0.05])  # ... over three (step 0 stands in)
    np.testing.assert_allclose(dynamics[0, :, 3], [0.0, 0.3, 0.6, 0.45])  # the new leader's rise over one step
    np.testing.assert_allclose(dynamics[0, :, 6], [0.0, 0.6, 1.2, 0.9])  # L1 shift
    np.testing.assert_allclose(dynamics[0, :, 7], [0.0, 0.05, 0.1, 0.175])  # std over the last 2 steps
    assert dynamics[0, :, 8].tolist() == [1, 1, 1, 1] and dynamics[1, :, 8].tolist() == [1, 1, 2, 3]


def test_leader_view_on_a_hand_computed_case(bench):
    own = np.array([[0.5, 0.3, 0.2], [0.1, 0.6, 0.3]])
    np.testing.assert_allclose(bench.leader_view(own, np.array([0, 2])), [[0.5, 0.2, 0.5, 1.0], [0.6, 0.3, 0.3, 0.0]])


def test_feature_groups_never_see_the_scored_speakers_labels(bench):
    """Every group's block (probes, scaling, PCA) is the same whatever the scored speaker's labels: only the
    checks read them. Three speakers of the bundled store's training split, the third scored."""
    store = open_store(None)
    paths = BeliefPaths.from_env({"store": store, "obs_mode": "probs"}, split="train")
    keep = np.isin(paths.speakers, ["s1", "s2", "s3"])
    paths, clips = paths.subset(keep), store.clip_indices("train")[keep]
    before = bench.onset_steps(store, clips, paths.time.shape[1])
    clip, step = np.nonzero(paths.free)
    fit = paths.speakers[clip] != "s3"
    shifted = np.where(paths.speakers == "s3", (paths.labels + 1) % store.num_classes, paths.labels)
    with threadpool_limits(1):  # more threads than free cores slows the fits many-fold
        blocks, checks = bench.feature_blocks(store, paths, clips, (clip, step), fit, before, pca_dims=4)
        again, other = bench.feature_blocks(store, dataclasses.replace(paths, labels=shifted), clips, (clip, step),
                                            fit, before, pca_dims=4)
    assert set(blocks) == {name for names in bench.GROUPS.values() for name in names} | {"(p, t)"}
    for name, block in blocks.items():
        assert block.shape[0] == len(clip) and np.isfinite(block).all(), name
        np.testing.assert_array_equal(block, again[name], err_msg=name)
    assert blocks["front-end features (PCA)"].shape[1] == 8
    assert checks["face probe accuracy"] != other["face probe accuracy"]  # the checks do read them
