"""The cap and the published early-classification rules: each reproduces a case computed by hand, every
rule's tuning is exact where it claims to be, and the array view of a split scores rules as the env does."""

import numpy as np
import pytest

from agents.baselines import FixedTimePolicy, ThresholdPolicy, TimeThresholdPolicy
from agents.dp import DPPolicy
from agents.early_rules import CalimeraPolicy, EconomyPolicy, SR1Policy, TeaserPolicy
from agents.evaluation import evaluate
from agents.policy import PolicySpec
from agents.stopping import BeliefPaths, best_threshold
from agents.training import env_spec
from emo_env.envs.episodes import open_store

SPEC = PolicySpec("probs", 3, 2)

# Two clips of three steps, two classes, a wait costs 0.1, rewards +1 / -1. Clip A (class 0) is right at
# once and grows surer; clip B (class 1) is wrong at first, then right. Answering at steps 0, 1, 2 returns
# A: 1.0, 0.9, 0.8 and B: -1.0, 0.9, 0.8. The best a clairvoyant can do: A at 0, B at 1, mean 0.95.
HAND_PROBS = np.array([[[0.6, 0.4], [0.9, 0.1], [0.95, 0.05]],
                       [[0.7, 0.3], [0.4, 0.6], [0.2, 0.8]]])


def hand_paths(speakers=("a", "a")) -> BeliefPaths:
    labels = np.array([0, 1])
    reward = np.where(HAND_PROBS.argmax(axis=2) == labels[:, None], 1.0, -1.0)
    paid = np.tile(0.1 * np.arange(3), (2, 1))
    time = np.tile(np.arange(1, 4) / 3, (2, 1))
    return BeliefPaths(HAND_PROBS, time, reward, paid, np.array([3, 3]), labels, np.array(speakers), 3)


def test_the_hand_paths_hold_the_returns_of_answering_at_each_step():
    assert np.allclose(hand_paths().answer, [[1.0, 0.9, 0.8], [-1.0, 0.9, 0.8]])


def test_the_clairvoyant_answers_each_clip_at_its_best_step_in_hindsight():
    # A at step 0 (1.0, right, 1/3 of the clip), B at step 1 (0.9, right, 2/3 of the clip).
    assert hand_paths().hindsight() == pytest.approx({"mean_return": 0.95, "accuracy": 1.0, "earliness": 0.5})


def test_best_threshold_is_the_middle_of_the_best_interval_of_records():
    # Top probabilities A: 0.6, 0.9 (0.95 at the forced last step); B: 0.7, 0.6. Thresholds in (0.7, 0.9]
    # answer A at step 1 and B at its last step: 0.85, the best; the middle of the interval is 0.8.
    paths = hand_paths()
    assert best_threshold(paths, paths.probs.max(axis=2), 0.0, 1.0) == pytest.approx((0.8, 0.85))
    # Held to [0, 0.7]: (0.6, 0.7] answers B at once (-1), A at step 1: -0.05; [0, 0.6] both at once: 0.
    assert best_threshold(paths, paths.probs.max(axis=2), 0.0, 0.7) == pytest.approx((0.3, 0.0))


def test_threshold_and_fixed_time_rules_tune_exactly():
    policy = ThresholdPolicy(SPEC)
    assert policy.search(hand_paths(), ["threshold"]).iloc[0].tolist() == pytest.approx([0.8, 0.85])
    # Times observed 1/3, 2/3, 1: answering at step 1 (0.9) needs a time in (1/3, 2/3].
    assert FixedTimePolicy(SPEC).search(hand_paths(), ["time"]).iloc[0].tolist() == pytest.approx([0.5, 0.9])


def test_time_threshold_search_finds_the_best_falling_threshold():
    # Answering A at step 0 (top 0.6) would answer B there too (top 0.7, wrong), so the clairvoyant's 0.95
    # is out of reach; a threshold above 0.7 at step 0 and at most 0.6 at step 1 answers both at step 1: 0.9.
    table = TimeThresholdPolicy(SPEC).search(hand_paths(), ["start", "end"])
    best = table.loc[table["mean_return"].idxmax()]
    assert best["mean_return"] == pytest.approx(0.9)
    policy = TimeThresholdPolicy(SPEC, {"start": best["start"], "end": best["end"]})
    paths = hand_paths()
    ready = policy.ready(paths.probs.reshape(-1, 2), paths.time.reshape(-1)).reshape(2, 3)
    assert paths.stops(ready).tolist() == [1, 1]


