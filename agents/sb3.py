"""stable-baselines3 and sb3-contrib agents behind the policy interface: configuration only.

Each adapter names an algorithm and its policy; training is the library's ``learn`` on
``AVEmotionEnv`` copies in a ``DummyVecEnv``. Hyperparameters pass through unchanged:
``algo_kwargs`` to the algorithm's constructor, ``policy_kwargs`` to its policy. Acting is
deterministic: the highest action value (DQN) or logit (actor-critic) among the allowed actions.
MaskablePPO reads the mask from the env's ``info["action_mask"]``; RecurrentPPO carries its LSTM
state across the steps of each row (:meth:`Policy.reset` starts a row afresh).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, cast

import gymnasium as gym
import numpy as np
import torch
from sb3_contrib import MaskablePPO, RecurrentPPO
from stable_baselines3 import A2C, DQN, PPO
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.logger import Logger

from agents.monitor import Monitor
from agents.policy import Policy, masked_argmax, seeded
from emo_env.envs.av_emotion import AVEmotionEnv

if TYPE_CHECKING:
    from sb3_contrib.common.maskable.policies import MaskableActorCriticPolicy
    from sb3_contrib.common.recurrent.policies import RecurrentActorCriticPolicy
    from stable_baselines3.common.distributions import Distribution as SB3Distribution
    from stable_baselines3.common.policies import ActorCriticPolicy
    from stable_baselines3.dqn.policies import DQNPolicy

__all__ = ["SB3Config", "SB3DQNConfig", "SB3PPOConfig", "SB3Agent", "SB3DqnAgent", "SB3PpoAgent", "SB3A2CAgent",
           "SB3MaskablePpoAgent", "SB3RecurrentPpoAgent"]


@dataclass
class SB3Config:
    num_envs: int = 8
    """Env copies in the DummyVecEnv."""
    algo_kwargs: dict[str, Any] = field(default_factory=dict)
    """Algorithm constructor arguments."""
    policy_kwargs: dict[str, Any] = field(default_factory=dict)
    """Policy constructor arguments, e.g. {net_arch: [64, 64]}."""

    def algorithm_kwargs(self) -> dict[str, Any]:
        """The algorithm's constructor arguments."""
        return dict(self.algo_kwargs)


@dataclass
class SB3DQNConfig(SB3Config):
    num_envs: int = 1
    """Env copies in the DummyVecEnv (one for DQN's replay)."""


@dataclass
class SB3PPOConfig(SB3Config):
    n_steps: int = 128
    """Rollout steps per env and update (SB3: 2,048, a handful of updates in the budget)."""
    batch_size: int = 256
    """Minibatch size."""
    gamma: float = 1.0
    """Discount (1: undiscounted, like the other learners)."""
    initial_halt_prob: float | None = 0.05
    """Probability of answering (any class) at each step under the initial policy, set through the bias of
    its action logits (None: SB3's uniform start, which answers at once and rarely sees a late answer)."""

    def __post_init__(self) -> None:
        if self.initial_halt_prob is not None and not 0 < self.initial_halt_prob < 1:
            raise ValueError(f"initial_halt_prob must be in (0, 1), got {self.initial_halt_prob!r}")

    def algorithm_kwargs(self) -> dict[str, Any]:
        return {"n_steps": self.n_steps, "batch_size": self.batch_size, "gamma": self.gamma, **self.algo_kwargs}


