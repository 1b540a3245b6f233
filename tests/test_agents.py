"""Agents: every registered agent trains briefly and reloads to identical actions; the evaluation; the baselines."""

import dataclasses

import numpy as np
import pytest
import torch

from agents import AGENTS, evaluate, get_agent, load_policy
from agents.baselines import EndPolicy, ThresholdPolicy
from agents.exploration import explore
from agents.monitor import Monitor
from agents.networks import ClassSymmetricQ
from agents.policy import Policy, masked_argmax
from agents.replay import ReplayBuffer
from agents.training import compute_baselines, env_spec, run_agent
from emo_env.artifacts import CheckpointError
from emo_env.config import default_config
from emo_env.data.store import load_store
from emo_env.envs.observations import observation_table

# Hyperparameters small enough for a few hundred steps to include real updates.
SMALL = {
    "dqn": {"num_envs": 16, "batch_size": 32, "learning_starts": 64, "buffer_size": 2000, "target_update_interval": 5},
    "reinforce": {"num_envs": 16, "batch_episodes": 16},
    "sb3-dqn": {"algo_kwargs": {"learning_starts": 50, "target_update_interval": 50}},
    "sb3-ppo": {"num_envs": 2, "algo_kwargs": {"n_steps": 64, "batch_size": 32, "n_epochs": 2}},
    "sb3-a2c": {"num_envs": 2},
    "sb3-maskable-ppo": {"num_envs": 2, "algo_kwargs": {"n_steps": 64, "batch_size": 32, "n_epochs": 2}},
    "sb3-recurrent-ppo": {"num_envs": 2, "algo_kwargs": {"n_steps": 64, "batch_size": 32, "n_epochs": 2},
                          "policy_kwargs": {"lstm_hidden_size": 16}},
}
STEPS = 300


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Small networks train fastest on one thread (as train_agent.py runs them)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def store(tiny_store):
    return load_store(tiny_store)


def make(name, store, config=None, seed=0):
    cls = get_agent(name)
    obs_mode = default_config()["agent"][name]["obs_mode"] or "belief"
    return cls(env_spec(store, obs_mode), config, seed=seed, device="cpu"), {"store": store, "obs_mode": obs_mode}


def eval_batch(store, obs_mode):
    """Observations and masks of every step of the held-out clips."""
    table = observation_table(store, obs_mode)
    rows = np.concatenate([np.arange(store.offsets[c], store.offsets[c + 1]) for c in store.clip_indices("eval")])
    last = np.isin(rows, store.offsets[1:] - 1)
    masks = np.ones((len(rows), store.num_classes + 1), dtype=np.int8)
    masks[last, 0] = 0
    return table[rows], masks


@pytest.mark.parametrize("name", list(AGENTS))
def test_agent_trains_saves_and_reloads_to_identical_actions(name, store, tmp_path):
    agent, env_kwargs = make(name, store, SMALL.get(name))
    before = {k: v.clone() for k, v in agent.state_dict().items()}
    agent.learn({**env_kwargs, "split": "train"}, STEPS if agent.default_total_steps else 0)
    if agent.default_total_steps:  # learners: they took the steps, and the weights moved
        assert agent.num_steps >= STEPS
        assert any(not torch.equal(before[k], v) for k, v in agent.state_dict().items())
    path = agent.save(tmp_path / "policy.pt")
    loaded = load_policy(path, device="cpu")
    assert type(loaded) is type(agent) and loaded.config == agent.config and loaded.spec == agent.spec
    obs, masks = eval_batch(store, env_kwargs["obs_mode"])
    for policy in (agent, loaded):
        policy.reset(np.ones(len(obs), dtype=bool))
    first = agent.act(obs, masks)
    assert first.dtype == np.int64 and first.shape == (len(obs),)
    assert np.array_equal(first, loaded.act(obs, masks))
    assert np.array_equal(agent.act(obs, masks), loaded.act(obs, masks))  # recurrent state moves on alike
    assert (first[masks[:, 0] == 0] != 0).all()  # no agent waits where the mask forbids it
    evaluation = evaluate(loaded, env_kwargs)
    assert evaluation.metrics.episodes == len(store.clip_indices("eval"))


def test_evaluation_visits_every_held_out_clip_exactly_once(store):
    policy = get_agent("random")(env_spec(store, "belief"), seed=3)
    episodes = evaluate(policy, {"store": store}).episodes
    eval_clips = store.clip_indices("eval")
    assert sorted(episodes["clip_id"]) == sorted(store.clip_ids[c] for c in eval_clips)
    assert episodes["clip_id"].is_unique
    lengths = dict(zip(store.clip_ids, store.lengths, strict=True))
    assert (episodes["steps"] == episodes["clip_id"].map(lengths)).all()
    assert ((episodes["decision_step"] >= 0) & (episodes["decision_step"] < episodes["steps"])).all()
    assert np.allclose(episodes["fraction"], (episodes["decision_step"] + 1) / episodes["steps"])
    train = evaluate(policy, {"store": store}, split="train").episodes
    assert sorted(train["clip_id"]) == sorted(store.clip_ids[c] for c in store.clip_indices("train"))


