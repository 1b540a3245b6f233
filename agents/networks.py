"""Small network builders shared by the learning agents."""

from __future__ import annotations

from typing import Sequence

from torch import nn

__all__ = ["ACTIVATIONS", "mlp"]

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
