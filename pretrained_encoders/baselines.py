"""Linear baselines beside the CNN encoders: a logistic regression on simple features of the same
frames, trained on the same training clips and scored exactly as the encoders' own classifiers."""

from __future__ import annotations

import cv2
import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

__all__ = ["audio_features", "visual_features", "linear_log_probs", "frame_and_clip_accuracy"]

VISUAL_SIDE = 16  # grey face pixels per side of the visual baseline's input


def audio_features(mels: torch.Tensor) -> np.ndarray:
    """Per-band log-mel mean and standard deviation over each window: ``[N, frames, bands]`` -> ``[N, 2 bands]``."""
    x = mels.float().numpy()
    return np.concatenate([x.mean(axis=1), x.std(axis=1)], axis=1)


def visual_features(faces: torch.Tensor, side: int = VISUAL_SIDE) -> np.ndarray:
    """Grey face pixels downscaled to ``side`` x ``side``: ``[N, S, S, 3]`` uint8 -> ``[N, side * side]``."""
    grey = faces.numpy().astype(np.float32).mean(axis=-1)
    return np.stack([cv2.resize(f, (side, side), interpolation=cv2.INTER_AREA) for f in grey]).reshape(len(grey), -1)


def linear_log_probs(features: np.ndarray, labels: np.ndarray, train_rows: np.ndarray, eval_rows: np.ndarray,
                     num_classes: int, seed: int = 0) -> np.ndarray:
    """Fit a standardised, L2-regularised (C = 1) logistic regression on ``train_rows`` (Newton steps to
    convergence) and return its class log-probabilities ``[len(eval_rows), num_classes]`` on ``eval_rows``."""
    model = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, solver="newton-cholesky", random_state=seed))
    model.fit(features[train_rows], labels[train_rows])
    out = np.full((len(eval_rows), num_classes), -np.inf)
    out[:, model.classes_] = model.predict_log_proba(features[eval_rows])
    return out


def frame_and_clip_accuracy(log_probs: np.ndarray, lengths: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """Frame accuracy (each step's argmax against its clip's label) and clip accuracy (argmax of the
    log-probabilities summed over the whole clip); rows are clip after clip, ``lengths`` steps each."""
    log_probs = np.maximum(np.asarray(log_probs, dtype=np.float64), -1e9)
    row_labels = np.repeat(labels, lengths)
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    clip_scores = np.add.reduceat(log_probs, starts, axis=0)
    return float((log_probs.argmax(1) == row_labels).mean()), float((clip_scores.argmax(1) == labels).mean())
