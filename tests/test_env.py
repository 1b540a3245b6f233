"""AVEmotion-v0: checkers, observations, rewards, masks, errors, seeding, registration, rendering."""

import subprocess
import sys
import warnings
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env as gym_check_env
from stable_baselines3.common.env_checker import check_env as sb3_check_env

import emo_env
from emo_env.artifacts import ArtifactError, bundled_store_path
from emo_env.config import default_config
from emo_env.data.store import load_store, write_store
from emo_env.envs import AVEmotionEnv, AVEmotionVectorEnv, EnvConfig, build_observation

OBS_MODES = ["belief", "frame", "probs"]


def make(store, **kwargs) -> AVEmotionEnv:
    return gym.make("AVEmotion-v0", store=str(store), **kwargs).unwrapped


def run_episode(env, policy, **reset_kwargs):
    """Play one episode; return the list of (obs, reward, terminated, info) after reset's (obs, info)."""
    obs, info = env.reset(**reset_kwargs)
    steps = [(obs, None, False, info)]
    while not steps[-1][2]:
        obs, reward, terminated, truncated, info = env.step(policy(obs, info))
        assert truncated is False
        steps.append((obs, reward, terminated, info))
    return steps


def always_wait(obs, info):
    return 0


@pytest.mark.parametrize("obs_mode", OBS_MODES)
def test_gymnasium_and_sb3_checkers_pass_without_warnings(tiny_store, obs_mode):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        env = gym.make("AVEmotion-v0", store=str(tiny_store), obs_mode=obs_mode)
        gym_check_env(env.unwrapped)  # also makes and renders the rgb_array mode from the spec
        sb3_check_env(env.unwrapped)
        _, info = env.reset(seed=0)  # through the passive checker of gym.make's wrappers
        for _ in range(20):
            _, _, terminated, _, info = env.step(env.action_space.sample(mask=info["action_mask"]))
            if terminated:
                _, info = env.reset()


@pytest.mark.parametrize("obs_mode", OBS_MODES)
def test_observations_are_the_store_features_of_the_step(tiny_store, obs_mode):
    store = load_store(tiny_store)
    env = make(tiny_store, obs_mode=obs_mode, modality="audio" if obs_mode == "frame" else None)
    steps = run_episode(env, always_wait, seed=3)
    clip = store.clip_ids.index(steps[0][3]["clip_id"])
    length = int(store.lengths[clip])
    assert len(steps) == length + 1  # waits through every step, then the forced decision
    for t, (obs, _, _, info) in enumerate(steps[:length]):
        row = store.offsets[clip] + t
        horizon = int(store.lengths.max())
        expected = build_observation(obs_mode, fraction=min((t + 1) / horizon, 1.0),
                                     probs=store.features["probs"][row],
                                     probs_audio=store.features["probs_audio"][row],
                                     probs_visual=store.features["probs_visual"][row],
                                     frontend=store.features["voice"][row])
        assert obs.dtype == np.float32 and obs in env.observation_space
        np.testing.assert_array_equal(obs, expected)
        assert info["step"] == t and info["fraction"] == pytest.approx((t + 1) / length)
    dims = {"belief": 3 * 6 + 1, "frame": 5 + 1, "probs": 6 + 1}[obs_mode]
    assert env.observation_space.shape == (dims,)
    space = env.observation_space
    assert np.isfinite(space.low).all() and np.isfinite(space.high).all()
    assert space.low[-1] == 0 and space.high[-1] == 1
    if obs_mode != "frame":
        assert (space.low[:-1] == 0).all() and (space.high[:-1] == 1).all()
    train, evaluation = make(tiny_store, obs_mode=obs_mode), make(tiny_store, obs_mode=obs_mode, split="eval")
    assert train.observation_space == evaluation.observation_space


