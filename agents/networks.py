"""Small network builders shared by the learning agents."""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["ACTIVATIONS", "mlp", "ClassSymmetricQ", "QEnsemble"]

ACTIVATIONS: dict[str, type[nn.Module]] = {"relu": nn.ReLU, "tanh": nn.Tanh, "elu": nn.ELU, "gelu": nn.GELU}


def mlp(in_dim: int, hidden: Sequence[int], out_dim: int, activation: str = "relu") -> nn.Sequential:
    """A multilayer perceptron ``in_dim -> hidden... -> out_dim`` (no activation on the output)."""
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, got {activation!r}")
    layers: list[nn.Module] = []
    for width in hidden:
        layers += [nn.Linear(in_dim, int(width)), ACTIVATIONS[activation]()]
        in_dim = int(width)
    layers.append(nn.Linear(in_dim, out_dim))
    return nn.Sequential(*layers)


class ClassSymmetricQ(nn.Module):
    """Q-values of ``wait`` and ``predict k`` for observations made of class-indexed parts and a time:
    ``[P x K probabilities, time]`` (``probs``: P = 1; ``belief``: the voice's, the face's and the fused, P = 3).

    A trunk MLP reads the class-order-free context (each part's probabilities sorted in decreasing
    order, the time); ``wait`` is a linear read-out of it, and every ``predict k`` comes from one head
    shared by all classes, on the context and class ``k``'s own probability in every part. Permuting
    the classes permutes the predict values, so the values cannot memorise which class a training
    clip belongs to: they learn how reliable a probability is at a given time, which carries over
    to unseen speakers.
    """

    def __init__(self, obs_dim: int, num_classes: int, hidden: Sequence[int], activation: str = "relu") -> None:
        super().__init__()
        if obs_dim < num_classes + 1 or (obs_dim - 1) % num_classes:
            raise ValueError(f"an observation of {obs_dim} values is not a time after parts of {num_classes} "
                             "class probabilities")
        self.num_classes = num_classes
        self.parts = (obs_dim - 1) // num_classes
        width = int(hidden[-1]) if hidden else obs_dim
        self.trunk = mlp(obs_dim, hidden[:-1], width, activation) if hidden else nn.Identity()
        self.trunk_activation = ACTIVATIONS[activation]() if hidden else nn.Identity()
        self.wait = nn.Linear(width, 1)
        self.predict = mlp(width + self.parts, [width], 1, activation)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        parts, time = obs[:, :-1].reshape(len(obs), self.parts, self.num_classes), obs[:, -1:]
        context = torch.cat([parts.sort(dim=2, descending=True).values.flatten(1), time], dim=1)
        z = self.trunk_activation(self.trunk(context))
        # The head's first layer on [z, p_k of every part], with z's part computed once instead of once per class.
        first, activation, out = self.predict
        first = cast(nn.Linear, first)  # mlp(width + P, [width], 1): Linear, activation, Linear
        own = parts.transpose(1, 2) @ first.weight[:, -self.parts:].T  # [B, K, width]
        hidden = F.linear(z, first.weight[:, :-self.parts], first.bias)[:, None, :] + own
        return torch.cat([self.wait(z), out(activation(hidden)).squeeze(2)], dim=1)


class QEnsemble(nn.Module):
    """Q-networks of one architecture from different initial weights; their values are the members' mean.

    Each member is trained on its own loss (towards shared targets), so the members differ by their
    initial weights only, and their mean carries less of one initialisation's arbitrary decision
    boundary. With one member, the values are that member's, bit for bit.
    """

    def __init__(self, members: Sequence[nn.Module]) -> None:
        super().__init__()
        if not members:
            raise ValueError("a Q-ensemble needs at least one member")
        self.members = nn.ModuleList(members)

    def member_values(self, obs: torch.Tensor) -> torch.Tensor:
        """Every member's values, ``(members, batch, actions)``."""
        return torch.stack([member(obs) for member in self.members])

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.member_values(obs).mean(dim=0)
