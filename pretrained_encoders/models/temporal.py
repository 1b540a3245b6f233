"""The temporal model: an LSTM over per-step embeddings predicting the clip label at every prefix."""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["TemporalModel", "LSTMState"]

LSTMState = tuple[torch.Tensor, torch.Tensor]


class TemporalModel(nn.Module):
    """One LSTM layer and a linear classifier; its hidden state and softmax are the ``belief``.

    The logits are divided by ``temperature`` (a buffer, 1 while training), which calibration sets
    after training so that every consumer of the saved model sees calibrated probabilities.

    ``forward(x [B, T, D]) -> (hidden [B, T, H], logits [B, T, K])`` (causal: padding at the end of
    a sequence does not change earlier steps). ``step`` continues a sequence one step at a time
    and gives the same numbers as ``forward``.
    """

    def __init__(self, input_dim: int, hidden_dim: int, num_classes: int):
        super().__init__()
        self.lstm = nn.LSTM(input_dim, hidden_dim, batch_first=True)
        self.head = nn.Linear(hidden_dim, num_classes)
        self.register_buffer("temperature", torch.ones(()))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        hidden, _ = self.lstm(x.float())
        return hidden, self.head(hidden) / self.temperature

    def step(self, x: torch.Tensor, state: LSTMState | None = None) -> tuple[torch.Tensor, torch.Tensor, LSTMState]:
        """One step: ``x [B, D]`` and the previous state (None at the start of a clip) ->
        ``(probs [B, K], hidden [B, H], state)``."""
        hidden, state = self.lstm(x.float().unsqueeze(1), state)
        hidden = hidden.squeeze(1)
        return torch.softmax(self.head(hidden) / self.temperature, dim=-1), hidden, state
