"""Inner validation: tune on a training speaker, never on the test speaker.

:func:`inner_validation_store` copies a feature store without its held-out clips and holds out one
of its training speakers instead, so that agent designs and hyperparameters can be compared (with
``python -m agents.benchmark --validation``) on speakers that the final report does not score.
The copy keeps the store's beliefs: those of the training speakers are cross-fitted (each from a
cascade that did not see that speaker), so the inner speaker's beliefs are out-of-sample too.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from emo_env.data.store import SPLITS, FeatureStore, write_store

__all__ = ["inner_speaker", "inner_validation_store"]


def inner_speaker(store: FeatureStore) -> str:
    """The training speaker that follows the held-out one in sorted order (cyclically)."""
    train = sorted({store.speakers[i] for i in store.clip_indices("train")})
    held_out = max(store.speakers[i] for i in store.clip_indices("eval"))
    later = [speaker for speaker in train if speaker > held_out]
    return (later or train)[0]


def inner_validation_store(store: FeatureStore, path: str | Path, speaker: str | None = None) -> Path:
    """Write ``store``'s training clips to ``path``, with ``speaker`` (default :func:`inner_speaker`) as the
    eval split; the held-out clips are left out."""
    if str(store.metadata.get("train_beliefs", "")).startswith("in-sample"):
        raise ValueError(f"store {store.path}: its training beliefs are in-sample (encoder.oof_folds <= 1), so a "
                         "training speaker cannot stand in for an unseen one; rebuild it with encoder.oof_folds > 1")
    speaker = speaker or inner_speaker(store)
    clips = store.clip_indices("train")
    speakers = [store.speakers[i] for i in clips]
    if speaker not in speakers or len(set(speakers)) < 2:
        raise ValueError(f"store {store.path}: {speaker!r} must be one of at least two training speakers "
                         f"(training speakers: {', '.join(sorted(set(speakers)))})")
    rows = np.concatenate([np.arange(store.offsets[i], store.offsets[i + 1]) for i in clips])
    return write_store(
        path, class_names=store.class_names, step_rate=store.step_rate, modality=store.modality,
        clip_ids=[store.clip_ids[i] for i in clips], speakers=speakers, labels=store.labels[clips],
        split=[SPLITS.index("eval") if s == speaker else SPLITS.index("train") for s in speakers],
        lengths=np.diff(store.offsets)[clips], features={name: array[rows] for name, array in store.features.items()},
        metadata={**store.metadata, "inner_validation": {"source": str(store.path), "speaker": speaker}})
