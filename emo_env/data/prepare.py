"""From a run config to ingested data: generate the synthetic corpus if missing, ingest, write folds.

These functions read the config dict (``data`` and ``synthetic`` sections); they are the edge
that CLIs call (``python -m emo_env.data``, ``pretrain_encoder.py``).
"""

from __future__ import annotations

import inspect
import sys
from pathlib import Path
from typing import Any

from ..config import resolve_path
from .clips import DatasetError
from .corpora import get_adapter
from .ingest import IngestParams, IngestResult, ingest_dataset
from .splits import make_folds, write_folds
from .synthetic import generate_corpus

__all__ = ["ingest_params", "generate_from_config", "ingest_from_config", "ensure_ingested"]


def ingest_params(config: dict[str, Any]) -> IngestParams:
    """The ingest parameters of a config's ``data`` section."""
    return IngestParams.from_section(config["data"])


def generate_from_config(config: dict[str, Any], out_dir: str | Path, *, progress: bool = False) -> Path:
    """Generate the synthetic corpus described by the config's ``synthetic`` section and ``seed``."""
    return generate_corpus(out_dir, seed=config["seed"], workers=config["data"]["workers"], progress=progress,
                           **config["synthetic"])


def ingest_from_config(config: dict[str, Any], *, progress: bool = True) -> IngestResult:
    """Discover the configured dataset, ingest it (reusing clips already done), write the folds."""
    data = config["data"]
    params = ingest_params(config)
    root = resolve_path(config, data["root"], "raw")
    out_dir = resolve_path(config, data["ingest_dir"], "ingest")
    adapter = get_adapter(data["dataset"])
    _check_options(adapter, data["dataset"], data["options"])
    discovery = adapter(root, data["classes"], data["label_map"], **data["options"])
    result = ingest_dataset(discovery.clips, out_dir, params, workers=data["workers"],
                            skipped=discovery.skipped, progress=progress)
    if result.index.empty:
        raise DatasetError(f"no clip of {root} could be ingested; see {out_dir / 'ingest_report.csv'}")
    write_folds(result.index, out_dir, make_folds(result.index, data["folds"], data["groups"]))
    return result


def _check_options(adapter: Any, dataset: str, options: dict[str, Any]) -> None:
    accepted = [p.name for p in inspect.signature(adapter).parameters.values() if p.kind is p.KEYWORD_ONLY]
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise DatasetError(f"data.options: dataset {dataset!r} has no option {', '.join(map(repr, unknown))} "
                           f"(its options: {', '.join(accepted) or 'none'})")


def ensure_ingested(config: dict[str, Any], *, progress: bool = True) -> Path:
    """Return the config's ingest folder, ready: the synthetic corpus is generated when its root has
    no ``clips.csv``, new or changed clips are ingested, and the fold CSVs are written.

    With ``progress``, progress bars and the ingest summary go to stderr; without, the lines naming
    rebuilt clip files only.
    """
    data = config["data"]
    root = resolve_path(config, data["root"], "raw")
    if data["dataset"] == "synthetic" and not (root / "clips.csv").is_file():
        generate_from_config(config, root, progress=progress)
    result = ingest_from_config(config, progress=progress)
    for line in [result.summary()] if progress else result.rebuilt_lines():
        print(line, file=sys.stderr)
    return result.ingest_dir