def test_rewards_latency_cost_and_decision_info(tiny_store):
    store = load_store(tiny_store)
    env = make(tiny_store, latency_cost=0.01, correct_reward=2.0, wrong_reward=-3.0)
    steps = run_episode(env, lambda obs, info: 0 if info["step"] < 2 else 1 + info["label"], seed=0)
    assert [round(r, 12) for _, r, _, _ in steps[1:]] == [-0.01, -0.01, 2.0]
    end = steps[-1][3]
    clip = store.clip_ids.index(end["clip_id"])
    length = int(store.lengths[clip])
    assert end["is_correct"] is True and end["prediction"] == end["label"] == store.labels[clip]
    assert end["decision_step"] == 2 and end["decision_time_s"] == pytest.approx(0.3)
    assert end["earliness"] == pytest.approx(3 / length) and end["speaker"] == store.speakers[clip]
    wrong = run_episode(env, lambda obs, info: 1 + (info["label"] + 1) % 6, seed=0)
    assert wrong[-1][1] == -3.0 and wrong[-1][3]["is_correct"] is False and len(wrong) == 2
    assert isinstance(wrong[-1][1], float) and isinstance(wrong[-1][2], bool)


def test_time_shaped_latency_cost(tiny_store):
    env = make(tiny_store, latency_cost=0.1, latency_power=2.0)
    steps = run_episode(env, always_wait, seed=1)
    length = len(steps) - 1
    costs = [-r for _, r, _, _ in steps[1:-1]]
    np.testing.assert_allclose(costs, [0.1 * ((t + 1) / length) ** 2 for t in range(length - 1)])


def test_default_wait_cost_is_a_fraction_of_a_correct_answer(tiny_store):
    store = load_store(tiny_store)
    env = make(tiny_store)
    worst = -env.episodes.wait_reward[: int(store.lengths.max())].sum()
    assert 0 < worst <= 0.2 * env.unwrapped.config.correct_reward


def test_last_step_wait_rule_and_action_mask(tiny_store):
    env = make(tiny_store)
    steps = run_episode(env, always_wait, seed=2)
    masks = [info["action_mask"] for _, _, _, info in steps]
    assert all(m.dtype == np.int8 and m.shape == (7,) for m in masks)
    assert all(m[0] == 1 for m in masks[:-2]) and masks[-2][0] == 0 and masks[-2][1:].all()
    assert env.action_space.sample(mask=masks[-2]) != 0
    with pytest.raises(RuntimeError, match="reset"):
        make(tiny_store).action_masks()
    env.reset(seed=2)
    for mask in masks[:-1]:  # action_masks(), MaskablePPO's name, is the info's mask as booleans
        assert np.array_equal(env.unwrapped.action_masks(), mask.astype(bool))
        env.step(0)
    end = steps[-1]
    assert end[1] == -1.0 and end[2] is True
    assert end[3]["prediction"] == -1 and end[3]["is_correct"] is False
    strict = make(tiny_store, last_step_wait="error")
    obs, info = strict.reset(seed=2)
    for _ in range(len(steps) - 2):
        strict.step(0)
    with pytest.raises(ValueError, match="illegal at the last step"):
        strict.step(0)


@pytest.mark.parametrize("action, error, message", [
    (-1, ValueError, "out of range"), (7, ValueError, "out of range: actions are 0 \\(wait\\) and 1..6"),
    (1.5, TypeError, "must be an integer"), ("1", TypeError, "must be an integer"),
    (np.array([1, 2]), TypeError, "must be an integer")])
def test_bad_actions_raise_clear_errors(tiny_store, action, error, message):
    env = make(tiny_store)
    with pytest.raises(RuntimeError, match="reset"):
        env.step(0)
    env.reset(seed=0)
    with pytest.raises(error, match=message):
        env.step(action)
    _, _, terminated, _, _ = env.step(np.int64(1))  # numpy integers and 0-d arrays are fine
    assert terminated
    with pytest.raises(RuntimeError, match="episode has ended"):
        env.step(np.array(1))


