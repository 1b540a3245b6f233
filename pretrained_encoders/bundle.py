"""Rebuild the bundled encoders and feature store from the default synthetic run.

    python -m pretrained_encoders.bundle [--workdir runs/synthetic] [--set key=value ...]

Runs exactly the default configuration (the shipped config ``synthetic``: the defaults of
``emo_env/defaults.yaml``; seed 0, held-out speaker s8, fusion) on CPU, generating and ingesting
the synthetic corpus when needed, then copies ``encoders.pt`` into ``pretrained_encoders/bundled/`` and the feature
store into ``emo_env/bundled/``. Same seed, same files.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from emo_env.artifacts import atomic_path, bundled_store_path
from emo_env.config import load_config
from emo_env.data.prepare import ensure_ingested

from . import bundled_encoders_path
from .folds import run_fold

__all__ = ["build_bundle", "main"]


def build_bundle(config: dict[str, Any], out_dir: Path | None = None, *, progress: bool = True) -> tuple[Path, Path]:
    """Ingest (if needed), train on CPU and copy the encoders and the feature store to their bundled paths, or
    both into ``out_dir``."""
    ingest_dir = Path(ensure_ingested(config, progress=progress))
    output = run_fold(config, ingest_dir, str(config["encoder"]["speaker"]), device=torch.device("cpu"),
                      progress=progress)
    assert output is not None
    targets = bundled_encoders_path(), bundled_store_path()
    if out_dir is not None:
        targets = (out_dir / targets[0].name, out_dir / targets[1].name)
    for source, target in zip((output.encoders, output.store), targets, strict=True):
        with atomic_path(target) as tmp:
            shutil.copyfile(source, tmp)
    return targets


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pretrained_encoders.bundle", description=__doc__.split("\n\n")[0])
    parser.add_argument("--workdir", default=None,
                        help="where the corpus, ingest output and run go (default: the config's)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--out-dir", type=Path,
                        help="write both files here (default: their bundled paths in the packages)")
    args = parser.parse_args(argv)
    overrides = list(args.overrides) + ([f"workdir={args.workdir}"] if args.workdir else [])
    encoders, store = build_bundle(load_config(None, overrides), args.out_dir)
    print(f"wrote {encoders} ({encoders.stat().st_size / 1e6:.2f} MB) and {store} "
          f"({store.stat().st_size / 1e6:.2f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