class AlwaysWait(Policy):
    name = "always-wait"

    def act(self, obs, mask):
        return np.zeros(len(obs), dtype=np.int64)


def test_always_wait_is_forced_to_answer_at_the_last_step_and_scored_wrong(store):
    cost = 0.01
    evaluation = evaluate(AlwaysWait(env_spec(store, "probs")), {"store": store, "obs_mode": "probs",
                                                                   "latency_cost": cost})
    e, m = evaluation.episodes, evaluation.metrics
    assert (e["decision_step"] == e["steps"] - 1).all() and (e["fraction"] == 1.0).all()
    assert np.allclose(e["time_s"], e["steps"] / store.step_rate)
    assert (e["prediction"] == -1).all()
    assert m.accuracy == 0.0 and m.unanswered == len(e) and m.earliness == 1.0 and m.hm == 0.0
    assert np.allclose(e["return"], -cost * (e["steps"] - 1) - 1.0)


def test_end_and_threshold_baselines_match_the_store(store):
    probs = store.features["probs"]
    clips = store.clip_indices("eval")
    env_kwargs = {"store": store, "obs_mode": "probs", "latency_cost": 0.0}
    spec = env_spec(store, "probs")
    end = evaluate(EndPolicy(spec), env_kwargs).episodes.set_index("clip_id")
    threshold = evaluate(ThresholdPolicy(spec, {"threshold": 0.6}), env_kwargs).episodes.set_index("clip_id")
    for c in clips:
        rows = probs[store.offsets[c]:store.offsets[c + 1]]
        clip_id = store.clip_ids[c]
        assert end.loc[clip_id, "prediction"] == rows[-1].argmax()
        assert end.loc[clip_id, "decision_step"] == len(rows) - 1
        confident = np.flatnonzero(rows.max(axis=1) >= 0.6)
        step = confident[0] if len(confident) else len(rows) - 1
        assert threshold.loc[clip_id, "decision_step"] == step
        assert threshold.loc[clip_id, "prediction"] == rows[step].argmax()
        assert threshold.loc[clip_id, "return"] == (1.0 if rows[step].argmax() == store.labels[c] else -1.0)


@pytest.mark.slow
def test_dqn_learns_to_beat_random_and_is_deterministic(store):
    config = {**SMALL["dqn"], "num_envs": 32, "batch_size": 64, "learning_starts": 500, "target_update_interval": 20}
    runs = []
    for _ in range(2):
        agent, env_kwargs = make("dqn", store, config, seed=1)
        agent.learn({**env_kwargs, "split": "train"}, 15_000)
        runs.append(agent)
    assert all(torch.equal(v, runs[1].state_dict()[k]) for k, v in runs[0].state_dict().items())
    trained = evaluate(runs[0], {**env_kwargs}, split="train").metrics
    random = evaluate(get_agent("random")(runs[0].spec, seed=1), env_kwargs, split="train").metrics
    assert trained.mean_return > random.mean_return + 0.4


def test_exploration_respects_the_mask_and_explores_waiting():
    generator = torch.Generator().manual_seed(0)
    mask = torch.ones(20_000, 7, dtype=torch.bool)
    mask[:10_000, 0] = False  # last steps: waiting not allowed
    actions = explore(torch.zeros(20_000, 7), mask, epsilon=1.0, wait_prob=0.8, generator=generator)
    assert (actions[:10_000] != 0).all()
    assert (actions[10_000:] == 0).float().mean() == pytest.approx(0.8, abs=0.02)
    predicted = actions[actions > 0]
    assert torch.bincount(predicted, minlength=7)[1:].float().div(len(predicted)).sub(1 / 6).abs().max() < 0.02
    greedy = explore(torch.arange(7.0).repeat(4, 1), mask[:4], epsilon=0.0, wait_prob=0.8, generator=generator)
    assert greedy.tolist() == [6, 6, 6, 6]


