"""AVEmotionVectorEnv: same episodes as the single env, next-step autoreset, array infos, devices."""

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.vector import AutoresetMode

from emo_env.data.store import load_store
from emo_env.envs import AVEmotionEnv, AVEmotionVectorEnv


def policy(obs: np.ndarray) -> np.ndarray:
    """A deterministic, action-mixing function of the observation (waits about half the time)."""
    code = (np.abs(obs[..., :3]).sum(axis=-1) * 1e4).astype(np.int64)
    return np.where(code % 2 == 0, 0, 1 + code % 6)


def single_episodes(env: AVEmotionEnv, count: int, seed: int) -> list[tuple]:
    """(clip_id, return, length, prediction, decision_step) of ``count`` episodes, seeded once."""
    records = []
    for episode in range(count):
        obs, info = env.reset(seed=seed if episode == 0 else None)
        total, length, terminated = 0.0, 0, False
        while not terminated:
            obs, reward, terminated, _, end = env.step(int(policy(obs)))
            total, length = total + reward, length + 1
        records.append((info["clip_id"], round(total, 9), length, end["prediction"], end["decision_step"]))
    return records


def vector_episodes(envs: AVEmotionVectorEnv, count: int, seed: int) -> list[tuple]:
    """The same records from the vector env, in the order episodes started (slot order within a step)."""
    obs, infos = envs.reset(seed=seed)
    started = [[clip] for clip in infos["clip_id"]]  # per slot: clip, then return, length, ...
    open_slots, records, order = list(range(envs.num_envs)), {}, list(range(envs.num_envs))
    totals, lengths = np.zeros(envs.num_envs), np.zeros(envs.num_envs, dtype=int)
    while any(i not in records for i in range(count)):
        obs, rewards, terminated, truncated, infos = envs.step(policy(obs))
        assert not truncated.any()
        restarted = [slot for slot in range(envs.num_envs) if slot not in open_slots]
        for slot in restarted:  # next-step autoreset: a new clip, reward 0
            assert rewards[slot] == 0 and infos["step"][slot] == 0 and not terminated[slot]
            started.append([infos["clip_id"][slot]])
            order[slot] = len(started) - 1
            open_slots.append(slot)
        active = np.array([slot in open_slots and slot not in restarted for slot in range(envs.num_envs)])
        totals[active] += rewards[active]
        lengths[active] += 1
        for slot in np.flatnonzero(terminated):
            assert infos["_is_correct"][slot]
            records[order[slot]] = (started[order[slot]][0], round(totals[slot], 9), int(lengths[slot]),
                                    int(infos["prediction"][slot]), int(infos["decision_step"][slot]))
            totals[slot], lengths[slot] = 0.0, 0
            open_slots.remove(slot)
    return [records[i] for i in range(count)]


def test_spaces_metadata_and_make_vec(tiny_store):
    envs = gym.make_vec("AVEmotion-v0", num_envs=5, vectorization_mode="vector_entry_point", store=str(tiny_store))
    single = AVEmotionEnv(store=tiny_store)
    assert envs.metadata["autoreset_mode"] == AutoresetMode.NEXT_STEP
    assert envs.single_observation_space == single.observation_space
    assert envs.single_action_space == single.action_space
    assert envs.observation_space.shape == (5, 7) and envs.action_space == gym.spaces.MultiDiscrete([7] * 5)
    obs, infos = envs.reset(seed=0)
    assert obs.dtype == np.float32 and obs in envs.observation_space
    assert infos["action_mask"].dtype == np.int8 and infos["action_mask"].shape == (5, 7)


def test_sequential_sweep_matches_the_single_env_episode_for_episode(tiny_store):
    store = load_store(tiny_store)
    count = int((store.split == 0).sum()) * 2
    single = single_episodes(AVEmotionEnv(store=tiny_store, clip_order="sequential"), count, seed=0)
    for num_envs in (1, 3, 8):
        envs = AVEmotionVectorEnv(num_envs, store=tiny_store, clip_order="sequential")
        assert vector_episodes(envs, count, seed=0) == single


