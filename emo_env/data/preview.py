"""A contact sheet of one clip: face crops (top) and log-mel windows (bottom) at evenly spaced steps."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from emo_env.artifacts import atomic_path

__all__ = ["contact_sheet"]


def contact_sheet(arrays: Mapping[str, np.ndarray], out: str | Path, *, title: str = "", columns: int = 10) -> Path:
    """Write a PNG of a clip's ``faces``, ``mels``, ``times`` and ``face_found`` arrays to ``out``.

    A face title is green when the detector found the face at that step, red when the track was kept.
    """
    times = np.asarray(arrays["times"])
    picks = np.unique(np.linspace(0, len(times) - 1, min(columns, len(times))).round().astype(int))
    mels = np.asarray(arrays["mels"], np.float32)
    low, high = np.percentile(mels, [1, 99.5])
    figure = Figure(figsize=(1.3 * len(picks) + 0.6, 3.3), layout="constrained")
    axes = figure.subplots(2, len(picks), squeeze=False)
    for column, step in enumerate(picks):
        found = bool(arrays["face_found"][step])
        axes[0, column].imshow(arrays["faces"][step])
        axes[0, column].set_title(f"{times[step]:.2f} s", fontsize=8, color="tab:green" if found else "tab:red")
        axes[1, column].imshow(mels[step].T, origin="lower", aspect="auto", cmap="magma", vmin=low, vmax=high)
        for axis in axes[:, column]:
            axis.set_xticks([])
            axis.set_yticks([])
    axes[0, 0].set_ylabel("face", fontsize=8)
    axes[1, 0].set_ylabel("log-mel", fontsize=8)
    figure.suptitle(f"{title}  ({len(times)} steps; red: face kept from the track)", fontsize=9)
    out = Path(out)
    with atomic_path(out) as tmp:
        figure.savefig(tmp, format="png", dpi=110)
    return out