def test_replay_buffer_wraps_around():
    buffer = ReplayBuffer(5, obs_dim=2, num_actions=3, device=torch.device("cpu"))
    for start in (0, 3):
        n = 3
        obs = torch.arange(start, start + n, dtype=torch.float32)[:, None].repeat(1, 2)
        buffer.add(obs, torch.full((n,), 2), torch.ones(n), obs + 100, torch.ones(n, dtype=torch.bool),
                   torch.ones(n, 3, dtype=torch.bool), obs[:, 0].long() % 3)
    assert len(buffer) == 5
    batch = buffer.sample(64, torch.Generator().manual_seed(0))
    assert set(batch.obs[:, 0].tolist()) == {1.0, 2.0, 3.0, 4.0, 5.0}  # transition 0 was overwritten
    assert torch.equal(batch.next_obs, batch.obs + 100) and (batch.action == 2).all() and (batch.reward == 1).all()
    assert (batch.done == 1).all() and batch.next_mask.all() and batch.next_mask.dtype == torch.bool
    assert torch.equal(batch.label, batch.obs[:, 0].long() % 3) and batch.action.dtype == torch.long


def test_clear_errors_for_bad_names_configs_and_files(store, tmp_path):
    with pytest.raises(ValueError, match="unknown agent 'nope'.*dqn"):
        get_agent("nope")
    with pytest.raises(ValueError, match="unknown hyperparameter.*'widht'"):
        make("dqn", store, {"widht": 3})
    with pytest.raises(ValueError, match="needs obs_mode"):
        get_agent("threshold")(env_spec(store, "frame"))
    with pytest.raises(ValueError, match="class_symmetric needs class probabilities.*class_symmetric=false"):
        get_agent("dqn")(env_spec(store, "frame"))
    with pytest.raises(ValueError, match="dqn.ensemble must be at least 1, got 0"):
        make("dqn", store, {"ensemble": 0})
    bad = tmp_path / "bad.pt"
    torch.save({"something": 1}, bad)
    with pytest.raises(CheckpointError, match="not an emo-env policy"):
        load_policy(bad)
    with pytest.raises(CheckpointError, match="does not exist"):
        load_policy(tmp_path / "missing.pt")
    foreign = tmp_path / "foreign.pt"
    torch.save({"model": torch.nn.Linear(2, 2)}, foreign)  # a pickled module, not tensors and plain values
    with pytest.raises(CheckpointError) as error:
        load_policy(foreign)
    message = str(error.value)
    assert "foreign.pt holds Python objects other than tensors" in message
    assert "\n" not in message and "weights_only" not in message  # one line, no advice to unpickle it


@pytest.mark.parametrize("name", list(AGENTS))
def test_defaults_yaml_matches_the_agent_hyperparameters(name):
    section = {k: v for k, v in default_config()["agent"][name].items() if k != "obs_mode"}
    defaults = dataclasses.asdict(get_agent(name).Config())
    assert section == defaults


def test_class_symmetric_q_values_follow_the_classes():
    """Permuting the classes of an observation permutes the predict values and leaves wait's alone."""
    torch.manual_seed(0)
    net = ClassSymmetricQ(obs_dim=2 * 4 + 1, num_classes=4, hidden=[16, 16])  # two parts of probabilities, time
    obs = torch.cat([torch.softmax(torch.randn(5, 4), 1), torch.softmax(torch.randn(5, 4), 1), torch.rand(5, 1)],
                    dim=1)
    order = torch.tensor([2, 0, 3, 1])
    permuted = torch.cat([obs[:, :4][:, order], obs[:, 4:8][:, order], obs[:, 8:]], dim=1)
    q, q_permuted = net(obs), net(permuted)
    assert q.shape == (5, 5)
    torch.testing.assert_close(q_permuted[:, 0], q[:, 0])
    torch.testing.assert_close(q_permuted[:, 1:], q[:, 1:][:, order])
    assert not torch.allclose(q[:, 1:], q[:, 1:2].expand(-1, 4))  # the classes' values differ with their probabilities


def test_dqn_ensemble_starts_apart_trains_and_acts_on_the_members_mean(store, tmp_path):
    """Members start from different weights (the first one is the single network of that seed), all of them
    learn, and the actions, before and after a reload, are the argmax of their mean value."""
    agent, env_kwargs = make("dqn", store, {**SMALL["dqn"], "ensemble": 3})
    single, _ = make("dqn", store, SMALL["dqn"])

    def weights(net: torch.nn.Module) -> torch.Tensor:
        return torch.nn.utils.parameters_to_vector(net.parameters()).detach().clone()

    start = [weights(member) for member in agent.q_net.members]
    assert torch.equal(start[0], weights(single.q_net.members[0]))
    assert not torch.equal(start[0], start[1]) and not torch.equal(start[1], start[2])
    agent.learn({**env_kwargs, "split": "train"}, STEPS)
    after = [weights(member) for member in agent.q_net.members]
    assert all(not torch.equal(before, now) for before, now in zip(start, after, strict=True))
    obs, masks = eval_batch(store, env_kwargs["obs_mode"])
    values = agent.q_net.member_values(torch.as_tensor(obs))
    assert values.shape == (3, len(obs), store.num_classes + 1)
    expected = masked_argmax(values.mean(dim=0), torch.as_tensor(masks)).numpy()
    loaded = load_policy(agent.save(tmp_path / "policy.pt"), device="cpu")
    assert loaded.config.ensemble == 3
    assert np.array_equal(agent.act(obs, masks), expected) and np.array_equal(loaded.act(obs, masks), expected)


