"""A fast custom DQN that steps the vectorized environment.

Double DQN (the online network picks the next action among the allowed ones, the target network
scores it), a hard-updated target network, a replay buffer of preallocated tensors, Huber loss,
a network of configurable width and depth, and epsilon-greedy exploration that respects the action
mask and explores the wait/predict choice separately from the class (:mod:`agents.exploration`).
Predicting ends an episode with a reward the env's rules fix from the clip's label (which its
``info`` carries): with ``all_class_targets`` every stored state also regresses the values of *all*
``K`` predict actions on those known rewards, hindsight-style, instead of only the action taken;
the value of waiting is learned by double DQN as usual. Without it (plain DQN) each state teaches
one class value, which on noisy beliefs leaves the class choice worse than the temporal model's
argmax. With ``class_symmetric`` (the default) the network is
:class:`agents.networks.ClassSymmetricQ`: one predict head shared by all classes on a
class-order-free context, so the values cannot memorise which class each of the few hundred
training clips is (a plain MLP does, then answers too early on unseen speakers). ``ensemble``
networks (:class:`agents.networks.QEnsemble`) train side by side from different initial weights on the
same batches and targets; the agent acts on their mean value.
``calibration_jitter`` (off by default) re-tempers the replayed beliefs at random, for stores whose
training and held-out beliefs are calibrated differently; the stores of ``pretrain_encoder.py``
share one calibration, and on their inner-validation speakers the jitter lowers the return. All of it runs as batched
torch operations on ``device`` (CPU or GPU), ``gradient_steps`` updates per vector step of
``num_envs`` episodes. Checkpoints hold the networks, the optimizer and the counters, not the
replay buffer: a resumed run refills it before updating again.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from agents.exploration import explore, linear_schedule
from agents.monitor import Monitor
from agents.networks import ClassSymmetricQ, QEnsemble, mlp
from agents.policy import Policy, masked_argmax, seeded
from agents.replay import ReplayBuffer
from agents.rollout import VectorStepper
from emo_env.envs.observations import split_beliefs

__all__ = ["DQNConfig", "DQNAgent"]


@dataclass
class DQNConfig:
    hidden: list[int] = field(default_factory=lambda: [64, 64])
    """MLP widths."""
    activation: str = "relu"
    """Hidden-layer activation: relu or tanh."""
    learning_rate: float = 3.0e-4
    """Adam step size; 1e-3 scored a lower return on inner validation (agents.validation)."""
    final_learning_rate: float | None = 0.0
    """Step size at the end of the budget, reached linearly from learning_rate (None = constant); decaying to 0
    scored a higher return with less spread across seeds than a constant rate on inner validation."""
    gamma: float = 1.0
    """Episodes are short and end on an answer: the env's return, undiscounted."""
    num_envs: int = 512
    """Episodes stepped together."""
    batch_size: int = 256
    """Replayed transitions per update."""
    buffer_size: int = 100_000
    """Replay buffer capacity, in transitions."""
    learning_starts: int = 5_000
    """Env steps before the first update."""
    gradient_steps: int = 1
    """Updates per vector step."""
    target_update_interval: int = 50
    """Updates between target network copies."""
    max_grad_norm: float = 10.0
    """Gradient norm clip."""
    epsilon_start: float = 1.0
    """Exploration rate at the start."""
    epsilon_end: float = 0.02
    """Exploration rate after the decay."""
    exploration_fraction: float = 0.3
    """Share of the training budget over which epsilon decays."""
    explore_wait_prob: float = 0.9
    """Exploratory steps: probability of waiting (else a uniform class)."""
    all_class_targets: bool = True
    """Also regress every predict action on its known reward (see the module doc)."""
    class_symmetric: bool = True
    """One predict head shared by all classes (networks.ClassSymmetricQ); not for obs_mode frame."""
    calibration_jitter: float = 0.0
    """Replayed beliefs re-tempered by exp(U(-j, j)) (see _retemper); 0 = off."""
    ensemble: int = 1
    """Q-networks from different initial weights, acting on their mean value (networks.QEnsemble)."""


