"""Rebuild the bundled encoders and feature store from the default synthetic run.

    python -m pretrained_encoders.bundle [--workdir runs/synthetic] [--set key=value ...]

Runs exactly the default configuration (``configs/synthetic.yaml``: the defaults of
``emo_env/defaults.yaml``; seed 0, held-out speaker s8, fusion) on CPU, generating and ingesting
the synthetic corpus when needed, then copies ``encoders.pt`` and the feature store into
``pretrained_encoders/bundled/``. Same seed, same files.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path
from typing import Any, Sequence

import torch

from emo_env.config import load_config
from emo_env.data.prepare import ensure_ingested

from . import bundled_encoders_path, bundled_store_path
from .checkpoint import atomic_path
from .folds import run_fold

__all__ = ["build_bundle", "main"]


def build_bundle(config: dict[str, Any], out_dir: Path, *, progress: bool = True) -> tuple[Path, Path]:
    """Ingest (if needed), train on CPU and copy ``encoders.pt`` and ``synthetic.emostore`` into ``out_dir``."""
    ingest_dir = Path(ensure_ingested(config, progress=progress))
    output = run_fold(config, ingest_dir, str(config["encoder"]["speaker"]), device=torch.device("cpu"), progress=progress)
    assert output is not None
    copies = []
    for source, name in ((output.encoders, bundled_encoders_path().name), (output.store, bundled_store_path().name)):
        with atomic_path(out_dir / name) as tmp:
            shutil.copyfile(source, tmp)
        copies.append(out_dir / name)
    return copies[0], copies[1]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pretrained_encoders.bundle", description=__doc__.split("\n\n")[0])
    parser.add_argument("--workdir", default=None, help="where the corpus, ingest output and run go (default: the config's)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--out-dir", type=Path, default=bundled_store_path().parent, help="default: the package's bundled/")
    args = parser.parse_args(argv)
    overrides = list(args.overrides) + ([f"workdir={args.workdir}"] if args.workdir else [])
    encoders, store = build_bundle(load_config(None, overrides), args.out_dir)
    print(f"wrote {encoders} ({encoders.stat().st_size / 1e6:.2f} MB) and {store} ({store.stat().st_size / 1e6:.2f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
