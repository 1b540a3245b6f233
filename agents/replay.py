"""A replay buffer of preallocated tensors (a ring) for off-policy agents."""

from __future__ import annotations

import torch

__all__ = ["ReplayBuffer"]


class ReplayBuffer:
    """Transitions ``(obs, action, reward, next_obs, done, next_mask)`` in fixed-size tensors on ``device``."""

    def __init__(self, capacity: int, obs_dim: int, num_actions: int, device: torch.device) -> None:
        if capacity < 1:
            raise ValueError(f"replay capacity must be positive, got {capacity}")
        self.capacity = capacity
        self.obs = torch.zeros(capacity, obs_dim, device=device)
        self.next_obs = torch.zeros(capacity, obs_dim, device=device)
        self.action = torch.zeros(capacity, dtype=torch.int64, device=device)
        self.reward = torch.zeros(capacity, device=device)
        self.done = torch.zeros(capacity, device=device)
        self.next_mask = torch.zeros(capacity, num_actions, dtype=torch.bool, device=device)
        self.position = 0
        self.size = 0

    def __len__(self) -> int:
        return self.size

    def add(self, obs: torch.Tensor, action: torch.Tensor, reward: torch.Tensor, next_obs: torch.Tensor,
            done: torch.Tensor, next_mask: torch.Tensor) -> None:
        """Append a batch of ``n`` transitions, overwriting the oldest once full."""
        n = len(obs)
        if n == 0:
            return
        if n > self.capacity:
            raise ValueError(f"batch of {n} transitions exceeds the replay capacity {self.capacity}")
        index = (self.position + torch.arange(n, device=self.obs.device)) % self.capacity
        self.obs[index] = obs
        self.action[index] = action
        self.reward[index] = reward
        self.next_obs[index] = next_obs
        self.done[index] = done.float()
        self.next_mask[index] = next_mask.bool()
        self.position = (self.position + n) % self.capacity
        self.size = min(self.size + n, self.capacity)

    def sample(self, batch_size: int, generator: torch.Generator) -> tuple[torch.Tensor, ...]:
        """A uniform batch ``(obs, action, reward, next_obs, done, next_mask)`` (with replacement)."""
        if self.size == 0:
            raise ValueError("cannot sample from an empty replay buffer")
        index = torch.randint(self.size, (batch_size,), generator=generator, device=generator.device)
        index = index.to(self.obs.device)
        return (self.obs[index], self.action[index], self.reward[index], self.next_obs[index], self.done[index],
                self.next_mask[index])
