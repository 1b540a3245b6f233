"""The optional parts of the package: which extra of ``pip install 'emo-env[EXTRA]'`` brings which
module, the one-line message for a missing one (and a command's ``main`` run with it), and the
TensorBoard writer, written only when TensorBoard is installed.
"""

from __future__ import annotations

import functools
import importlib
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

__all__ = ["EXTRAS", "missing_extra_message", "run_main", "tensorboard_writer"]

#: Top-level module -> the extra that installs it.
EXTRAS = {
    "stable_baselines3": "sb3",
    "sb3_contrib": "sb3",
    "sklearn": "pretrain",
    "scipy": "pretrain",
    "torchmetrics": "pretrain",
    "rliable": "benchmark",
    "arch": "benchmark",
    "tensorboard": "tensorboard",
    "ray": "ray",
    "onnxruntime": "onnx",
    "onnxscript": "onnx",
    "onnx": "onnx",
    "torchvision": "vision",
    "h5py": "frontends",
    "librosa": "realism",
    "moviepy": "video",
}


def missing_extra_message(exc: ModuleNotFoundError, what: str) -> str | None:
    """The one-line message for ``what`` failing on a module that an extra brings, or None when ``exc``
    is about any other module."""
    module = (exc.name or "").partition(".")[0]
    extra = EXTRAS.get(module)
    if extra is None:
        return None
    return f"{what} needs {module}, which is not installed: pip install 'emo-env[{extra}]'"


def run_main(module: str, argv: Sequence[str], prog: str) -> int:
    """Import ``module`` and return what its ``main(argv, prog=prog)`` returns; a module of a missing
    extra is a one-line error on stderr naming the extra to install (exit status 2)."""
    try:
        command: Callable[..., int] = importlib.import_module(module).main
        return command(list(argv), prog=prog)
    except ModuleNotFoundError as exc:
        message = missing_extra_message(exc, prog)
        if message is None:
            raise
        print(f"{prog}: error: {message}", file=sys.stderr)
        return 2


def tensorboard_writer(log_dir: str | Path, **kwargs: Any) -> Any:
    """A ``torch.utils.tensorboard.SummaryWriter`` on ``log_dir``, or None (said once on stderr) when
    TensorBoard is not installed: training logs its curves to TensorBoard only with the extra."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:  # torch.utils.tensorboard imports tensorboard
        _say_no_tensorboard()
        return None
    return SummaryWriter(str(log_dir), **kwargs)


@functools.cache
def _say_no_tensorboard() -> None:
    print("note: no TensorBoard logs: tensorboard is not installed (pip install 'emo-env[tensorboard]')",
          file=sys.stderr)
