"""Fabricated ingest output in the exact on-disk format (per-clip npz, index.csv, split CSVs),
with a learnable class signal in both modalities that grows over each clip."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

CLASSES = ["happy", "surprise", "sad", "fear", "anger", "disgust"]


def write_fake_ingest(root: Path, *, speakers: int = 3, clips_per_class: int = 1, steps: tuple[int, int] = (8, 14),
                      face_size: int = 64, frames: int = 96, bands: int = 64, seed: int = 0) -> Path:
    """Write a fake ingest dir with LOSO folds under ``root``; returns ``root``."""
    rng = np.random.default_rng(seed)
    (root / "clips").mkdir(parents=True, exist_ok=True)
    rows = []
    for s in range(1, speakers + 1):
        tint = rng.uniform(60, 160, size=3)
        for k, label in enumerate(CLASSES):
            for j in range(clips_per_class):
                clip_id = f"s{s}_{label}_{j:02d}"
                t = int(rng.integers(steps[0], steps[1] + 1))
                ramp = np.linspace(0.2, 1.0, t)[:, None, None]
                faces = np.broadcast_to(tint, (t, face_size, face_size, 3)).copy()
                faces[:, 8 * k : 8 * k + 10, :, k % 3] += 80 * ramp
                faces += rng.normal(0, 12, faces.shape)
                mels = np.full((t, frames, bands), -4.0) + rng.normal(0, 0.6, (t, frames, bands))
                mels[:, :, 8 * k : 8 * k + 8] += 2.5 * ramp
                np.savez(root / "clips" / f"{clip_id}.npz",
                         faces=np.clip(faces, 0, 255).astype(np.uint8), mels=mels.astype(np.float16),
                         times=((np.arange(t) + 0.5) / 10.0).astype(np.float32), face_found=np.ones(t, bool),
                         boxes=np.tile(np.float32([10, 10, 64, 64]), (t, 1)), source_hash=np.array("0" * 64))
                rows.append({"clip_id": clip_id, "label": label, "speaker": f"s{s}", "group": "", "steps": t,
                             "file": f"clips/{clip_id}.npz", "source_hash": "0" * 16})
    index = pd.DataFrame(rows)
    index.to_csv(root / "index.csv", index=False)
    pd.DataFrame(columns=["path", "reason"]).to_csv(root / "ingest_report.csv", index=False)
    for speaker in sorted(index["speaker"].unique()):
        (root / speaker).mkdir(exist_ok=True)
        index[index["speaker"] != speaker].to_csv(root / speaker / "training_data.csv", index=False)
        index[index["speaker"] == speaker].to_csv(root / speaker / "evaluation_data.csv", index=False)
    return root