def test_dp_backward_induction_by_hand():
    paths = hand_paths()
    # One group: at step 1 answering (0.9 each) beats waiting (0.8); at step 0 answering (mean 0) loses to
    # waiting (0.9): answer at step 1.
    edges, stop = DPPolicy(SPEC).table(paths, 1)
    assert stop[:, 0].tolist() == [False, True, True]
    assert paths.mean_return(DPPolicy.lookup(paths, edges, stop)) == pytest.approx(0.9)
    # Two groups split at each step's median top probability: at step 0 A (0.6, low group) answers (1.0 >
    # 0.9) and B (0.7, high group) waits (-1.0 < 0.9): the clairvoyant's 0.95.
    edges, stop = DPPolicy(SPEC).table(paths, 2)
    assert edges[0].tolist() == pytest.approx([0.65]) and stop[0].tolist() == [True, False]
    assert paths.mean_return(DPPolicy.lookup(paths, edges, stop)) == pytest.approx(0.95)


def test_dp_chooses_its_groups_by_leave_one_speaker_out():
    # One group fitted on A answers at once (B scores -1); fitted on B it waits to step 1 (A scores 0.9):
    # -0.05. Two groups: fitted on A, B's step 0 falls in A's group, which answers (-1); fitted on B, A's
    # top 0.6 falls below B's 0.7 into the empty group, which answers (1.0): 0. Two groups win.
    policy = DPPolicy(SPEC, {"bin_candidates": [1, 2]})
    policy.fit(hand_paths(speakers=("a", "b")))
    assert policy.tuning["mean_return"].tolist() == pytest.approx([-0.05, 0.0]) and policy.config.bins == 2
    obs = np.array([[0.6, 0.4, 1 / 3], [0.7, 0.3, 1 / 3], [0.4, 0.6, 2 / 3]], np.float32)
    assert policy.act(obs, np.ones((3, 3), np.int8)).tolist() == [1, 0, 2]


def test_sr1_rule_and_its_exact_gamma3():
    policy = SR1Policy(SPEC, {"gamma1": -0.5, "gamma2": 1.0, "gamma3": 0.3})
    # -0.5 * 0.6 + 1.0 * 0.2 + 0.3 * 0.5 = 0.05 > 0; -0.5 * 0.5 + 0 + 0.15 = -0.1
    assert policy.ready(np.array([[0.6, 0.4], [0.5, 0.5]]), np.array([0.5, 0.5])).tolist() == [True, False]
    # gamma1 = -1, gamma2 = 1: the rule answers once -p2 / t > -gamma3. Records of -p2 / t: A -1.2, -0.15;
    # B -0.9, -0.6. -gamma3 in (-0.9, -0.6] answers both at step 1: 0.9, the best in [-1, 1] ((-0.6, -0.15]
    # leaves B to the end: 0.85); its middle is -0.75.
    table = SR1Policy(SPEC, {"gamma1": -1.0, "gamma2": 1.0}).search(hand_paths(), ["gamma3"])
    assert table.iloc[0][["gamma3", "mean_return"]].tolist() == pytest.approx([0.75, 0.9])
    # Tuned in full it finds the clairvoyant's answer, e.g. (0, -1, 0.7): A answers at once, B at step 1.
    assert SR1Policy(SPEC).search(hand_paths(), ["gamma1", "gamma2", "gamma3"])["mean_return"].max() == \
        pytest.approx(0.95)


def test_teaser_waits_for_agreeing_confident_steps():
    # v = 2: A's steps 0-1 agree with lowest top 0.6, B's disagree: thresholds up to 0.6 answer A at step 1
    # and B at the end (0.85), the middle of [0, 0.6] is 0.3.
    table = TeaserPolicy(SPEC, {"agreement_candidates": [2]}).search(hand_paths(), ["threshold", "agreement"])
    assert table.iloc[0][["agreement", "threshold", "mean_return"]].tolist() == pytest.approx([2, 0.3, 0.85])
    policy = TeaserPolicy(SPEC, {"threshold": 0.5, "agreement": 2})
    policy.reset(np.ones(1, bool))
    mask = np.ones((1, 3), np.int8)
    steps = [[0.6, 0.4, 1 / 3], [0.9, 0.1, 2 / 3], [0.7, 0.3, 1 / 3], [0.4, 0.6, 2 / 3], [0.2, 0.8, 1.0]]
    # A: waits, answers class 0 at its second step; B (time goes back: a new clip) disagrees at step 1.
    actions = [int(policy.act(np.array([s], np.float32), mask)[0]) for s in steps]
    assert actions == [0, 1, 0, 0, 2]


def test_economy_forecasts_the_cheapest_answering_time():
    paths = hand_paths()
    # One group: mean rewards 0, 1, 1 at steps 0, 1, 2; from step 0 answering at 1 is worth 1 - 0.1 = 0.9,
    # at 2 0.8, now 0: wait; from step 1 now (1) beats 0.9: answer. Mean 0.9.
    policy = EconomyPolicy(SPEC)
    edges, stop = policy.table(paths, 1)
    assert stop[:, 0].tolist() == [False, True, True]
    assert paths.mean_return(EconomyPolicy.lookup(paths, edges, stop)) == pytest.approx(0.9)
    # Two groups: at step 0 A's low group is right (reward 1) and answers; B's high group (reward -1) moves
    # to a group worth 1 at step 1 (0.9 after the wait): waits. Mean 0.95.
    edges, stop = policy.table(paths, 2)
    assert stop[0].tolist() == [True, False]
    assert paths.mean_return(EconomyPolicy.lookup(paths, edges, stop)) == pytest.approx(0.95)