def test_random_order_has_the_statistics_of_single_envs(tiny_store):
    """N single envs seeded s..s+N-1 and one vector env: same per-clip outcomes, uniform clip draws,
    equal mean return within sampling error."""
    count = 1200
    single = [r for seed in range(8) for r in single_episodes(AVEmotionEnv(store=tiny_store), count // 8, seed)]
    vector = vector_episodes(AVEmotionVectorEnv(8, store=tiny_store), count, seed=0)
    outcome = {}
    for record in single + vector:
        assert outcome.setdefault(record[0], record[1:]) == record[1:]  # the policy is deterministic per clip
    for records in (single, vector):
        clips, counts = np.unique([r[0] for r in records], return_counts=True)
        expected = len(records) / 24
        assert len(clips) == 24 and ((counts - expected) ** 2 / expected).sum() < 49.7  # chi-square, 23 dof, p = 0.001
    returns = np.array([[r[1] for r in single], [r[1] for r in vector]])
    assert abs(returns[0].mean() - returns[1].mean()) < 4 * returns.std() * np.sqrt(2 / count)


def test_rewards_infos_and_autoreset(tiny_store):
    envs = AVEmotionVectorEnv(4, store=tiny_store, latency_cost=0.01, wrong_reward=-2.0)
    obs, infos = envs.reset(seed=3)
    labels = infos["label"].copy()
    actions = np.array([0, 1 + labels[1], 1 + (labels[2] + 1) % 6, 0])
    obs, rewards, terminated, truncated, infos = envs.step(actions)
    np.testing.assert_allclose(rewards, [-0.01, 1.0, -2.0, -0.01])
    assert terminated.tolist() == [False, True, True, False] and not truncated.any()
    assert infos["_is_correct"].tolist() == terminated.tolist()
    assert infos["is_correct"].tolist() == [False, True, False, False]
    assert infos["prediction"][1:3].tolist() == [labels[1], (labels[2] + 1) % 6]
    assert infos["decision_step"][1:3].tolist() == [0, 0] and np.allclose(infos["decision_time_s"][1:3], 0.1)
    assert infos["step"].tolist() == [1, 0, 0, 1] and infos["_step"].all()
    assert infos["clip_id"].dtype.kind == "U" and infos["speaker"][0].startswith("s")
    obs, rewards, terminated, truncated, infos = envs.step(np.array([0, 3, 3, 0]))  # slots 1 and 2 restart
    assert rewards[1] == rewards[2] == 0 and not terminated[1:3].any() and infos["step"][1:3].tolist() == [0, 0]
    assert infos["step"][[0, 3]].tolist() == [2, 2]


def episodes_per_slot(envs: AVEmotionVectorEnv, count: int) -> list[list[tuple]]:
    """Per slot, (clip_id, return, length) of its first ``count`` episodes under :func:`policy`, seeded with 5; ended
    slots restart by ``reset(options={"reset_mask": ...})`` where autoreset is disabled."""
    disabled = envs.autoreset_mode is AutoresetMode.DISABLED
    obs, infos = envs.reset(seed=5)
    clips, totals, lengths = list(infos["clip_id"]), np.zeros(envs.num_envs), np.zeros(envs.num_envs, dtype=int)
    done: list[list[tuple]] = [[] for _ in range(envs.num_envs)]
    restarting = np.zeros(envs.num_envs, dtype=bool)
    while min(map(len, done)) < count:
        obs, rewards, terminated, _, infos = envs.step(policy(obs))
        totals, lengths = totals + rewards, lengths + ~restarting
        for slot in np.flatnonzero(restarting):
            clips[slot] = infos["clip_id"][slot]
        for slot in np.flatnonzero(terminated):
            done[slot].append((clips[slot], round(totals[slot], 9), int(lengths[slot])))
            totals[slot], lengths[slot] = 0.0, 0
        restarting = terminated
        if disabled and terminated.any():
            obs, infos = envs.reset(options={"reset_mask": terminated})
            assert infos["step"][terminated].tolist() == [0] * int(terminated.sum())
            for slot in np.flatnonzero(terminated):
                clips[slot] = infos["clip_id"][slot]
            restarting = np.zeros(envs.num_envs, dtype=bool)
    return [slot[:count] for slot in done]


def test_disabled_autoreset_plays_the_next_step_episodes_with_explicit_resets(tiny_store):
    one = AVEmotionVectorEnv(1, store=tiny_store, autoreset_mode=AutoresetMode.DISABLED)
    # One slot: the same clip draws (several slots restart at other steps without the next-step reset steps).
    assert episodes_per_slot(one, 12) == episodes_per_slot(AVEmotionVectorEnv(1, store=tiny_store), 12)
    disabled = gym.make_vec("AVEmotion-v0", num_envs=3, vectorization_mode="vector_entry_point",
                            store=str(tiny_store), autoreset_mode="Disabled")
    assert disabled.autoreset_mode is disabled.metadata["autoreset_mode"] is AutoresetMode.DISABLED
    assert [len(slot) for slot in episodes_per_slot(disabled, 4)] == [4, 4, 4]
    disabled.reset(seed=0)
    _, _, terminated, _, _ = disabled.step(np.array([1, 0, 0]))
    with pytest.raises(RuntimeError, match="env 0: its episode has ended and autoreset_mode is DISABLED"):
        disabled.step(np.array([1, 0, 0]))
    obs, infos = disabled.reset(options={"reset_mask": np.array([True, False, False])})
    assert infos["step"].tolist() == [0, 1, 1]  # slots 1 and 2 go on where they were
    with pytest.raises(ValueError, match=r"reset_mask must be a boolean array of shape \(3,\), got int64"):
        disabled.reset(options={"reset_mask": np.array([1, 0, 0])})
    with pytest.raises(ValueError, match="unknown reset options \\['colour'\\] \\(known: reset_mask\\)"):
        disabled.reset(options={"colour": 1})
    with pytest.raises(RuntimeError, match="first reset"):
        AVEmotionVectorEnv(3, store=tiny_store).reset(options={"reset_mask": np.array([True, False, False])})
    with pytest.raises(ValueError, match=r"autoreset_mode must be one of \['NextStep', 'Disabled'\], got 'SameStep'"):
        AVEmotionVectorEnv(3, store=tiny_store, autoreset_mode=AutoresetMode.SAME_STEP.value)


def test_last_step_waits_and_bad_actions(tiny_store):
    store = load_store(tiny_store)
    envs = AVEmotionVectorEnv(2, store=tiny_store)
    envs.reset(seed=0)
    for _ in range(int(store.lengths.max())):
        _, rewards, terminated, _, infos = envs.step(np.zeros(2, dtype=np.int64))  # always wait
        assert not (terminated & (rewards != -1.0)).any() and (infos["prediction"][terminated] == -1).all()
    strict = AVEmotionVectorEnv(2, store=tiny_store, last_step_wait="error")
    strict.reset(seed=0)
    with pytest.raises(ValueError, match="illegal at the last step"):
        for _ in range(int(store.lengths.max())):
            strict.step(np.zeros(2, dtype=np.int64))
    with pytest.raises(ValueError, match="env 1: action 7 is out of range"):
        envs.step(np.array([0, 7]))
    with pytest.raises(ValueError, match="env 0: action -1 is out of range"):
        envs.step(np.array([-1, 0]))
    with pytest.raises(ValueError, match="integer array of shape \\(2,\\)"):
        envs.step(np.array([0.0, 1.0]))
    with pytest.raises(ValueError, match="integer array of shape \\(2,\\)"):
        envs.step(np.array([0, 1, 2]))
    with pytest.raises(ValueError, match="does not render"):
        AVEmotionVectorEnv(2, store=tiny_store, render_mode="rgb_array")
    with pytest.raises(RuntimeError, match="reset"):
        AVEmotionVectorEnv(2, store=tiny_store).step(np.zeros(2, dtype=np.int64))


def test_seeded_reset_is_deterministic(tiny_store):
    def rollout(envs, seed):
        obs, _ = envs.reset(seed=seed)
        trace = [obs]
        for _ in range(30):
            obs, rewards, *_ = envs.step(policy(obs))
            trace += [obs, rewards]
        return trace

    envs = AVEmotionVectorEnv(6, store=tiny_store)
    first, again = rollout(envs, 11), rollout(AVEmotionVectorEnv(6, store=tiny_store), 11)
    assert all(np.array_equal(a, b) for a, b in zip(first, again, strict=True))
    assert not all(np.array_equal(a, b) for a, b in zip(first, rollout(envs, 12), strict=True))


@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(
    "not __import__('torch').cuda.is_available()", reason="no CUDA device"))])
