"""Determinism on whole trajectories, the way Minigrid tests it: two environments made from the same
registered spec and seed, given the same actions, agree on every observation, reward, flag and info
at every step, across episodes, for every registered spec, observation mode and the vector env."""

import gymnasium as gym
import numpy as np
import pytest

import emo_env  # noqa: F401  (registers the specs)
from emo_env.envs.observations import OBS_MODES

SPECS = [spec.id for spec in gym.registry.values() if str(spec.entry_point).startswith("emo_env.")]


def assert_same(a, b, where):
    """Equal values, recursively through dicts, tuples and arrays (dtypes included)."""
    if isinstance(a, (tuple, list)):
        assert type(a) is type(b) and len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            assert_same(x, y, f"{where}[{i}]")
    elif isinstance(a, dict):
        assert isinstance(b, dict) and a.keys() == b.keys(), where
        for key in a:
            assert_same(a[key], b[key], f"{where}[{key!r}]")
    elif isinstance(a, np.ndarray):
        assert isinstance(b, np.ndarray) and a.dtype == b.dtype, where
        np.testing.assert_array_equal(a, b, err_msg=where)
    else:
        assert type(a) is type(b) and a == b, where


def legal_actions(rng: np.random.Generator, mask: np.ndarray) -> np.ndarray:
    """A random allowed action per row of ``mask`` (``[..., K+1]``), waiting half the time when allowed."""
    mask = np.atleast_2d(mask).astype(bool)
    scores = np.where(mask, rng.random(mask.shape), -1.0)
    scores[:, 0] += np.where(mask[:, 0], 0.5, 0.0)  # favour waiting so that episodes run past the first step
    return scores.argmax(axis=1)


def test_every_registered_spec_is_covered():
    assert "AVEmotion-v0" in SPECS


@pytest.mark.parametrize("spec_id", SPECS)
@pytest.mark.parametrize("obs_mode", OBS_MODES)
def test_same_seed_same_actions_same_trajectory(tiny_store, spec_id, obs_mode):
    envs = [gym.make(spec_id, store=tiny_store, obs_mode=obs_mode) for _ in range(2)]
    rng = np.random.default_rng(7)
    outputs = [env.reset(seed=42) for env in envs]
    assert_same(*outputs, "reset")
    episodes = 0
    for step in range(400):
        action = int(legal_actions(rng, outputs[0][-1]["action_mask"])[0])
        outputs = [env.step(action) for env in envs]
        assert_same(*outputs, f"step {step}")
        if outputs[0][2] or outputs[0][3]:
            episodes += 1
            outputs = [env.reset() for env in envs]
            assert_same(*outputs, f"reset after step {step}")
    assert episodes > 20
    other = gym.make(spec_id, store=tiny_store, obs_mode=obs_mode)
    clips = [other.reset(seed=seed)[1]["clip_id"] for seed in range(10)]
    assert len(set(clips)) > 1  # the seed decides the clip sequence


@pytest.mark.parametrize("spec_id", SPECS)
@pytest.mark.parametrize("obs_mode", OBS_MODES)
def test_vector_env_same_seed_same_actions_same_trajectory(tiny_store, spec_id, obs_mode):
    envs = [gym.make_vec(spec_id, num_envs=5, vectorization_mode="vector_entry_point", store=tiny_store,
                         obs_mode=obs_mode) for _ in range(2)]
    rng = np.random.default_rng(3)
    outputs = [env.reset(seed=5) for env in envs]
    assert_same(*outputs, "reset")
    finished = 0
    for step in range(200):
        actions = legal_actions(rng, outputs[0][-1]["action_mask"])
        outputs = [env.step(actions) for env in envs]
        assert_same(*outputs, f"step {step}")
        finished += int(outputs[0][2].sum())
    assert finished > 50
