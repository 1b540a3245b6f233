"""The training loop shared by every model: Adam with a step or cosine learning-rate schedule, a fixed
number of epochs (or, on a separate validation set, the best epoch), atomic per-epoch checkpoints,
exact resume, TensorBoard, tqdm, optional DistributedDataParallel.

Every random draw of epoch ``e`` comes from a generator seeded by ``(seed, stage, e)``, so a run
resumed from the checkpoint of epoch ``e - 1`` continues exactly as an uninterrupted run.
"""

from __future__ import annotations

import copy
import math
import sys
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from emo_env.artifacts import CheckpointError, load_safe, save_atomic
from emo_env.optional import tensorboard_writer

from . import distributed

__all__ = ["Schedule", "TrainSettings", "FitResult", "FrameTask", "SequenceTask", "fit", "stage_seed", "predict"]

Batch = tuple[tuple[torch.Tensor, ...], torch.Tensor]
Schedule = Literal["cosine", "step"]


@dataclass(frozen=True)
class TrainSettings:
    """Optimisation settings of one training stage."""

    epochs: int
    batch_size: int
    learning_rate: float
    decay_step: int
    decay_rate: float
    seed: int
    schedule: Schedule = "step"

    def learning_rate_factor(self, step: int, batches_per_epoch: int) -> float:
        """The factor on ``learning_rate`` for optimiser step ``step`` (0-based) of the stage.

        ``step``: ``decay_rate ** (epoch // decay_step)``; ``cosine``: a half cosine from 1 at the
        first step to 0 after the last, so the kept last epoch ends at a small learning rate.
        """
        if self.schedule == "cosine":
            total = max(1, self.epochs * batches_per_epoch)
            return 0.5 * (1.0 + math.cos(math.pi * min(step, total) / total))
        return float(self.decay_rate ** ((step // max(1, batches_per_epoch)) // self.decay_step))


@dataclass
class FitResult:
    """The epoch whose weights the model holds, its validation accuracy (None without validation
    clips), and one record per epoch."""

    best_epoch: int
    best_accuracy: float | None
    history: list[dict[str, float]] = field(default_factory=list)


class Task(Protocol):
    def batches(self, generator: torch.Generator, rank: int, world: int) -> Iterator[Batch]: ...
    def batches_per_epoch(self, world: int) -> int: ...
    def loss(self, model: nn.Module, inputs: tuple[torch.Tensor, ...],
             targets: torch.Tensor) -> tuple[torch.Tensor, int, int]: ...
    def evaluate(self, model: nn.Module) -> tuple[float, float] | None: ...


def stage_seed(seed: int, *names: object) -> int:
    """A 63-bit seed derived from ``seed`` and names (stage, epoch), stable across runs and platforms."""
    words = [seed & 0xFFFFFFFF] + [zlib.crc32(str(n).encode()) for n in names]
    return int(np.random.SeedSequence(words).generate_state(2, np.uint64)[0] >> np.uint64(1))


def _to(inputs: Sequence[torch.Tensor], device: torch.device) -> tuple[torch.Tensor, ...]:
    return tuple(x.to(device, non_blocking=True) for x in inputs)


@torch.no_grad()
def predict(model: nn.Module, inputs: Sequence[torch.Tensor], device: torch.device,
            chunk: int = 512) -> tuple[torch.Tensor, torch.Tensor]:
    """Eval-mode ``model(*inputs)`` in chunks; returns CPU ``(embedding, logits)``."""
    model.eval()
    n = len(inputs[0])
    outputs = [model(*_to([x[i : i + chunk] for x in inputs], device)) for i in range(0, n, chunk)]
    return tuple(torch.cat([o[j].float().cpu() for o in outputs]) for j in range(2))  # type: ignore[return-value]


class FrameTask:
    """Frame-level classification: each row of ``inputs`` has one label (its clip's).

    Each epoch draws ``steps_per_clip`` rows per training clip (all rows when None), shuffles them and
    splits them into batches; under DDP each rank takes its share of every batch.
    """

    def __init__(
        self,
        inputs: Sequence[torch.Tensor],
        labels: torch.Tensor,
        train_clips: Sequence[tuple[int, int]],
        val_rows: np.ndarray,
        *,
        batch_size: int,
        steps_per_clip: int | None,
        device: torch.device,
        augment: Callable[[tuple[torch.Tensor, ...], torch.Generator], tuple[torch.Tensor, ...]] | None = None,
    ):
        self.inputs, self.labels = tuple(inputs), labels
        self.starts = torch.tensor([a for a, _ in train_clips], dtype=torch.int64)
        self.lengths = torch.tensor([b - a for a, b in train_clips], dtype=torch.int64)
        self.val_rows = torch.from_numpy(np.asarray(val_rows, dtype=np.int64))
        self.batch_size, self.steps_per_clip, self.device, self.augment = batch_size, steps_per_clip, device, augment

    def batches_per_epoch(self, world: int) -> int:
        """How many batches ``batches`` yields per epoch."""
        rows = int(self.lengths.sum()) if self.steps_per_clip is None else len(self.starts) * self.steps_per_clip
        full, rest = divmod(rows, self.batch_size)
        return full + (rest >= 2 * world) if self.batch_size >= 2 * world else 0

    def batches(self, generator: torch.Generator, rank: int, world: int) -> Iterator[Batch]:
        if self.steps_per_clip is None:
            rows = torch.cat([torch.arange(a, a + n)
                              for a, n in zip(self.starts.tolist(), self.lengths.tolist(), strict=True)])
        else:
            draw = torch.rand(len(self.starts), self.steps_per_clip, generator=generator)
            rows = (self.starts[:, None] + (draw * self.lengths[:, None]).long()).flatten()
        rows = rows[torch.randperm(len(rows), generator=generator)]
        for batch in rows.split(self.batch_size):
            mine = batch[rank::world]
            if len(batch) < 2 * world:  # BatchNorm needs two samples per process
                continue
            inputs = tuple(x[mine] for x in self.inputs)
            if self.augment is not None:
                inputs = self.augment(inputs, generator)
            yield _to(inputs, self.device), self.labels[mine].to(self.device)

    def loss(self, model: nn.Module, inputs: tuple[torch.Tensor, ...],
             targets: torch.Tensor) -> tuple[torch.Tensor, int, int]:
        logits = model(*inputs)[1]
        return F.cross_entropy(logits, targets), int((logits.argmax(1) == targets).sum()), len(targets)

    def evaluate(self, model: nn.Module) -> tuple[float, float] | None:
        """Loss and accuracy on the validation rows (None when there are none)."""
        if not len(self.val_rows):
            return None
        logits = predict(model, [x[self.val_rows] for x in self.inputs], self.device)[1]
        targets = self.labels[self.val_rows]
        return float(F.cross_entropy(logits, targets)), float((logits.argmax(1) == targets).float().mean())


class SequenceTask:
    """Per-step classification of whole clips: the clip label is the target at every prefix.

    ``sequences`` is ``[C, T_max, D]`` zero-padded after each clip's ``lengths[c]`` steps.
    Held-out accuracy is the mean over all held-out steps.
    """

    def __init__(self, sequences: torch.Tensor, lengths: torch.Tensor, labels: torch.Tensor,
                 train_clips: np.ndarray, val_clips: np.ndarray, *, batch_size: int, device: torch.device):
        self.sequences, self.lengths, self.labels = sequences, lengths, labels
        self.train_clips = torch.from_numpy(np.asarray(train_clips, dtype=np.int64))
        self.val_clips = torch.from_numpy(np.asarray(val_clips, dtype=np.int64))
        self.batch_size, self.device = batch_size, device

    def _batch(self, clips: torch.Tensor) -> Batch:
        steps = int(self.lengths[clips].max())
        mask = torch.arange(steps)[None, :] < self.lengths[clips][:, None]
        targets = torch.where(mask, self.labels[clips][:, None], torch.full_like(mask, -100, dtype=torch.int64))
        return (self.sequences[clips, :steps].to(self.device),), targets.to(self.device)

    def batches_per_epoch(self, world: int) -> int:
        """How many batches ``batches`` yields per epoch."""
        return -(-len(self.train_clips) // self.batch_size)

    def batches(self, generator: torch.Generator, rank: int, world: int) -> Iterator[Batch]:
        order = self.train_clips[torch.randperm(len(self.train_clips), generator=generator)]
        for clips in order.split(self.batch_size):
            yield self._batch(clips[rank::world])

    def loss(self, model: nn.Module, inputs: tuple[torch.Tensor, ...],
             targets: torch.Tensor) -> tuple[torch.Tensor, int, int]:
        logits = model(*inputs)[1]
        valid = targets >= 0
        loss = F.cross_entropy(logits.flatten(0, 1), targets.flatten(), ignore_index=-100)
        return loss, int(((logits.argmax(-1) == targets) & valid).sum()), int(valid.sum())

    @torch.no_grad()
    def evaluate(self, model: nn.Module) -> tuple[float, float] | None:
        """Loss and per-step accuracy on the validation clips (None when there are none)."""
        if not len(self.val_clips):
            return None
        model.eval()
        inputs, targets = self._batch(self.val_clips)
        loss, correct, count = self.loss(model, inputs, targets)
        return float(loss), correct / count


def fit(
    model: nn.Module,
    task: Task,
    settings: TrainSettings,
    *,
    stage: str,
    checkpoint: Path | None,
    log_dir: Path | None,
    select_best: bool = False,
    distributed_data_parallel: bool = False,
    progress: bool = True,
) -> FitResult:
    """Train ``model`` in place for ``settings.epochs`` epochs; on return it holds the last epoch's
    weights, or with ``select_best`` those of the epoch with the best validation accuracy (only for
    a validation set that nothing else is reported on). Validation, when the task has any, is logged.

    With ``checkpoint``, every epoch is saved there atomically and an existing checkpoint of the
    same stage is continued from (a finished one just restores the kept weights); a damaged one is
    named on stderr and the stage trains from its start.
    """
    rank, world = distributed.rank(), distributed.world_size()
    use_ddp = distributed_data_parallel and world > 1
    optimizer = torch.optim.Adam(model.parameters(), lr=settings.learning_rate)
    per_epoch = task.batches_per_epoch(world if use_ddp else 1)
    scheduler = torch.optim.lr_scheduler.LambdaLR(  # stepped after every optimiser step
        optimizer, lambda step: settings.learning_rate_factor(step, per_epoch))
    result = FitResult(best_epoch=-1, best_accuracy=None)
    best_state: dict[str, torch.Tensor] | None = None
    start = 0
    state = _saved_state(checkpoint, stage)
    if state is not None:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        best_state = state["best_model"]
        result = FitResult(state["best_epoch"], state["best_accuracy"], list(state["history"]))
        start = state["epoch"] + 1
    writer = _writer(log_dir, start) if rank == 0 and start < settings.epochs else None
    train_model = nn.parallel.DistributedDataParallel(model) if use_ddp else model
    for epoch in range(start, settings.epochs):
        torch.manual_seed(stage_seed(settings.seed, stage, epoch, "torch"))
        generator = torch.Generator().manual_seed(stage_seed(settings.seed, stage, epoch))
        model.train()
        loss_sum, correct, count, batches, learning_rate = 0.0, 0, 0, 0, 0.0
        bar = tqdm(task.batches(generator, rank if use_ddp else 0, world if use_ddp else 1),
                   desc=f"{stage} {epoch + 1}/{settings.epochs}", leave=False, disable=not progress or rank != 0)
        for inputs, targets in bar:
            loss, n_correct, n = task.loss(train_model, inputs, targets)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            learning_rate = float(scheduler.get_last_lr()[0])
            scheduler.step()
            loss_sum, correct, count, batches = loss_sum + loss.item(), correct + n_correct, count + n, batches + 1
        if rank != 0:
            continue
        record = {"epoch": epoch, "train_loss": loss_sum / max(batches, 1), "train_accuracy": correct / max(count, 1),
                  "learning_rate": learning_rate}  # that of the epoch's last optimiser step
        validation = task.evaluate(model)
        if validation is not None:
            record["validation_loss"], record["validation_accuracy"] = validation
        result.history.append(record)
        if not select_best:
            result.best_epoch, result.best_accuracy = epoch, record.get("validation_accuracy")
        elif validation is not None and (result.best_accuracy is None or validation[1] > result.best_accuracy):
            result.best_epoch, result.best_accuracy = epoch, validation[1]
            best_state = copy.deepcopy(model.state_dict())
        if writer is not None:
            for key, value in record.items():
                if key != "epoch":
                    writer.add_scalar(f"{stage}/{key}", value, epoch)
            writer.flush()
        if checkpoint is not None:
            save_atomic({"stage": stage, "epoch": epoch, "model": model.state_dict(),
                         "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                         "best_model": best_state, "best_epoch": result.best_epoch,
                         "best_accuracy": result.best_accuracy, "history": result.history}, checkpoint)
    if writer is not None:
        writer.close()
    if select_best and best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    return result


def _saved_state(checkpoint: Path | None, stage: str) -> dict[str, Any] | None:
    """The state ``checkpoint`` holds for ``stage``; None without one, or when it is damaged (said in one line)."""
    if checkpoint is None or not checkpoint.is_file():
        return None
    try:
        state = load_safe(checkpoint)
    except CheckpointError as exc:
        print(f"{exc.problem}: training stage {stage} again from its start", file=sys.stderr)
        return None
    if not isinstance(state, dict) or state.get("stage") != stage:
        found = state.get("stage") if isinstance(state, dict) else None
        raise CheckpointError(f"checkpoint {checkpoint} belongs to stage {found!r}, not {stage!r}")
    return state


def _writer(log_dir: Path | None, start: int) -> Any:
    if log_dir is None:
        return None
    return tensorboard_writer(log_dir, purge_step=start or None)
