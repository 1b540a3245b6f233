"""The observation of one decision step, built the same way by the env and by online inference.

An observation is a flat ``float32`` vector; its parts depend on the observation mode:

- ``probs``: class probabilities ``[K]`` + time observed
- ``belief``: the voice's and the face's own class probabilities ``[K]`` each + class probabilities ``[K]``
  + time observed
- ``frame``: the step's front-end features of one modality (``voice`` descriptors, ``face`` network
  features, or both for ``fusion``) + time observed

Every part means the same on every clip (one feature space): probabilities are calibrated beliefs about the
same classes, and front-end features come from fixed networks, never trained in a fold. The cascades' learned
embeddings and the temporal model's hidden state are not observations: each cascade has its own.

The time observed after step ``t`` (0-based) is ``min((t + 1) / horizon, 1)``, where the horizon is
the store's longest clip in steps. It is *not* the fraction of this clip: a live stream does not know
how long the utterance will last, so an observation must not reveal it (nor when the clip ends).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium import spaces

from emo_env.data.store import MODALITIES, FeatureStore, StoreError
from emo_env.envs.env_config import OBS_MODES

__all__ = ["OBS_MODES", "FRONTEND_PARTS", "build_observation", "split_beliefs", "resolve_modality", "step_fractions",
           "horizon_steps", "elapsed_fractions",
           "observation_table", "observation_space"]

# Known value ranges of the bounded parts: probabilities.
_BOUNDS = {"probs": (0.0, 1.0), "probs_audio": (0.0, 1.0), "probs_visual": (0.0, 1.0)}
# The store's front-end features of each modality, in observation order.
FRONTEND_PARTS = {"audio": ("voice",), "visual": ("face",), "fusion": ("voice", "face")}


def build_observation(
    obs_mode: str,
    *,
    fraction: float | np.ndarray,
    probs: np.ndarray | None = None,
    probs_audio: np.ndarray | None = None,
    probs_visual: np.ndarray | None = None,
    frontend: np.ndarray | None = None,
) -> np.ndarray:
    """Concatenate the parts of ``obs_mode`` and the time observed (``fraction``) into ``float32``.

    Works for one step (parts ``[dim]``, scalar fraction) or a batch (parts ``[B, dim]``,
    fraction ``[B]``). ``frontend``: the modality's front-end features (voice then face for fusion).
    Parts the mode does not use are ignored.
    """
    given = {"probs": probs, "probs_audio": probs_audio, "probs_visual": probs_visual, "frontend": frontend}
    names = _parts(obs_mode)
    missing = [name for name in names if given[name] is None]
    if missing:
        raise ValueError(f"obs_mode {obs_mode!r} needs {', '.join(missing)}")
    parts = [np.asarray(given[name], dtype=np.float32) for name in names]
    fraction = np.asarray(fraction, dtype=np.float32)[..., None]
    return np.concatenate([*parts, fraction], axis=-1)


def split_beliefs(obs: Any, num_classes: int) -> tuple[Any, Any, Any]:
    """``(leading, probs, time)`` views of ``belief`` or ``probs`` observations ``[..., D]`` (numpy or torch):
    the parts before the class probabilities (each modality's own, or none), the ``num_classes``
    probabilities, and the time observed (``[..., 1]``)."""
    return obs[..., :-num_classes - 1], obs[..., -num_classes - 1:-1], obs[..., -1:]


def resolve_modality(store: FeatureStore, obs_mode: str, modality: str | None) -> str:
    """Check ``obs_mode``/``modality`` against the store; return the modality the observation uses.

    ``belief`` and ``probs`` use the temporal model of the store's own modality; ``frame`` can use the
    front-end features of any modality (default: the store's modality).
    """
    if obs_mode not in OBS_MODES:
        raise ValueError(f"obs_mode must be one of {OBS_MODES}, got {obs_mode!r}")
    if modality is not None and modality not in MODALITIES:
        raise ValueError(f"modality must be one of {MODALITIES} or None, got {modality!r}")
    chosen = store.modality if modality is None else modality
    if obs_mode != "frame" and chosen != store.modality:
        raise ValueError(f"obs_mode {obs_mode!r} uses the temporal model of the store's modality "
                         f"{store.modality!r}; {store.path} has none for {chosen!r} (use obs_mode='frame')")
    for name in _store_features(obs_mode, chosen):
        if name not in store.features:
            raise StoreError(f"{store.path} has no feature {name!r}, needed by obs_mode {obs_mode!r} "
                             f"(has: {', '.join(store.features)})")
    return chosen


def step_fractions(lengths: np.ndarray) -> np.ndarray:
    """Fraction observed ``(t + 1) / T`` at every step of clips of the given lengths, concatenated."""
    lengths = np.asarray(lengths, dtype=np.int64)
    starts = np.repeat(np.cumsum(lengths) - lengths, lengths)
    steps = np.arange(int(lengths.sum())) - starts
    fractions: np.ndarray = (steps + 1) / np.repeat(lengths, lengths)
    return fractions


def horizon_steps(store: FeatureStore) -> int:
    """The time scale of the observation's time feature: the store's longest clip, in steps."""
    return int(store.lengths.max())


def elapsed_fractions(lengths: np.ndarray, horizon: int) -> np.ndarray:
    """Time observed ``min((t + 1) / horizon, 1)`` at every step of clips of the given lengths, concatenated."""
    elapsed: np.ndarray = np.minimum(step_fractions(lengths) * np.repeat(lengths, lengths) / horizon, 1.0)
    return elapsed


def observation_table(store: FeatureStore, obs_mode: str, modality: str | None = None) -> np.ndarray:
    """The observation of every step of every clip: ``[total_steps, obs_dim]`` float32 (row = store row)."""
    chosen = resolve_modality(store, obs_mode, modality)
    features = {name: store.features[name] for name in _store_features(obs_mode, chosen)}
    for name, (low, high) in _BOUNDS.items():
        if name in features and len(features[name]) and not (
                features[name].min() >= low and features[name].max() <= high):
            raise StoreError(f"{store.path}: feature {name!r} has values outside [{low}, {high}]")
    frontend = [features[name] for name in FRONTEND_PARTS[chosen] if name in features]
    return build_observation(obs_mode, fraction=elapsed_fractions(store.lengths, horizon_steps(store)),
                             probs=features.get("probs"), probs_audio=features.get("probs_audio"),
                             probs_visual=features.get("probs_visual"),
                             frontend=np.concatenate(frontend, axis=1) if frontend else None)


def observation_space(store: FeatureStore, obs_mode: str, modality: str | None = None) -> spaces.Box:
    """The ``Box`` of ``obs_mode`` observations of ``store``.

    Probabilities and time observed in [0, 1]. Front-end features have no known range:
    their bounds are the store's per-dimension min and max over all clips of every split (so
    train and eval envs share one space), a constant dimension widened to the next float up.
    Features computed outside this store (a live stream, another corpus) may fall outside these bounds.
    """
    lows, highs = [], []
    for name in _store_features(obs_mode, resolve_modality(store, obs_mode, modality)):
        values = store.features[name]
        if name in _BOUNDS:
            lows.append(np.full(values.shape[1], _BOUNDS[name][0], dtype=np.float32))
            highs.append(np.full(values.shape[1], _BOUNDS[name][1], dtype=np.float32))
        else:
            values = np.asarray(values, dtype=np.float32)
            lows.append(values.min(axis=0))
            highs.append(np.maximum(values.max(axis=0), np.nextafter(lows[-1], np.float32(np.inf))))
    low = np.concatenate([*lows, np.zeros(1, np.float32)])
    high = np.concatenate([*highs, np.ones(1, np.float32)])
    return spaces.Box(low=low, high=high, dtype=np.float32)


def _parts(obs_mode: str) -> tuple[str, ...]:
    if obs_mode == "belief":
        return ("probs_audio", "probs_visual", "probs")
    if obs_mode == "frame":
        return ("frontend",)
    if obs_mode == "probs":
        return ("probs",)
    raise ValueError(f"obs_mode must be one of {OBS_MODES}, got {obs_mode!r}")


def _store_features(obs_mode: str, modality: str) -> tuple[str, ...]:
    names: list[str] = []
    for name in _parts(obs_mode):
        names += FRONTEND_PARTS[modality] if name == "frontend" else [name]
    return tuple(names)
