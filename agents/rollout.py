"""Stepping the vectorized env for the custom learners: torch tensors, next-step autoreset, episode stats.

With next-step autoreset the step after an episode ends only starts the next clip (its action is
ignored, its reward is 0); :class:`VectorStepper` marks such rows invalid so no learner treats them
as transitions. :class:`EpisodeCollector` gathers whole episodes for Monte-Carlo learners.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from emo_env.envs.vector import AVEmotionVectorEnv

__all__ = ["VectorTransition", "VectorStepper", "EpisodeCollector"]


@dataclass
class VectorTransition:
    """One vector step: ``[B]``/``[B, ...]`` tensors; ``valid`` rows are real transitions."""

    obs: torch.Tensor
    mask: torch.Tensor  # bool [B, K+1], allowed actions at ``obs``
    action: torch.Tensor
    reward: torch.Tensor
    next_obs: torch.Tensor
    next_mask: torch.Tensor
    terminated: torch.Tensor
    label: torch.Tensor  # class of the clip each row's ``obs`` belongs to
    valid: torch.Tensor
    finished: dict[str, np.ndarray]  # return, correct, fraction of the episodes that ended at this step


class VectorStepper:
    """A vector env of ``num_envs`` episodes (``env_kwargs``: AVEmotionEnv arguments) returning tensors on
    ``device``, with its current observations and masks; steps it with tensor actions."""

    def __init__(self, env_kwargs: Mapping[str, Any], num_envs: int, *, seed: int, device: torch.device) -> None:
        self.env = env = AVEmotionVectorEnv(num_envs, device=device, **env_kwargs)
        obs, infos = env.reset(seed=seed)
        self.obs, self.mask = obs.float(), infos["action_mask"].bool()
        self.restarting = torch.zeros(env.num_envs, dtype=torch.bool, device=env.device)
        self.returns = torch.zeros(env.num_envs, device=env.device)
        lengths = env.store.lengths[env.episodes.clips]
        #: Longest episode the env can produce (its longest clip).
        self.max_episode_steps = int(lengths.max())

    def step(self, actions: torch.Tensor) -> VectorTransition:
        next_obs, reward, terminated, truncated, infos = self.env.step(actions)
        next_obs, reward, next_mask = next_obs.float(), reward.float(), infos["action_mask"].bool()
        done = terminated | truncated
        self.returns += reward
        finished: dict[str, np.ndarray] = {}
        if bool(done.any()):
            finished = {"return": self.returns[done].cpu().numpy(),
                        "correct": infos["is_correct"][done].cpu().numpy(),
                        "fraction": infos["earliness"][done].cpu().numpy()}
            self.returns[done] = 0.0
        # Next-step autoreset: a row's clip changes only on the step after it ends, so this step's label
        # is still the label of ``self.obs``'s clip (for the valid rows).
        step = VectorTransition(self.obs, self.mask, actions, reward, next_obs, next_mask, terminated, infos["label"],
                    ~self.restarting, finished)
        self.obs, self.mask, self.restarting = next_obs, next_mask, done
        return step

    def close(self) -> None:
        self.env.close()


class EpisodeCollector:
    """Per-row episode buffers that hand over whole finished episodes, padded to ``max_steps``."""

    def __init__(self, num_envs: int, max_steps: int, obs_dim: int, device: torch.device) -> None:
        self.obs = torch.zeros(num_envs, max_steps, obs_dim, device=device)
        self.action = torch.zeros(num_envs, max_steps, device=device)
        self.free = torch.zeros(num_envs, max_steps, device=device)
        self.reward = torch.zeros(num_envs, max_steps, device=device)
        self.length = torch.zeros(num_envs, dtype=torch.int64, device=device)
        self._done: list[tuple[torch.Tensor, ...]] = []
        self.num_finished = 0

    def add(self, step: VectorTransition, action: torch.Tensor, free: torch.Tensor) -> None:
        """Append the valid rows of ``step`` (``action`` and ``free``, the learner's per-row records)."""
        rows = step.valid.nonzero().squeeze(1)
        t = self.length[rows]
        self.obs[rows, t] = step.obs[rows]
        self.action[rows, t] = action[rows]
        self.free[rows, t] = free[rows]
        self.reward[rows, t] = step.reward[rows]
        self.length[rows] += 1
        ended = (step.terminated & step.valid).nonzero().squeeze(1)
        if len(ended):
            self._done.append((self.obs[ended].clone(), self.action[ended].clone(), self.free[ended].clone(),
                               self.reward[ended].clone(), self.length[ended].clone()))
            self.num_finished += len(ended)
            self.length[ended] = 0
            self.reward[ended] = 0.0

    def pop(self) -> tuple[torch.Tensor, ...]:
        """Finished episodes ``(obs, action, free, reward, valid)`` as ``[E, max_steps, ...]`` tensors."""
        obs, action, free, reward, length = (torch.cat(parts) for parts in zip(*self._done, strict=True))
        self._done, self.num_finished = [], 0
        valid = (torch.arange(obs.shape[1], device=obs.device)[None, :] < length[:, None]).float()
        return obs, action * valid, free * valid, reward * valid, valid