@pytest.mark.parametrize("kwargs, message", [
    ({"obs_mode": "pixels"}, "obs_mode must be one of"), ({"modality": "smell"}, "modality must be one of"),
    ({"modality": "audio"}, "temporal model of the store's modality"), ({"split": "test"}, "split must be one of"),
    ({"clip_order": "shuffled"}, "clip_order must be one of"), ({"latency_cost": -1}, "must be >= 0"),
    ({"wrong_reward": float("nan")}, "finite number"), ({"last_step_wait": "skip"}, "last_step_wait must be one of"),
    ({"render_mode": "human"}, "render_mode must be None or one of")])
def test_bad_arguments_raise_clear_errors(tiny_store, kwargs, message):
    with pytest.raises(ValueError, match=message):
        AVEmotionEnv(store=tiny_store, **kwargs)


@pytest.mark.parametrize("make_env, caller, arguments", [
    (lambda store, **kw: gym.make("AVEmotion-v0", store=store, **kw), "AVEmotionEnv.__init__()",
     "arguments: store, render_mode, ingest_dir"),
    (lambda store, **kw: gym.make_vec("AVEmotion-v0", 2, vectorization_mode="vector_entry_point", store=store, **kw),
     "AVEmotionVectorEnv.__init__()", "arguments: num_envs, store, render_mode, ingest_dir, device, autoreset_mode")])
def test_unknown_setting_is_refused_in_pythons_wording(tiny_store, make_env, caller, arguments):
    """Wrappers (TorchRL's GymEnv with ``frameskip``) retry without an argument that Python's wording refuses."""
    with pytest.raises(TypeError) as refused:
        make_env(str(tiny_store), frameskip=4)
    settings = ", ".join(EnvConfig.names())
    assert f"{caller} got an unexpected keyword argument 'frameskip' (settings: {settings}; {arguments})" in str(
        refused.value)  # gym.make appends the kwargs it was given
    with pytest.raises(TypeError, match=r"unexpected keyword argument 'colour' \(and 'frameskip'; settings: split"):
        make_env(str(tiny_store), colour="red", frameskip=4)


def test_seeded_reset_fixes_the_episode_sequence(tiny_store):
    store = load_store(tiny_store)

    def sequence(env, seed, n=40):
        first = env.reset(seed=seed)[1]["clip_id"]
        return [first] + [env.reset()[1]["clip_id"] for _ in range(n - 1)]

    env = make(tiny_store)
    assert sequence(env, 7) == sequence(make(tiny_store), 7) == sequence(env, 7)
    assert sequence(env, 7) != sequence(env, 8)
    train = {c for c, s in zip(store.clip_ids, store.split, strict=True) if s == 0}
    assert set(sequence(env, 0, 400)) == train  # uniform draws reach every train clip
    assert {c.split("_")[0] for c in sequence(make(tiny_store, split="eval"), 0)} == {"s3"}


def test_sequential_order_visits_every_clip_exactly_once(tiny_store):
    store = load_store(tiny_store)
    env = make(tiny_store, split="eval", clip_order="sequential")
    eval_clips = [c for c, s in zip(store.clip_ids, store.split, strict=True) if s == 1]
    seen = [env.reset(seed=5)[1]["clip_id"]] + [env.reset()[1]["clip_id"] for _ in range(len(eval_clips) - 1)]
    assert seen == eval_clips
    assert env.reset()[1]["clip_id"] == eval_clips[0]  # the next sweep
    env.reset()
    assert env.reset(seed=1)[1]["clip_id"] == eval_clips[0]  # a seeded reset restarts the sweep


def test_reset_to_a_chosen_clip(tiny_store):
    env = make(tiny_store)
    assert env.reset(options={"clip_id": "s1_fear_01"})[1]["clip_id"] == "s1_fear_01"
    with pytest.raises(ValueError, match="not in split 'train'"):
        env.reset(options={"clip_id": "s3_fear_01"})
    with pytest.raises(ValueError, match="no such clip"):
        env.reset(options={"clip_id": "nope"})
    with pytest.raises(ValueError, match="unknown reset options"):
        env.reset(options={"speed": 2})