class DQNAgent(Policy):
    """Double DQN on the vectorized env; acts greedily among the allowed actions."""

    name = "dqn"
    Config = DQNConfig
    default_total_steps = 2_000_000

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        cfg = self.config
        if cfg.ensemble < 1:
            raise ValueError(f"dqn.ensemble must be at least 1, got {cfg.ensemble}")
        with seeded(self.seed):
            self.q_net = QEnsemble([self._network() for _ in range(cfg.ensemble)]).to(self.device)
        self.target_net = copy.deepcopy(self.q_net).requires_grad_(False)
        self.optimizer = torch.optim.Adam(self.q_net.parameters(), lr=cfg.learning_rate, fused=True)
        self.generator = torch.Generator(self.device).manual_seed(self.seed)
        self.num_updates = 0

    def _network(self) -> torch.nn.Module:
        cfg, spec = self.config, self.spec
        if not cfg.class_symmetric:
            return mlp(spec.obs_dim, cfg.hidden, spec.num_actions, cfg.activation)
        if spec.obs_mode == "frame":
            raise ValueError("dqn.class_symmetric needs class probabilities in the observation (obs_mode belief or "
                             "probs); set agent.dqn.class_symmetric=false for obs_mode frame")
        return ClassSymmetricQ(spec.obs_dim, spec.num_classes, cfg.hidden, cfg.activation)

    @torch.no_grad()
    def act(self, obs: np.ndarray, mask: np.ndarray) -> np.ndarray:
        q = self.q_net(torch.as_tensor(obs, dtype=torch.float32, device=self.device))
        return masked_argmax(q, torch.as_tensor(mask, device=self.device)).cpu().numpy()

    def learn(self, env_kwargs: Mapping[str, Any], total_steps: int, monitor: Monitor | None = None) -> None:
        if self.num_steps >= total_steps:
            return
        cfg = self.config
        monitor = monitor or Monitor()
        replay = ReplayBuffer(cfg.buffer_size, self.spec.obs_dim, self.spec.num_actions, self.device)
        stepper = VectorStepper(env_kwargs, cfg.num_envs, seed=self.seed + self.num_steps, device=self.device)
        env_config = stepper.env.config
        self._class_rewards = (env_config.correct_reward, env_config.wrong_reward)
        decay_steps = int(cfg.exploration_fraction * total_steps)
        try:
            while self.num_steps < total_steps:
                epsilon = linear_schedule(cfg.epsilon_start, cfg.epsilon_end, decay_steps, self.num_steps)
                with torch.no_grad():
                    actions = explore(self.q_net(stepper.obs), stepper.mask, epsilon, cfg.explore_wait_prob,
                                      self.generator)
                step = stepper.step(actions)
                valid = step.valid
                replay.add(step.obs[valid], step.action[valid], step.reward[valid], step.next_obs[valid],
                           step.terminated[valid], step.next_mask[valid], step.label[valid])
                self.num_steps += int(valid.sum())
                scalars: dict[str, float | torch.Tensor] = {"epsilon": epsilon}
                if len(replay) >= cfg.learning_starts:
                    if cfg.final_learning_rate is not None:
                        lr = linear_schedule(cfg.learning_rate, cfg.final_learning_rate, total_steps, self.num_steps)
                        for group in self.optimizer.param_groups:
                            group["lr"] = lr
                    for _ in range(cfg.gradient_steps):
                        scalars["loss"] = self._update(replay)
                monitor.on_step(self, step.finished, scalars)
        finally:
            stepper.close()

    def _update(self, replay: ReplayBuffer) -> torch.Tensor:
        cfg = self.config
        batch = replay.sample(cfg.batch_size, self.generator)
        obs, next_obs = batch.obs, batch.next_obs
        if cfg.calibration_jitter > 0:
            obs, next_obs = self._retemper(obs, next_obs)
        members = self.q_net.member_values(torch.cat([obs, next_obs]))  # q(s) and the double-DQN argmax at once
        q_obs = members[:, : len(obs)]
        with torch.no_grad():
            next_action = masked_argmax(members[:, len(obs):].mean(dim=0), batch.next_mask)
            next_q = self.target_net(next_obs).gather(1, next_action[:, None]).squeeze(1)
            target = batch.reward + cfg.gamma * (1.0 - batch.done) * next_q
        q_taken = q_obs[:, torch.arange(len(obs), device=obs.device), batch.action]
        # each member's mean loss, summed over the members
        loss = F.smooth_l1_loss(q_taken, target.expand_as(q_taken), reduction="none").mean(dim=1).sum()
        if cfg.all_class_targets:
            correct, wrong = self._class_rewards
            q_classes = q_obs[:, :, 1:]
            known = torch.full_like(q_classes[0], wrong).scatter_(1, batch.label[:, None], correct)
            errors = F.smooth_l1_loss(q_classes, known.expand_as(q_classes), reduction="none")
            loss = loss + errors.mean(dim=(1, 2)).sum()
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        for member in self.q_net.members:
            torch.nn.utils.clip_grad_norm_(member.parameters(), cfg.max_grad_norm)
        self.optimizer.step()
        self.num_updates += 1
        if self.num_updates % cfg.target_update_interval == 0:
            self.target_net.load_state_dict(self.q_net.state_dict())
        return loss.detach()

    def _retemper(self, obs: torch.Tensor, next_obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Sharpen or flatten the class probabilities of each sampled transition by one random temperature.

        Training beliefs are out-of-fold, so they are calibrated differently from the held-out speaker's;
        varying the calibration teaches a stopping rule that does not hinge on one calibration.
        """
        jitter = self.config.calibration_jitter
        log_t = (2 * torch.rand(len(obs), 1, generator=self.generator, device=obs.device) - 1) * jitter
        out = []
        for x in (obs, next_obs):
            leading, probs, time = split_beliefs(x, self.spec.num_classes)
            probs = torch.softmax(torch.log(probs.clamp_min(1e-6)) * torch.exp(-log_t), dim=1)
            out.append(torch.cat([leading, probs, time], dim=1))
        return out[0], out[1]

    def state_dict(self) -> dict[str, torch.Tensor]:
        return dict(self.q_net.state_dict())

    def load_state_dict(self, state: Mapping[str, torch.Tensor]) -> None:
        state = self._as_members(state)
        self.q_net.load_state_dict(state)
        self.target_net.load_state_dict(state)

    def _as_members(self, state: Mapping[str, torch.Tensor]) -> Mapping[str, torch.Tensor]:
        """Weights saved before Q-ensembles (one network's keys) as those of a one-member ensemble."""
        if self.config.ensemble == 1 and not any(key.startswith("members.") for key in state):
            return {f"members.0.{key}": value for key, value in state.items()}
        return state

    def checkpoint_state(self) -> dict[str, Any]:
        return {**super().checkpoint_state(), "target": self.target_net.state_dict(),
                "optimizer": self.optimizer.state_dict(), "num_updates": self.num_updates,
                "generator": self.generator.get_state()}

    def load_checkpoint_state(self, state: Mapping[str, Any]) -> None:
        super().load_checkpoint_state(state)
        self.target_net.load_state_dict(self._as_members(state["target"]))
        self.optimizer.load_state_dict(state["optimizer"])
        self.num_updates = int(state["num_updates"])
        self.generator.set_state(state["generator"])