class SB3Agent(Policy):
    """An SB3 ``algorithm`` with its ``policy_alias``."""

    algorithm: ClassVar[type[BaseAlgorithm]]
    policy_alias: ClassVar[str] = "MlpPolicy"
    family: ClassVar[str] = "actor-critic"  # "q" (action values), "actor-critic" or "recurrent"
    masked: ClassVar[bool] = False
    Config = SB3Config

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        space = gym.spaces.Box(-np.inf, np.inf, (self.spec.obs_dim,), np.float32)
        policy_class = self.algorithm.policy_aliases[self.policy_alias]
        with seeded(self.seed):
            self.sb3_policy = policy_class(space, gym.spaces.Discrete(self.spec.num_actions), lambda _: 0.0,
                                           **self.config.policy_kwargs).to(self.device)
        self._optimizer_state: dict[str, Any] | None = None
        self._lstm: tuple[torch.Tensor, torch.Tensor] | None = None
        self._starts: torch.Tensor | None = None

    # -- acting ------------------------------------------------------------------------------------
    @torch.no_grad()
    def act(self, obs: np.ndarray, mask: np.ndarray) -> np.ndarray:
        policy = self.sb3_policy.eval()
        obs_t = torch.as_tensor(obs, dtype=torch.float32, device=self.device)
        if self.family == "q":
            scores = cast("DQNPolicy", policy).q_net(obs_t)
        elif self.family == "recurrent":
            self._ensure_rows(len(obs_t))
            assert self._lstm is not None and self._starts is not None  # set by _ensure_rows
            recurrent = cast("RecurrentActorCriticPolicy", policy)
            distribution, lstm = recurrent.get_distribution(obs_t, self._lstm, self._starts)
            self._lstm = cast("tuple[torch.Tensor, torch.Tensor]", lstm)  # (h, c)
            self._starts = torch.zeros_like(self._starts)
            scores = _logits(distribution)
        else:
            scores = _logits(cast("ActorCriticPolicy | MaskableActorCriticPolicy", policy).get_distribution(obs_t))
        return masked_argmax(scores, torch.as_tensor(mask, device=self.device)).cpu().numpy()

    def reset(self, episode_start: np.ndarray) -> None:
        if self.family == "recurrent":
            self._ensure_rows(len(episode_start))
            assert self._starts is not None  # set by _ensure_rows
            self._starts = torch.maximum(self._starts, torch.as_tensor(episode_start, dtype=torch.float32,
                                                                        device=self.device))

    def _ensure_rows(self, rows: int) -> None:
        if self._lstm is None or self._lstm[0].shape[1] != rows:
            layers, _, size = cast("RecurrentActorCriticPolicy", self.sb3_policy).lstm_hidden_state_shape
            zeros = torch.zeros(layers, rows, size, device=self.device)
            self._lstm = (zeros, zeros.clone())
            self._starts = torch.ones(rows, device=self.device)

    # -- learning ----------------------------------------------------------------------------------
    def learn(self, env_kwargs: Mapping[str, Any], total_steps: int, monitor: Monitor | None = None) -> None:
        remaining = total_steps - self.num_steps
        if remaining <= 0:
            return
        # MaskablePPO asks the env's action_masks() through the Monitor that make_vec_env puts around it.
        env = make_vec_env(AVEmotionEnv, n_envs=self.config.num_envs, seed=self.seed + self.num_steps,
                           env_kwargs=dict(env_kwargs))
        model = self.algorithm(self.policy_alias, env, seed=self.seed, device=self.device, verbose=0,
                                        policy_kwargs=dict(self.config.policy_kwargs), **self.config.algorithm_kwargs())
        if self.num_steps == 0 and isinstance(self.config, SB3PPOConfig) and self.config.initial_halt_prob is not None:
            _start_patient(cast("ActorCriticPolicy", model.policy), self.config.initial_halt_prob)
        if self.num_steps > 0:  # resuming: carry the weights and optimizer state on
            model.policy.load_state_dict(self.sb3_policy.state_dict())
            if self._optimizer_state is not None:
                model.policy.optimizer.load_state_dict(self._optimizer_state)
            model.num_timesteps = self.num_steps
        model.set_logger(Logger(None, []))  # no log folder: progress goes to the Monitor
        self.sb3_policy = model.policy
        try:
            model.learn(remaining, callback=MonitorCallback(self, monitor or Monitor()),
                        reset_num_timesteps=self.num_steps == 0)
        finally:
            env.close()
        self.num_steps = int(model.num_timesteps)

    # -- weights -----------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, torch.Tensor]:
        return dict(self.sb3_policy.state_dict())

    def load_state_dict(self, state: Mapping[str, torch.Tensor]) -> None:
        self.sb3_policy.load_state_dict(state)

    def checkpoint_state(self) -> dict[str, Any]:
        return {**super().checkpoint_state(), "optimizer": self.sb3_policy.optimizer.state_dict()}

    def load_checkpoint_state(self, state: Mapping[str, Any]) -> None:
        super().load_checkpoint_state(state)
        self._optimizer_state = state["optimizer"]


@torch.no_grad()
def _start_patient(policy: ActorCriticPolicy, halt_prob: float) -> None:
    """Bias the action logits so that the initial policy answers with probability ``halt_prob`` per step, the
    answer spread evenly over the classes (action 0 is wait; the action layer's weights start near 0)."""
    bias = cast(torch.nn.Linear, policy.action_net).bias
    classes = bias.numel() - 1
    bias.zero_()
    bias[0] = float(np.log(classes * (1 - halt_prob) / halt_prob))


def _logits(distribution: SB3Distribution) -> torch.Tensor:
    """The action logits of an SB3 distribution over the Discrete actions: a torch ``Categorical`` (sb3-contrib's
    ``MaskableCategorical`` is one)."""
    return cast(torch.distributions.Categorical, distribution.distribution).logits


class MonitorCallback(BaseCallback):
    """Forwards SB3 training progress (finished episodes, step count) to a :class:`Monitor`."""

    def __init__(self, agent: SB3Agent, monitor: Monitor) -> None:
        super().__init__()
        self.agent, self.monitor = agent, monitor
        self.returns = np.zeros(agent.config.num_envs)

    def _on_step(self) -> bool:
        self.returns += self.locals["rewards"]
        dones = np.flatnonzero(self.locals["dones"])
        infos = self.locals["infos"]
        finished = {"return": self.returns[dones].copy(),
                    "correct": np.array([infos[i]["is_correct"] for i in dones], dtype=bool),
                    "fraction": np.array([infos[i]["earliness"] for i in dones], dtype=np.float64)}
        self.returns[dones] = 0.0
        self.agent.num_steps = self.num_timesteps
        self.monitor.on_step(self.agent, finished, {})
        return True


def _sb3(name: str, algorithm: type[BaseAlgorithm], *, family: str = "actor-critic", masked: bool = False,
         policy_alias: str = "MlpPolicy", config: type = SB3Config, budget: int = 200_000) -> type[SB3Agent]:
    attrs = {"name": name, "algorithm": algorithm, "family": family, "masked": masked, "policy_alias": policy_alias,
             "Config": config, "default_total_steps": budget,
             "__doc__": f"{algorithm.__module__.split('.')[0]} ``{algorithm.__name__}`` on AVEmotion-v0."}
    return type(f"SB3{name.split('-', 1)[1].title().replace('-', '')}Agent", (SB3Agent,), attrs)


SB3DqnAgent = _sb3("sb3-dqn", DQN, family="q", config=SB3DQNConfig, budget=100_000)
SB3PpoAgent = _sb3("sb3-ppo", PPO, config=SB3PPOConfig, budget=100_000)
SB3A2CAgent = _sb3("sb3-a2c", A2C)
SB3MaskablePpoAgent = _sb3("sb3-maskable-ppo", MaskablePPO, masked=True, config=SB3PPOConfig, budget=100_000)
SB3RecurrentPpoAgent = _sb3("sb3-recurrent-ppo", RecurrentPPO, family="recurrent", policy_alias="MlpLstmPolicy")
