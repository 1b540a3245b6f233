"""skrl trains on AVEmotion-v0 the way its users do: ``wrap_env`` around a Gymnasium vector env, its DQN agent with a
replay memory and a ``SequentialTrainer``; the checkpoint it writes is loaded into a fresh agent that plays."""

import gymnasium as gym
import pytest
import torch
from skrl.agents.torch.dqn import DQN, DQN_CFG
from skrl.envs.wrappers.torch import wrap_env
from skrl.memories.torch import RandomMemory
from skrl.models.torch import DeterministicMixin, Model
from skrl.trainers.torch import SequentialTrainer
from skrl.utils import set_seed

import emo_env  # noqa: F401  (registers AVEmotion-v0)

pytestmark = pytest.mark.usefixtures("one_torch_thread")


class QNetwork(DeterministicMixin, Model):
    """Action values of an observation, as skrl's DQN asks of its ``q_network``."""

    def __init__(self, observation_space, action_space, device):
        Model.__init__(self, observation_space=observation_space, action_space=action_space, device=device)
        DeterministicMixin.__init__(self)
        self.net = torch.nn.Sequential(torch.nn.Linear(self.num_observations, 64), torch.nn.ReLU(),
                                       torch.nn.Linear(64, self.num_actions))

    def compute(self, inputs, role=""):
        return self.net(inputs["observations"]), {}


def make_agent(env, directory) -> DQN:
    models = {role: QNetwork(env.observation_space, env.action_space, env.device)
              for role in ("q_network", "target_q_network")}
    cfg = DQN_CFG(learning_starts=100, batch_size=64, learning_rate=2.5e-3, target_update_interval=50, polyak=1.0,
                  exploration_scheduler=lambda step, steps: max(0.05, 1 - step / (0.3 * steps)))
    cfg.experiment.directory, cfg.experiment.experiment_name = str(directory), "dqn"
    cfg.experiment.checkpoint_interval = 500
    memory = RandomMemory(memory_size=1000, num_envs=env.num_envs, device=env.device)
    return DQN(models=models, memory=memory, observation_space=env.observation_space,
               action_space=env.action_space, device=env.device, cfg=cfg)


def test_skrl_dqn_trains_on_a_vector_env_and_its_checkpoint_reloads(tmp_path):
    set_seed(1)
    # skrl reads a transition's next observation from the same step: Gymnasium's same-step autoreset, not the
    # next-step autoreset of the vector entry point (whose reset steps, reward 0, would reach the replay memory).
    envs = wrap_env(gym.make_vec("AVEmotion-v0", num_envs=8, vectorization_mode="sync", obs_mode="probs",
                                 vector_kwargs={"autoreset_mode": gym.vector.AutoresetMode.SAME_STEP}), verbose=False)
    assert envs.num_envs == 8 and envs.action_space == gym.spaces.Discrete(7)
    agent = make_agent(envs, tmp_path)
    trainer = SequentialTrainer(cfg={"timesteps": 1000, "headless": True, "disable_progressbar": True,
                                     "close_environment_at_exit": False}, env=envs, agents=agent)
    trainer.train()
    envs.close()
    assert agent.memory.filled  # 1,000 steps of 8 envs, all real transitions: a decision (+-1) or a wait (cost)
    rewards = agent.memory.get_tensor_by_name("rewards").flatten()
    terminated = agent.memory.get_tensor_by_name("terminated").flatten()
    assert torch.isin(rewards[terminated], torch.tensor([-1.0, 1.0])).all()
    assert ((rewards[~terminated] < 0) & (rewards[~terminated] > -0.01)).all()

    checkpoint = tmp_path / "dqn" / "checkpoints" / "agent_1000.pt"
    env = wrap_env(gym.make("AVEmotion-v0", obs_mode="probs"), verbose=False)
    reloaded = make_agent(env, tmp_path / "eval")
    reloaded.load(str(checkpoint))
    obs, _ = env.reset()
    with torch.no_grad():
        q_values = reloaded.q_network.act({"observations": obs}, role="q_network")[0]
        assert torch.equal(q_values, agent.q_network.act({"observations": obs}, role="q_network")[0])
    episodes = 0
    while episodes < 50:  # the reloaded agent plays whole episodes, each ended by one answer
        with torch.no_grad():
            q_values, _ = reloaded.q_network.act({"observations": obs}, role="q_network")
        obs, reward, terminated, truncated, _ = env.step(q_values.argmax(dim=1, keepdim=True))
        assert not truncated.any()
        if terminated.any():
            assert float(reward) in (-1.0, 1.0)
            episodes += 1
            obs, _ = env.reset()
