"""A replay buffer of preallocated tensors (a ring) for off-policy agents."""

from __future__ import annotations

from typing import NamedTuple

import torch

__all__ = ["ReplayBatch", "ReplayBuffer"]


class ReplayBatch(NamedTuple):
    """A batch of ``B`` transitions, tensors on the buffer's device."""

    obs: torch.Tensor  # float [B, obs_dim]
    action: torch.Tensor  # long [B]
    reward: torch.Tensor  # float [B]
    next_obs: torch.Tensor  # float [B, obs_dim]
    done: torch.Tensor  # float [B]: 1 where the episode ended with this transition
    next_mask: torch.Tensor  # bool [B, num_actions]: actions allowed at next_obs
    label: torch.Tensor  # long [B]: the clip's class


class ReplayBuffer:
    """Transitions ``(obs, action, reward, next_obs, done, next_mask, label)`` in one preallocated float tensor
    on ``device`` (a row per transition, so a batch is a single gather). ``label`` is the clip's class."""

    def __init__(self, capacity: int, obs_dim: int, num_actions: int, device: torch.device) -> None:
        if capacity < 1:
            raise ValueError(f"replay capacity must be positive, got {capacity}")
        self.capacity, self.obs_dim = capacity, obs_dim
        # Columns: obs [D], next_obs [D], action, reward, done, label, next_mask [A].
        self.rows = torch.zeros(capacity, 2 * obs_dim + 4 + num_actions, device=device)
        self.position = 0
        self.size = 0

    def __len__(self) -> int:
        return self.size

    def add(self, obs: torch.Tensor, action: torch.Tensor, reward: torch.Tensor, next_obs: torch.Tensor,
            done: torch.Tensor, next_mask: torch.Tensor, label: torch.Tensor) -> None:
        """Append a batch of ``n`` transitions, overwriting the oldest once full."""
        n = len(obs)
        if n == 0:
            return
        if n > self.capacity:
            raise ValueError(f"batch of {n} transitions exceeds the replay capacity {self.capacity}")
        columns = [action, reward, done, label]
        rows = torch.cat([obs, next_obs, *(c[:, None].float() for c in columns), next_mask.float()], dim=1)
        end = self.position + n
        if end <= self.capacity:
            self.rows[self.position:end] = rows
        else:
            split = self.capacity - self.position
            self.rows[self.position:] = rows[:split]
            self.rows[:n - split] = rows[split:]
        self.position = end % self.capacity
        self.size = min(self.size + n, self.capacity)

    def sample(self, batch_size: int, generator: torch.Generator) -> ReplayBatch:
        """A uniform batch of ``batch_size`` transitions (with replacement)."""
        if self.size == 0:
            raise ValueError("cannot sample from an empty replay buffer")
        index = torch.randint(self.size, (batch_size,), generator=generator, device=generator.device)
        batch = self.rows[index.to(self.rows.device)]
        d = self.obs_dim
        return ReplayBatch(obs=batch[:, :d], action=batch[:, 2 * d].long(), reward=batch[:, 2 * d + 1],
                           next_obs=batch[:, d:2 * d], done=batch[:, 2 * d + 2], next_mask=batch[:, 2 * d + 4:].bool(),
                           label=batch[:, 2 * d + 3].long())
