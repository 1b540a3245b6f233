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
    evidence: torch.Tensor  # [B, K]: the sum of the log-priors seen so far (zeros without a prior)
    steps: int  # steps seen so far


def step_temperatures(calibration: torch.Tensor, steps: torch.Tensor) -> torch.Tensor:
    """The temperature at each 0-based step index for ``calibration = (a, b, c, last_step)``:
    ``exp(a + b * u + c * u ** 2)`` with ``u = log(1 + min(step, last_step))``, so that steps past
    the longest clip the map was fitted on keep that clip's last temperature."""
    u = torch.log1p(torch.minimum(steps.to(calibration.dtype), calibration[3]))
    return torch.exp(calibration[0] + calibration[1] * u + calibration[2] * u * u)


class TemporalModel(nn.Module):
    """One LSTM layer and a linear classifier; its hidden state and softmax are the ``belief``.

    With ``prior``, each step's input ends with ``num_classes`` more values, a log-prior over the classes
    from a pretrained front end (the face network's own reading of the face,
    :func:`~pretrained_encoders.models.frontends.face_prior`). Its mean over the steps so far is added to
    the classifier's logits, so the model learns what to add to that reading rather than replacing it.

    The logits at step ``t`` are divided by the temperature :func:`step_temperatures` of the
    ``calibration`` buffer (zeros, a temperature of 1, while training), which calibration sets
    after training so that every consumer of the saved model sees calibrated probabilities.

    ``forward(x [B, T, D (+ K)]) -> (hidden [B, T, H], logits [B, T, K])`` (causal: padding at the end of
    a sequence does not change earlier steps). ``step`` continues a sequence one step at a time
    and gives the same numbers as ``forward``.
    """

    calibration: torch.Tensor  # buffer

    def __init__(self, input_dim: int, hidden_dim: int, num_classes: int, prior: bool = False):
        super().__init__()
        self.input_dim, self.prior = input_dim, prior
        self.lstm = nn.LSTM(input_dim, hidden_dim, batch_first=True)
        self.head = nn.Linear(hidden_dim, num_classes)
        self.register_buffer("calibration", torch.zeros(len(CALIBRATION_FIELDS)))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = x.float()
        hidden, _ = self.lstm(x[..., : self.input_dim])
        logits = self.head(hidden)
        steps = torch.arange(x.shape[1], device=x.device)
        if self.prior:
            logits = logits + x[..., self.input_dim :].cumsum(dim=1) / (steps + 1.0)[:, None]
        return hidden, logits / step_temperatures(self.calibration, steps)[:, None]

    def step(self, x: torch.Tensor,
             state: TemporalState | None = None) -> tuple[torch.Tensor, torch.Tensor, TemporalState]:
        """One step: ``x [B, D]`` and the previous state (None at the start of a clip) ->
        ``(probs [B, K], hidden [B, H], state)``."""
        if state is None:
            zeros = x.new_zeros((1, x.shape[0], self.lstm.hidden_size), dtype=torch.float32)
            no_evidence = x.new_zeros((x.shape[0], self.head.out_features), dtype=torch.float32)
            state = TemporalState(zeros, zeros, no_evidence, 0)
        probs, hidden, h, c, evidence = self.advance(x, state.h, state.c, state.evidence,
                                                     torch.tensor(float(state.steps), device=x.device))
        return probs, hidden, TemporalState(h, c, evidence, state.steps + 1)

    def advance(self, x: torch.Tensor, h: torch.Tensor, c: torch.Tensor, evidence: torch.Tensor,
                index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """:meth:`step` on tensors only (traceable for export): ``x [B, D (+ K)]``, the LSTM state ``h``, ``c``
        ``[1, B, H]``, the summed log-priors ``evidence [B, K]`` and the 0-based step ``index`` (a float scalar)
        -> ``(probs, hidden, h, c, evidence)``."""
        x = x.float()
        hidden, (h, c) = self.lstm(x[:, : self.input_dim].unsqueeze(1), (h, c))
        hidden = hidden.squeeze(1)
        logits = self.head(hidden)
        if self.prior:
            evidence = evidence + x[:, self.input_dim :]
            logits = logits + evidence / (index + 1.0)
        temperature = step_temperatures(self.calibration, index)
        return torch.softmax(logits / temperature, dim=-1), hidden, h, c, evidence
