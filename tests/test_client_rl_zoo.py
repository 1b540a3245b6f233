"""RL Zoo trains on AVEmotion-v0 the way its users run it: ``python -m rl_zoo3.train --gym-packages emo_env`` with
a hyperparameter file for the env, then the saved model reloaded (``rl_zoo3.enjoy`` and ``load``); and
sb3-contrib's MaskablePPO, which RL Zoo does not offer, on the env's own ``action_masks()``."""

import os
import subprocess
import sys
from pathlib import Path

import gymnasium as gym
import pytest
import yaml
from sb3_contrib import MaskablePPO
from sb3_contrib.common.maskable.utils import get_action_masks
from stable_baselines3 import DQN

import emo_env  # noqa: F401  (registers AVEmotion-v0 in this process, for the reloaded models)

pytestmark = pytest.mark.usefixtures("one_torch_thread")

ROOT = Path(__file__).resolve().parents[1]
# RL Zoo has no hyperparameters for an env it does not ship: a file gives them (-conf)
DQN_HYPERPARAMETERS = {"policy": "MlpPolicy", "n_timesteps": 600, "learning_starts": 100, "buffer_size": 1000,
                       "batch_size": 32, "train_freq": 4, "target_update_interval": 100, "exploration_fraction": 0.5,
                       "policy_kwargs": "dict(net_arch=[32, 32])"}


def rl_zoo(tool: str, algo: str, folder: Path, *args: str) -> str:
    """Run ``python -m rl_zoo3.<tool>`` on AVEmotion-v0 in ``folder`` (this checkout first on the path); its output."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    command = [sys.executable, "-m", f"rl_zoo3.{tool}", "--algo", algo, "--env", "AVEmotion-v0",
               "--gym-packages", "emo_env", "-f", "logs", "--num-threads", "1", *args]
    result = subprocess.run(command, cwd=folder, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def test_rl_zoo_trains_dqn_and_reloads_it(tmp_path):
    (tmp_path / "hyperparams.yml").write_text(yaml.safe_dump({"AVEmotion-v0": DQN_HYPERPARAMETERS}))
    rl_zoo("train", "dqn", tmp_path, "-conf", "hyperparams.yml", "--env-kwargs", "obs_mode:'probs'", "--seed", "1",
           "--eval-freq", "-1", "--verbose", "0")
    model = DQN.load(tmp_path / "logs" / "dqn" / "AVEmotion-v0_1" / "AVEmotion-v0.zip", device="cpu")
    assert model.num_timesteps == DQN_HYPERPARAMETERS["n_timesteps"]
    env = gym.make("AVEmotion-v0", obs_mode="probs")
    assert model.observation_space == env.observation_space and model.action_space == env.action_space
    obs, _ = env.reset(seed=0)
    action, _ = model.predict(obs, deterministic=True)
    env.step(action)

    output = rl_zoo("enjoy", "dqn", tmp_path, "--exp-id", "1", "-n", "200", "--no-render", "--deterministic")
    assert "Mean reward:" in output  # enjoy made the env with the saved env_kwargs and played whole episodes
    episodes = [line for line in output.splitlines() if line.startswith("Episode Reward:")]
    assert episodes and all(-1.5 < float(line.split(":")[1]) <= 1.0 for line in episodes)


def test_maskable_ppo_reads_the_envs_action_masks():
    """RL Zoo 2.9 has no MaskablePPO; sb3-contrib's, as its users make it, asks the env's ``action_masks()``. With
    ``last_step_wait='error'`` an unmasked wait at a clip's last step would stop the run."""
    env = gym.make("AVEmotion-v0", last_step_wait="error")
    model = MaskablePPO("MlpPolicy", env, n_steps=128, batch_size=64, n_epochs=1, seed=1, device="cpu")
    model.learn(512)
    obs, _ = env.reset(seed=0)
    for _ in range(300):  # masked greedy play: every chosen action is legal
        masks = get_action_masks(env)
        action, _ = model.predict(obs, action_masks=masks, deterministic=True)
        assert masks[int(action)]
        obs, _, terminated, _, _ = env.step(action)
        if terminated:
            obs, _ = env.reset()
