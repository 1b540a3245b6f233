"""Process-group helpers for ``torchrun`` (DistributedDataParallel; gloo on CPU, nccl on GPU)."""

from __future__ import annotations

import datetime
import os

import torch
import torch.distributed as dist

__all__ = ["init_from_env", "rank", "world_size", "is_main", "barrier", "shutdown"]


def init_from_env(device: torch.device) -> bool:
    """Join the process group that ``torchrun`` describes in the environment; False when not under it."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1 or dist.is_initialized():
        return dist.is_initialized()
    backend = "nccl" if device.type == "cuda" else "gloo"
    # Rank 0 alone runs the cheap stages (fusion, temporal, export) between distributed ones.
    dist.init_process_group(backend, timeout=datetime.timedelta(hours=6))
    return True


def rank() -> int:
    return dist.get_rank() if dist.is_initialized() else 0


def world_size() -> int:
    return dist.get_world_size() if dist.is_initialized() else 1


def is_main() -> bool:
    return rank() == 0


def barrier() -> None:
    if dist.is_initialized():
        dist.barrier()


def shutdown() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()
