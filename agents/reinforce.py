"""A REINFORCE halting agent in the style of EARLIEST (Hartvigsen et al., KDD 2019).

A stochastic halt/continue policy ``pi(halt | belief)`` (an MLP on the observation), trained with
Monte-Carlo returns of whole episodes, a learned state-value baseline, an entropy bonus and
EARLIEST's halting penalty (``halt_penalty`` times the mean ``-log pi(halt)``, a push towards early
answers on top of the env's own latency cost). The class it answers with is the temporal
model's argmax, read from the probabilities in the observation: the agent learns *when* to answer
and leaves *what* to the temporal model (so it needs ``obs_mode`` ``belief`` or ``probs``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, cast

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from agents.baselines import probs_and_time
from agents.monitor import Monitor
from agents.networks import mlp
from agents.policy import Policy, seeded
from agents.rollout import EpisodeCollector, VectorStepper

__all__ = ["ReinforceConfig", "ReinforceAgent"]


@dataclass
class ReinforceConfig:
    hidden: list[int] = field(default_factory=lambda: [64, 64])
    """Widths of the halting and baseline MLPs."""
    activation: str = "tanh"
    """Hidden-layer activation: tanh or relu."""
    initial_halt_prob: float = 0.05
    """Per-step halting probability at the start (spreads early answers out)."""
    learning_rate: float = 3.0e-3
    """Adam step size."""
    gamma: float = 1.0
    """Discount of the return (1: the env's return, undiscounted)."""
    num_envs: int = 64
    """Episodes stepped together."""
    batch_episodes: int = 256
    """Finished episodes per update."""
    entropy_coef: float = 0.01
    """Weight of the halting policy's entropy bonus."""
    halt_penalty: float = 0.01
    """EARLIEST's earliness term: weight of the mean -log pi(halt) over free steps."""
    max_grad_norm: float = 1.0
    """Gradient norm clip."""


class ReinforceAgent(Policy):
    """REINFORCE with a learned baseline; halts when ``pi(halt) >= 0.5`` once trained."""

    name = "reinforce"
    Config = ReinforceConfig
    default_total_steps = 1_000_000
    obs_modes: ClassVar[tuple[str, ...]] = ("belief", "probs")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        cfg = self.config
        with seeded(self.seed):
            self.halt_net = mlp(self.spec.obs_dim, cfg.hidden, 1, cfg.activation).to(self.device)
            self.baseline_net = mlp(self.spec.obs_dim, cfg.hidden, 1, cfg.activation).to(self.device)
        with torch.no_grad():
            cast(nn.Linear, self.halt_net[-1]).bias.fill_(float(torch.logit(torch.tensor(cfg.initial_halt_prob))))
        params = [*self.halt_net.parameters(), *self.baseline_net.parameters()]
        self.optimizer = torch.optim.Adam(params, lr=cfg.learning_rate)
        self.generator = torch.Generator(self.device).manual_seed(self.seed)

    def _actions(self, obs: torch.Tensor, halt: torch.Tensor) -> torch.Tensor:
        probs, _ = probs_and_time(obs, self.spec)
        return torch.where(halt, 1 + probs.argmax(dim=1), 0)

    @torch.no_grad()
    def act(self, obs: np.ndarray, mask: np.ndarray) -> np.ndarray:
        obs_t = torch.as_tensor(obs, dtype=torch.float32, device=self.device)
        must = torch.as_tensor(mask, device=self.device)[:, 0] == 0
        halt = (self.halt_net(obs_t).squeeze(1) >= 0) | must
        return self._actions(obs_t, halt).cpu().numpy()

    def learn(self, env_kwargs: Mapping[str, Any], total_steps: int, monitor: Monitor | None = None) -> None:
        if self.num_steps >= total_steps:
            return
        cfg = self.config
        monitor = monitor or Monitor()
        stepper = VectorStepper(env_kwargs, cfg.num_envs, seed=self.seed + self.num_steps, device=self.device)
        collector = EpisodeCollector(cfg.num_envs, stepper.max_episode_steps, self.spec.obs_dim, self.device)
        try:
            while self.num_steps < total_steps:
                with torch.no_grad():
                    p_halt = torch.sigmoid(self.halt_net(stepper.obs).squeeze(1))
                    sampled = torch.rand(p_halt.shape, generator=self.generator, device=self.device) < p_halt
                    free = stepper.mask[:, 0]  # waiting allowed: the halt is the policy's choice
                    halt = sampled | ~free
                step = stepper.step(self._actions(stepper.obs, halt))
                collector.add(step, halt.float(), free.float())
                self.num_steps += int(step.valid.sum())
                scalars: Mapping[str, float | torch.Tensor] = {}
                if collector.num_finished >= cfg.batch_episodes:
                    scalars = self._update(*collector.pop())
                monitor.on_step(self, step.finished, scalars)
        finally:
            stepper.close()

    def _update(self, obs: torch.Tensor, halt: torch.Tensor, free: torch.Tensor, reward: torch.Tensor,
                valid: torch.Tensor) -> dict[str, torch.Tensor]:
        """One REINFORCE step on padded episodes ``[E, L, ...]`` (``valid`` marks real steps)."""
        cfg = self.config
        discounts = cfg.gamma ** torch.arange(reward.shape[1], device=self.device, dtype=torch.float32)
        # Return from each step: discounted reverse cumulative sum along the episode.
        returns = (reward * discounts).flip(1).cumsum(1).flip(1) / discounts
        logits = self.halt_net(obs).squeeze(-1)
        value = self.baseline_net(obs).squeeze(-1)
        advantage = (returns - value).detach()
        choice = valid * free  # steps where the policy chose (not forced to answer)
        n_choice = choice.sum().clamp(min=1)
        log_prob = -F.binary_cross_entropy_with_logits(logits, halt, reduction="none")
        p_halt = torch.sigmoid(logits)
        entropy = -(p_halt * F.logsigmoid(logits) + (1 - p_halt) * F.logsigmoid(-logits))
        policy_loss = -(advantage * log_prob * choice).sum() / n_choice
        baseline_loss = ((returns - value) ** 2 * valid).sum() / valid.sum()
        entropy_mean = (entropy * choice).sum() / n_choice
        # EARLIEST's earliness term: -log pi(halt) at every free step; unlike a penalty on pi(wait) its
        # gradient does not vanish when the policy has learned to wait almost everywhere.
        halt_nll = (F.softplus(-logits) * choice).sum() / n_choice
        loss = policy_loss + 0.5 * baseline_loss - cfg.entropy_coef * entropy_mean + cfg.halt_penalty * halt_nll
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_([*self.halt_net.parameters(), *self.baseline_net.parameters()],
                                       cfg.max_grad_norm)
        self.optimizer.step()
        return {"loss": loss.detach(), "baseline_loss": baseline_loss.detach(), "entropy": entropy_mean.detach()}

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {**{f"halt.{k}": v for k, v in self.halt_net.state_dict().items()},
                **{f"baseline.{k}": v for k, v in self.baseline_net.state_dict().items()}}

    def load_state_dict(self, state: Mapping[str, torch.Tensor]) -> None:
        for prefix, net in (("halt.", self.halt_net), ("baseline.", self.baseline_net)):
            net.load_state_dict({k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)})

    def checkpoint_state(self) -> dict[str, Any]:
        return {**super().checkpoint_state(), "optimizer": self.optimizer.state_dict(),
                "generator": self.generator.get_state()}

    def load_checkpoint_state(self, state: Mapping[str, Any]) -> None:
        super().load_checkpoint_state(state)
        self.optimizer.load_state_dict(state["optimizer"])
        self.generator.set_state(state["generator"])