def test_economy_chooses_its_groups_by_leave_one_speaker_out():
    # One group: estimated on A alone it answers at once (B scores -1); on B alone it waits a step (A scores
    # 0.9). Two groups: on A alone the same; on B alone B's group at step 0 (reward -1) waits and so does
    # the empty one (its step's mean reward, -1, against 0.9 a step later), so A answers at step 1 (0.9).
    # Both -0.05: the first, one group, wins the tie.
    policy = EconomyPolicy(SPEC, {"bin_candidates": [1, 2]})
    policy.fit(hand_paths(speakers=("a", "b")))
    assert policy.config.bins == 1 and policy.tuning["mean_return"].tolist() == pytest.approx([-0.05, -0.05])


@pytest.mark.parametrize(("ridge", "expected"), [(1e9, 0.9), (1e-9, 0.95)])
def test_calimera_backward_induction_by_hand(ridge, expected):
    # A huge ridge predicts each step's mean gain: at step 1 waiting loses 0.1 on both clips (answer), at
    # step 0 it gains -0.1 and 1.9 (mean 0.9: wait): 0.9. A vanishing ridge with a narrow kernel predicts
    # each clip's own gain: A answers at once, B waits a step: 0.95.
    policy = CalimeraPolicy(SPEC, {"ridge": ridge, "kernel_width": 1e3})
    policy.fit(hand_paths())
    obs = np.concatenate([HAND_PROBS, np.arange(1, 4)[None, :, None].repeat(2, 0) / 3], axis=2).astype(np.float32)
    ready = np.stack([policy.ready(obs[:, t, :2].astype(np.float64), obs[:, t, 2]) for t in range(3)], axis=1)
    assert hand_paths().mean_return(ready) == pytest.approx(expected)


@pytest.mark.parametrize("name", ["threshold", "fixed", "time-threshold", "sr1", "teaser"])
def test_tuning_on_paths_scores_what_the_env_scores(tiny_store, name):
    """A rule's best training return found on the arrays is the env's return of the tuned rule (also with
    a rising wait cost and a dearer wrong answer)."""
    from agents.registry import get_agent

    store = open_store(tiny_store)
    kwargs = {"store": store, "obs_mode": "probs", "latency_cost": 0.02, "latency_power": 1.0, "wrong_reward": -2.0}
    policy = get_agent(name)(env_spec(store, "probs"))
    policy.learn({**kwargs, "split": "train"}, 0)
    assert evaluate(policy, kwargs, "train").metrics.mean_return == pytest.approx(policy.tuning["mean_return"].max())
    finer = BeliefPaths.from_env(kwargs, "train")
    assert finer.labels.tolist() == store.labels[store.clip_indices("train")].tolist()


def test_fitted_rules_act_in_the_env_as_on_the_paths(tiny_store):
    store = open_store(tiny_store)
    kwargs = {"store": store, "obs_mode": "probs"}
    paths = BeliefPaths.from_env(kwargs, "train")
    spec = env_spec(store, "probs")
    for policy in (DPPolicy(spec), EconomyPolicy(spec), CalimeraPolicy(spec)):
        policy.learn({**kwargs, "split": "train"}, 0)
        ready = policy.ready(paths.probs.reshape(-1, 6), paths.time.reshape(-1)).reshape(paths.time.shape)
        assert evaluate(policy, kwargs, "train").metrics.mean_return == pytest.approx(paths.mean_return(ready))


@pytest.mark.parametrize(("name", "config", "message"), [
    ("dp", {"bin_candidates": []}, "bin_candidates must be whole numbers >= 1"),
    ("economy", {"bins": 0}, "bins must be whole numbers >= 1"),
    ("teaser", {"agreement_candidates": [1, 2.5]}, "agreement_candidates must be whole numbers"),
    ("sr1", {"grid_step": 0}, "grid_step must be > 0"),
    ("time-threshold", {"grid_step": -0.1}, "grid_step must be > 0"),
    ("calimera", {"ridge": 0.0}, "ridge must be > 0"),
])
def test_bad_rule_settings_are_named(name, config, message):
    from agents.registry import get_agent

    with pytest.raises(ValueError, match=message):
        get_agent(name)(SPEC, config)


def test_fitted_rules_refuse_to_act_unfitted():
    obs, mask = np.array([[0.6, 0.4, 0.5]], np.float32), np.ones((1, 3), np.int8)
    for policy in (DPPolicy(SPEC, {"bins": 2}), CalimeraPolicy(SPEC)):
        with pytest.raises(ValueError, match="not fitted"):
            policy.act(obs, mask)
