"""A replay buffer of preallocated tensors (a ring) for off-policy agents."""

from __future__ import annotations

import torch

__all__ = ["ReplayBuffer"]


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

    def sample(self, batch_size: int, generator: torch.Generator) -> tuple[torch.Tensor, ...]:
        """A uniform batch ``(obs, action, reward, next_obs, done, next_mask, label)`` (with replacement)."""
        if self.size == 0:
            raise ValueError("cannot sample from an empty replay buffer")
        index = torch.randint(self.size, (batch_size,), generator=generator, device=generator.device)
        batch = self.rows[index.to(self.rows.device)]
        d = self.obs_dim
        return (batch[:, :d], batch[:, 2 * d].long(), batch[:, 2 * d + 1], batch[:, d:2 * d], batch[:, 2 * d + 2],
                batch[:, 2 * d + 4:].bool(), batch[:, 2 * d + 3].long())