def test_observations_see_features_not_labels(tiny_store, tmp_path):
    store = load_store(tiny_store)
    shuffled = write_store(
        tmp_path / "shuffled.emostore", class_names=store.class_names, step_rate=store.step_rate,
        modality=store.modality, clip_ids=store.clip_ids, speakers=store.speakers,
        labels=np.random.default_rng(0).permutation(store.labels), split=store.split, lengths=store.lengths,
        features={name: np.asarray(values) for name, values in store.features.items()})
    for obs_mode in OBS_MODES:
        runs = []
        for path in (tiny_store, shuffled):
            env = make(path, obs_mode=obs_mode)
            runs.append([run_episode(env, lambda obs, info: int(obs[0] * 1e4) % 7, seed=s) for s in range(30)])
        for real, fake in zip(*runs, strict=True):  # same features, other labels: identical observations
            assert [s[3]["clip_id"] for s in real] == [s[3]["clip_id"] for s in fake]
            for (obs_a, *_), (obs_b, *_) in zip(real, fake, strict=True):
                np.testing.assert_array_equal(obs_a, obs_b)
        table = make(tiny_store, obs_mode=obs_mode).episodes.observations
        labels = np.repeat(store.labels, store.lengths)
        onehot = np.eye(store.num_classes)[labels]
        for column in table.T:
            assert not np.array_equal(column, labels) and not np.array_equal(column, labels + 1)
            assert not any(np.array_equal(column, onehot[:, k]) for k in range(store.num_classes))


def test_registration_spec(tiny_store):
    spec = gym.spec("AVEmotion-v0")
    assert list(spec.kwargs) == ["store", "split", "obs_mode", "modality", "clip_order", "correct_reward",
                                 "wrong_reward", "latency_cost", "latency_power", "last_step_wait", "render_mode",
                                 "ingest_dir"]
    assert spec.kwargs["store"] is None and spec.kwargs["split"] == "train" and spec.kwargs["clip_order"] == "random"
    config = default_config()["env"]
    assert {key: spec.kwargs[key] for key in config} == config  # the run config's defaults are the env's
    assert spec.max_episode_steps is None and spec.vector_entry_point == "emo_env.envs.vector:AVEmotionVectorEnv"
    gym.register_envs(emo_env)
    envs = gym.make_vec("AVEmotion-v0", num_envs=3, vectorization_mode="vector_entry_point", store=str(tiny_store))
    assert isinstance(envs, AVEmotionVectorEnv) and envs.num_envs == 3
    assert envs.single_action_space == gym.spaces.Discrete(7)


