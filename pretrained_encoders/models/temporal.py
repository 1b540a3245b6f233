"""The temporal model: an LSTM over per-step embeddings predicting the clip label at every prefix."""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

__all__ = ["CALIBRATION_FIELDS", "TemporalModel", "TemporalState", "step_temperatures"]

CALIBRATION_FIELDS = ("a", "b", "c", "last_step")  # the calibration buffer, in order: see step_temperatures


class TemporalState(NamedTuple):
    """What :meth:`TemporalModel.step` carries from one step to the next."""

    h: torch.Tensor
    c: torch.Tensor
    steps: int  # steps seen so far


def step_temperatures(calibration: torch.Tensor, steps: torch.Tensor) -> torch.Tensor:
    """The temperature at each 0-based step index for ``calibration = (a, b, c, last_step)``:
    ``exp(a + b * u + c * u ** 2)`` with ``u = log(1 + min(step, last_step))``, so that steps past
    the longest clip the map was fitted on keep that clip's last temperature."""
    u = torch.log1p(torch.minimum(steps.to(calibration.dtype), calibration[3]))
    return torch.exp(calibration[0] + calibration[1] * u + calibration[2] * u * u)


class TemporalModel(nn.Module):
    """One LSTM layer and a linear classifier; its hidden state and softmax are the ``belief``.

    The logits at step ``t`` are divided by the temperature :func:`step_temperatures` of the
    ``calibration`` buffer (zeros, a temperature of 1, while training), which calibration sets
    after training so that every consumer of the saved model sees calibrated probabilities.

    ``forward(x [B, T, D]) -> (hidden [B, T, H], logits [B, T, K])`` (causal: padding at the end of
    a sequence does not change earlier steps). ``step`` continues a sequence one step at a time
    and gives the same numbers as ``forward``.
    """

    calibration: torch.Tensor  # buffer

    def __init__(self, input_dim: int, hidden_dim: int, num_classes: int):
        super().__init__()
        self.lstm = nn.LSTM(input_dim, hidden_dim, batch_first=True)
        self.head = nn.Linear(hidden_dim, num_classes)
        self.register_buffer("calibration", torch.zeros(len(CALIBRATION_FIELDS)))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        hidden, _ = self.lstm(x.float())
        temperature = step_temperatures(self.calibration, torch.arange(x.shape[1], device=x.device))
        return hidden, self.head(hidden) / temperature[:, None]

    def step(self, x: torch.Tensor,
             state: TemporalState | None = None) -> tuple[torch.Tensor, torch.Tensor, TemporalState]:
        """One step: ``x [B, D]`` and the previous state (None at the start of a clip) ->
        ``(probs [B, K], hidden [B, H], state)``."""
        if state is None:
            zeros = x.new_zeros((1, x.shape[0], self.lstm.hidden_size), dtype=torch.float32)
            state = TemporalState(zeros, zeros, 0)
        probs, hidden, h, c = self.advance(x, state.h, state.c, torch.tensor(float(state.steps), device=x.device))
        return probs, hidden, TemporalState(h, c, state.steps + 1)

    def advance(self, x: torch.Tensor, h: torch.Tensor, c: torch.Tensor,
                index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """:meth:`step` on tensors only (traceable for export): ``x [B, D]``, the LSTM state ``h``, ``c``
        ``[1, B, H]`` and the 0-based step ``index`` (a float scalar) -> ``(probs, hidden, h, c)``."""
        hidden, (h, c) = self.lstm(x.float().unsqueeze(1), (h, c))
        hidden = hidden.squeeze(1)
        temperature = step_temperatures(self.calibration, index)
        return torch.softmax(self.head(hidden) / temperature, dim=-1), hidden, h, c
