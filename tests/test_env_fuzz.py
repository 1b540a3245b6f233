"""Fuzzing: long random and wait-heavy rollouts, illegal and out-of-range actions."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from emo_env.data.store import load_store
from emo_env.envs import AVEmotionEnv, AVEmotionVectorEnv

END_KEYS = {"is_correct", "prediction", "decision_step", "decision_time_s", "earliness"}


@pytest.mark.parametrize("obs_mode", ["belief", "frame", "probs"])
@pytest.mark.parametrize("wait_probability", [1 / 7, 0.95])
def test_single_env_rollouts_end_with_exactly_one_decision(tiny_store, obs_mode, wait_probability):
    store = load_store(tiny_store)
    env = AVEmotionEnv(store=tiny_store, obs_mode=obs_mode)
    rng = np.random.default_rng(0)
    answered, waited_out = 0, 0
    for episode in range(1500):
        obs, info = env.reset(seed=episode if episode % 500 == 0 else None)
        length = int(store.lengths[store.clip_ids.index(info["clip_id"])])
        for t in range(length):  # noqa: B007 (t is read after the loop: the step that ended the episode)
            assert np.isfinite(obs).all() and obs in env.observation_space and not END_KEYS & set(info)
            action = 0 if rng.random() < wait_probability else int(rng.integers(1, 7))  # waits at the last step too
            obs, reward, terminated, truncated, info = env.step(action)
            assert np.isfinite(reward) and truncated is False
            if terminated:
                break
        assert terminated, "the last step must end the episode"
        assert END_KEYS <= set(info) and -1 <= info["prediction"] < 6 and info["decision_step"] == t
        assert info["earliness"] == pytest.approx((t + 1) / length)
        answered += info["prediction"] >= 0
        waited_out += info["prediction"] == -1  # a wait at the last step: scored as a wrong decision
    # both endings occur: waiting-heavy rollouts reach the last step, random ones answer early
    assert answered > 0 and (waited_out > 0) == (wait_probability > 0.5)


@pytest.mark.parametrize("wait_probability", [1 / 7, 0.95])
def test_vector_env_rollouts_end_with_exactly_one_decision(tiny_store, wait_probability):
    store = load_store(tiny_store)
    envs = AVEmotionVectorEnv(64, store=tiny_store, obs_mode="belief")
    rng = np.random.default_rng(1)
    obs, infos = envs.reset(seed=0)
    clip, steps, restart = infos["clip_id"].copy(), np.zeros(64, int), np.zeros(64, bool)
    finished = 0
    while finished < 3000:
        actions = np.where(rng.random(64) < wait_probability, 0, rng.integers(1, 7, 64))
        obs, rewards, terminated, truncated, infos = envs.step(actions)
        assert np.isfinite(obs).all() and np.isfinite(rewards).all() and not truncated.any()
        assert (terminated == infos["_is_correct"]).all() and not (terminated & restart).any()
        clip[restart], steps[restart] = infos["clip_id"][restart], 0
        steps[~restart] += 1
        lengths = np.array([store.lengths[store.clip_ids.index(c)] for c in clip])
        assert (steps <= lengths).all() and ((steps == lengths) <= terminated).all()  # the last step decides
        assert (infos["decision_step"][terminated] == steps[terminated] - 1).all()
        finished += int(terminated.sum())
        restart = terminated


@settings(max_examples=60, deadline=None)
@given(actions=st.lists(st.integers(min_value=-3, max_value=9), min_size=1, max_size=60), seed=st.integers(0, 50))
def test_out_of_range_actions_raise_and_change_nothing(tiny_store, actions, seed):
    """An env fed bad actions (which raise) behaves exactly like one fed only the good ones."""
    fuzzed, clean = AVEmotionEnv(store=tiny_store), AVEmotionEnv(store=tiny_store)
    fuzzed.reset(seed=seed)
    clean.reset(seed=seed)
    for action in actions:
        if not 0 <= action <= 6:
            with pytest.raises(ValueError, match="out of range"):
                fuzzed.step(action)
            continue
        got, expected = fuzzed.step(action), clean.step(action)
        np.testing.assert_array_equal(got[0], expected[0])
        assert got[1:4] == expected[1:4] and got[4].keys() == expected[4].keys()
        if got[2]:
            assert fuzzed.reset()[1]["clip_id"] == clean.reset()[1]["clip_id"]