def test_device_placement_returns_torch_tensors(tiny_store, device):
    import torch

    on_device = AVEmotionVectorEnv(4, store=tiny_store, device=device)
    plain = AVEmotionVectorEnv(4, store=tiny_store)
    obs_t, infos_t = on_device.reset(seed=2)
    obs, infos = plain.reset(seed=2)
    assert isinstance(obs_t, torch.Tensor) and obs_t.device.type == device and obs_t.dtype == torch.float32
    np.testing.assert_array_equal(obs_t.cpu().numpy(), obs)
    assert infos_t["action_mask"].dtype == torch.int8 and infos_t["clip_id"].tolist() == infos["clip_id"].tolist()
    for _ in range(10):
        actions = policy(obs)
        obs_t, rewards_t, terminated_t, truncated_t, infos_t = on_device.step(torch.as_tensor(actions, device=device))
        obs, rewards, terminated, truncated, infos = plain.step(actions)
        np.testing.assert_array_equal(obs_t.cpu().numpy(), obs)
        np.testing.assert_array_equal(rewards_t.cpu().numpy(), rewards)
        assert terminated_t.dtype == torch.bool and terminated_t.cpu().numpy().tolist() == terminated.tolist()
        assert infos_t["_is_correct"].cpu().numpy().tolist() == infos["_is_correct"].tolist()
