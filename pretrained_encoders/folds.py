"""A run config's held-out folds: their settings, where their outputs go, training one, the stores of many."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from emo_env.artifacts import encoder_outputs
from emo_env.config import ConfigError
from emo_env.data.prepare import ensure_ingested, ingest_params
from emo_env.data.store import StoreError, load_store
from emo_env.device import resolve_device

from .data import list_folds, load_corpus
from .pipeline import PretrainOutput, pretrain
from .settings import PretrainSettings

__all__ = ["settings_from_config", "data_params", "run_fold", "fold_stores"]

_NOT_SETTINGS = ("speaker", "out_dir", "workers")


def settings_from_config(config: dict[str, Any]) -> PretrainSettings:
    """The ``encoder`` section (and the top-level seed) as :class:`PretrainSettings`."""
    fields = {f.name for f in dataclasses.fields(PretrainSettings)}
    values = {k: v for k, v in config["encoder"].items() if k not in _NOT_SETTINGS}
    unknown = sorted(set(values) - fields)
    if unknown:
        raise ConfigError(f"encoder section: keys {unknown} are not encoder settings")
    return PretrainSettings(seed=int(config["seed"]), **values)


def data_params(config: dict[str, Any]) -> dict[str, Any]:
    """The ``data`` parameters that define a step (recorded with the encoders)."""
    return dataclasses.asdict(ingest_params(config))


def run_fold(config: dict[str, Any], ingest_dir: Path, fold: str, *, device: torch.device, resume: bool = False,
             progress: bool = True, timings_s: dict[str, float] | None = None,
             frontend_cache: dict[str, dict[str, torch.Tensor]] | None = None) -> PretrainOutput | None:
    """Load fold ``fold`` of ``ingest_dir`` and run :func:`pretrain` on it with the config's settings
    (``frontend_cache``: front-end features of clips computed by an earlier fold of the same ingest)."""
    t0 = time.perf_counter()
    corpus = load_corpus(ingest_dir, fold, config["data"]["classes"])
    run_dir, store_path = encoder_outputs(config, fold)
    return pretrain(corpus, settings_from_config(config), corpus_name=config["data"]["dataset"], fold=fold,
                    data_params=data_params(config), config=config, run_dir=run_dir, store_path=store_path,
                    device=device, resume=resume, progress=progress, workers=int(config["encoder"]["workers"]),
                    timings_s={**(timings_s or {}), "load": time.perf_counter() - t0}, frontend_cache=frontend_cache)


def fold_stores(config: dict[str, Any], folds: Sequence[str] | None = None, *, device: str = "auto",
                progress: bool = True) -> dict[str, Path]:
    """The feature store of each fold (``None``: every fold of the corpus), as ``pretrain_encoder.py
    --all-folds`` writes them; the corpus is ingested and the missing or damaged stores are built first."""
    ingest_dir = Path(ensure_ingested(config, progress=progress))
    known = list_folds(ingest_dir)
    unknown = sorted(set(folds or ()) - set(known))
    if unknown:
        raise ValueError(f"folds {unknown} are not in {ingest_dir} (folds: {', '.join(known)})")
    stores = {fold: encoder_outputs(config, fold)[1] for fold in (folds or known)}
    cache: dict[str, dict[str, torch.Tensor]] = {}
    for fold, store in stores.items():
        if not store.is_file():
            print(f"building the store of fold {fold}: {store}")
        else:
            try:
                load_store(store)  # every checksum: a damaged store is never reused
                continue
            except StoreError as exc:
                print(f"rebuilding the store of fold {fold}: {exc.problem}")
        run_fold(config, ingest_dir, fold, device=resolve_device(device), progress=progress, frontend_cache=cache)
    return stores