def test_make_with_module_prefix_in_a_fresh_process(tiny_store):
    code = ("import sys, gymnasium as gym\n"
            f"env = gym.make('emo_env:AVEmotion-v0', store={str(tiny_store)!r})\n"
            "obs, info = env.reset(seed=0)\n"
            "print(obs.shape, info['clip_id'])\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("(7,)")  # the default obs_mode, probs: K probabilities + time


def test_missing_bundled_store_is_a_clear_error(tmp_path, monkeypatch):
    from emo_env.envs import episodes

    monkeypatch.setattr(episodes, "bundled_store_path", lambda: tmp_path / "missing.emostore")
    with pytest.raises(FileNotFoundError,
                       match="bundled store .*missing.emostore is missing.*pretrain_encoder.py.*store=PATH"):
        gym.make("AVEmotion-v0")


def test_make_without_arguments_uses_the_bundled_store_in_a_fresh_process():
    code = ("import gymnasium as gym\n"
            "from gymnasium.utils.env_checker import check_env\n"
            "import warnings; warnings.simplefilter('error')\n"
            "env = gym.make('emo_env:AVEmotion-v0')\n"
            "check_env(env.unwrapped)\n"
            "obs, info = env.reset(seed=0)\n"
            "obs, reward, terminated, truncated, info = env.step(1)\n"
            "assert terminated and reward in (1.0, -1.0)\n"
            "print('ok', env.unwrapped.store.path.name)\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("ok")
    store = load_store(bundled_store_path())  # shipped with the package: must be there
    tables = [AVEmotionEnv(obs_mode=mode).episodes.observations for mode in OBS_MODES]
    labels = np.repeat(store.labels, store.lengths)
    for table in tables:
        for column in table.T:
            assert not np.array_equal(column, labels) and not np.array_equal(column, labels + 1)


def write_ingest_dir(root: Path, store) -> Path:
    """Fabricated ingest output for every clip: random face crops and mel windows, one npz per clip."""
    rng = np.random.default_rng(0)
    (root / "clips").mkdir(parents=True)
    for clip, clip_id in enumerate(store.clip_ids):
        steps = int(store.lengths[clip])
        np.savez(root / "clips" / f"{clip_id}.npz", faces=rng.integers(0, 256, (steps, 64, 64, 3), dtype=np.uint8),
                 mels=rng.normal(0, 1, (steps, 96, 64)).astype(np.float16),
                 times=((np.arange(steps) + 0.5) / store.step_rate).astype(np.float32),
                 face_found=np.ones(steps, bool), boxes=np.zeros((steps, 4), np.float32),
                 source_hash=np.array("0" * 64))
    return root


def test_render_shows_face_mel_probabilities_and_timeline(tiny_store, tmp_path):
    store = load_store(tiny_store)
    ingest = write_ingest_dir(tmp_path / "ingest", store)
    env = make(tiny_store, render_mode="rgb_array", ingest_dir=str(ingest))
    assert env.metadata["render_fps"] == store.step_rate and env.metadata["render_modes"] == ["rgb_array"]
    _, info = env.reset(options={"clip_id": "s1_sad_00"})
    first = env.render()
    assert first.shape == (400, 640, 3) and first.dtype == np.uint8
    with np.load(ingest / "clips" / "s1_sad_00.npz") as data:
        face = data["faces"][0]
    np.testing.assert_array_equal(first[56:248:3, 10:202:3], face)  # the face panel is the step's crop, upscaled 3x
    env.step(0)
    second = env.render()
    assert not np.array_equal(first[56:248, 212:630], second[56:248, 212:630])  # the mel window moved
    env.step(1 + info["label"])
    done = env.render()
    timeline = done[380, 10:630]
    assert (timeline == (70, 190, 90)).all(axis=1).any()  # the decision step is marked right (green)
    plain = make(tiny_store, render_mode="rgb_array")
    plain.reset(options={"clip_id": "s1_sad_00"})
    assert plain.render()[70, 100].tolist() == [52, 52, 58]  # placeholder panel without ingest output
    with pytest.raises(ArtifactError, match="clip file .* does not exist"):
        broken = make(tiny_store, render_mode="rgb_array", ingest_dir=str(tmp_path))
        broken.reset(seed=0)
        broken.render()


def test_record_video_writes_a_video(tiny_store, tmp_path):
    pytest.importorskip("moviepy")
    import av

    env = gym.wrappers.RecordVideo(gym.make("AVEmotion-v0", store=str(tiny_store), render_mode="rgb_array"),
                                   str(tmp_path / "videos"), episode_trigger=lambda episode: episode == 0)
    env.reset(seed=0)
    steps = 1
    while not env.step(0)[2]:
        steps += 1
    env.close()
    videos = list((tmp_path / "videos").glob("*.mp4"))
    assert len(videos) == 1
    with av.open(str(videos[0])) as container:
        frames = [frame for frame in container.decode(video=0)]
    assert len(frames) == steps + 1 and (frames[0].width, frames[0].height) == (640, 400)