def test_dqn_policy_saved_before_ensembles_still_loads(store, tmp_path):
    """A policy file of one Q-network, as saved before ``ensemble`` existed (no ``members.0.`` prefix)."""
    agent, env_kwargs = make("dqn", store, SMALL["dqn"])
    agent.learn({**env_kwargs, "split": "train"}, STEPS)
    path = agent.save(tmp_path / "policy.pt")
    saved = torch.load(path, weights_only=True)
    saved["state"] = {key.removeprefix("members.0."): value for key, value in saved["state"].items()}
    del saved["config"]["ensemble"]
    torch.save(saved, path)
    obs, masks = eval_batch(store, env_kwargs["obs_mode"])
    assert np.array_equal(load_policy(path, device="cpu").act(obs, masks), agent.act(obs, masks))


def test_dqn_calibration_jitter_retempers_only_the_probabilities(store):
    """Replayed beliefs get one random temperature per transition: same ranking, new confidence, same time."""
    agent, _ = make("dqn", store, {"calibration_jitter": 0.7})
    k = agent.spec.num_classes
    probs = torch.softmax(torch.randn(64, k), dim=1)
    obs = torch.cat([probs, torch.rand(64, 1)], dim=1)
    next_obs = torch.cat([torch.softmax(torch.randn(64, k), dim=1), torch.rand(64, 1)], dim=1)
    new_obs, new_next = agent._retemper(obs, next_obs)
    new_probs = new_obs[:, :k]
    torch.testing.assert_close(new_probs.sum(1), torch.ones(64))
    assert torch.equal(new_probs.argmax(1), probs.argmax(1)) and torch.equal(new_obs[:, k:], obs[:, k:])
    assert torch.equal(new_next[:, k:], next_obs[:, k:])
    # One temperature for a transition's obs and next obs: log-prob gaps scale by the same factor.
    def gap(x: torch.Tensor) -> torch.Tensor:
        return x[:, 0].log() - x[:, 1].log()

    torch.testing.assert_close(gap(new_probs) / gap(probs), gap(new_next[:, :k]) / gap(next_obs[:, :k]),
                               rtol=1e-3, atol=1e-3)
    ratio = gap(new_probs) / gap(probs)
    assert ratio.min() < 0.8 and ratio.max() > 1.25 and (ratio > 0.49).all() and (ratio < 2.02).all()


class EpisodeRecorder(Monitor):
    """Keeps the earliness of every finished training episode."""

    def __init__(self) -> None:
        self.earliness: list[float] = []

    def on_step(self, policy, finished, info) -> None:
        if finished is not None:
            self.earliness += list(finished["fraction"])


@pytest.mark.parametrize("halt_prob", [None, 0.05])
def test_ppo_patient_start_answers_late_before_any_update(halt_prob, store):
    config = {**SMALL["sb3-maskable-ppo"], "initial_halt_prob": halt_prob}
    agent, env_kwargs = make("sb3-maskable-ppo", store, config)
    recorder = EpisodeRecorder()
    agent.learn({**env_kwargs, "split": "train"}, 2 * 64, recorder)  # one rollout: the initial policy acts
    mean = float(np.mean(recorder.earliness))
    if halt_prob is None:  # uniform over wait and 6 classes: almost every episode answers in its first steps
        assert mean < 0.25
    else:  # answering at 5 % per step: most episodes run long
        assert mean > 0.6


def test_ppo_initial_halt_prob_is_checked():
    with pytest.raises(ValueError, match="initial_halt_prob"):
        get_agent("sb3-ppo").Config(initial_halt_prob=1.0)


def test_a_run_given_a_store_path_loads_the_store_once(tiny_store, tmp_path, monkeypatch):
    import emo_env.envs.episodes

    loads = []
    monkeypatch.setattr(emo_env.envs.episodes, "load_store", lambda path: loads.append(path) or load_store(path))
    env_kwargs = {"store": str(tiny_store), "obs_mode": "probs"}
    run_agent("dqn", env_kwargs=env_kwargs, total_steps=64, device="cpu", progress=False, out_dir=tmp_path,
              eval_every=32, hyperparameters={"learning_starts": 16, "batch_size": 8})
    assert loads == [str(tiny_store)]  # training, its periodic evaluations and the final one share it
    compute_baselines(env_kwargs)
    assert loads == [str(tiny_store)] * 2  # the fair baselines' tuning and evaluations, the oracle sweep
