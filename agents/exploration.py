"""Epsilon-greedy exploration that respects the action mask and explores *when* to answer sensibly.

Uniform exploration over ``K + 1`` actions predicts ``K`` times out of ``K + 1`` and ends almost
every exploratory episode at its first step. Here an exploratory step first chooses wait or
predict (wait with probability ``wait_prob``, when waiting is allowed), then a class uniformly.
"""

from __future__ import annotations

import torch

from agents.policy import masked_argmax

__all__ = ["linear_schedule", "explore"]


def linear_schedule(start: float, end: float, duration: int, step: int) -> float:
    """``start`` moving linearly to ``end`` over ``duration`` steps, then ``end``."""
    if duration <= 0:
        return end
    return start + (end - start) * min(step / duration, 1.0)


def explore(scores: torch.Tensor, mask: torch.Tensor, epsilon: float, wait_prob: float,
            generator: torch.Generator) -> torch.Tensor:
    """Greedy masked actions, replaced with probability ``epsilon`` by an exploratory one."""
    mask = mask.bool()
    batch, num_actions = mask.shape
    device = scores.device
    greedy = masked_argmax(scores, mask)
    draws = torch.rand(batch, 2, generator=generator, device=generator.device).to(device)
    # A uniform class among the allowed predictions (every row allows at least one).
    class_scores = torch.rand(batch, num_actions - 1, generator=generator, device=generator.device).to(device)
    random_class = 1 + masked_argmax(class_scores, mask[:, 1:])
    wait = (draws[:, 1] < wait_prob) & mask[:, 0]
    random_action = torch.where(wait, torch.zeros_like(greedy), random_class)
    return torch.where(draws[:, 0] < epsilon, random_action, greedy)
