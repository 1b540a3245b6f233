"""``pretrain_encoder.py``: ingest if needed, train the encoders for a held-out fold, export the store.

    python pretrain_encoder.py --config synthetic [--speaker s3] [--modality fusion]
        [--all-folds] [--set key=value ...] [--resume] [--seed N] [--device auto] [--no-progress] [--describe]
    torchrun --nproc_per_node 2 pretrain_encoder.py ...   # frame-level encoders on 2 processes (DDP)

On a face image set (the shipped config ``affectnet``) it pretrains the visual encoder only
(:mod:`pretrained_encoders.images`), for a clip run to fine-tune with ``encoder.visual_weights``.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from emo_env.artifacts import CheckpointError, summary_dir
from emo_env.command_line import add_common_options, add_config_options, command_parser, common_overrides
from emo_env.config import ConfigError, default_config, describe_settings, load_config
from emo_env.data.clips import DatasetError
from emo_env.data.ingest import IngestParams
from emo_env.data.prepare import ensure_ingested
from emo_env.data.store import StoreError
from emo_env.device import resolve_device

from . import distributed
from .data import IngestError, list_folds
from .folds import data_params, run_fold, settings_from_config
from .images import IMAGE_DATASETS, pretrain_visual_on_images
from .pipeline import PretrainOutput
from .settings import PretrainSettings
from .summary import summarize_folds, write_summary

__all__ = ["main"]


def _parser(prog: str) -> argparse.ArgumentParser:
    parser = command_parser(prog, "Ingest the corpus if needed, train the encoders for a held-out fold and export the "
                                  "feature store.", [
        "%(prog)s                                   # the default run: synthetic corpus, held-out s8, fusion",
        "%(prog)s --speaker s3 --modality audio --seed 1",
        "%(prog)s --config ravdess --set data.root=/data/RAVDESS --all-folds",
        "%(prog)s --config affectnet --set data.root=/data/AffectNet   # the visual front end on face images",
        "torchrun --nproc_per_node 2 pretrain_encoder.py --no-progress   # frame-level encoders on 2 processes"])
    add_config_options(parser, set_example="encoder.num_epochs=2")
    encoder = default_config()["encoder"]
    parser.add_argument("--speaker", help="held-out speaker (or group) (default: the config's encoder.speaker, "
                                          f"{encoder['speaker']} built in)")
    parser.add_argument("--modality", choices=("audio", "visual", "fusion"),
                        help="what the temporal model and the store's beliefs are built on (default: the "
                             f"config's encoder.modality, {encoder['modality']} built in)")
    parser.add_argument("--all-folds", action="store_true", help="train every fold of the ingest output in turn")
    parser.add_argument("--resume", action="store_true", help="continue from the last checkpoints of this run")
    add_common_options(parser, describe="the ingest and encoder settings")
    return parser


def main(argv: Sequence[str] | None = None, prog: str = "pretrain_encoder.py") -> int:
    """Run ``pretrain_encoder.py`` (``emo-env pretrain``); return the exit status (2 for bad input, with a one-line
    message)."""
    args = _parser(prog).parse_args(argv)
    overrides = common_overrides(args)
    for key, value in (("encoder.speaker", args.speaker), ("encoder.modality", args.modality)):
        if value is not None:
            overrides.append(f"{key}={value}")
    try:
        config = load_config(args.config, overrides)
        settings = settings_from_config(config)  # bad settings fail here, before a long ingest
        if args.describe:
            print(_describe(config, settings))
            return 0
        device = resolve_device(config["device"])
        if distributed.init_from_env(device) and device.type == "cuda":
            device = torch.device("cuda", distributed.rank() % torch.cuda.device_count())
        if config["data"]["dataset"] in IMAGE_DATASETS:
            images = pretrain_visual_on_images(config, settings, device=device,
                                               resume=args.resume, progress=not args.no_progress)
            if images is not None:
                print(f"visual encoder: validation accuracy {100 * images.report['validation_accuracy']:.1f} % "
                      f"(epoch {images.report['best_epoch'] + 1})\nweights: {images.weights}\n"
                      f"report:  {images.report_files['report.md']}")
            return 0
        t0 = time.perf_counter()
        progress = not args.no_progress
        if distributed.is_main():
            ingest_dir = Path(ensure_ingested(config, progress=progress))
        distributed.barrier()
        if not distributed.is_main():
            ingest_dir = Path(ensure_ingested(config, progress=False))  # already complete: returns at once
        timings = {"ingest": time.perf_counter() - t0}
        folds = list_folds(ingest_dir) if args.all_folds else [str(config["encoder"]["speaker"])]
        outputs = []
        cache: dict[str, dict[str, torch.Tensor]] = {}  # front-end features, shared by the folds
        for fold in folds:
            output = run_fold(config, ingest_dir, fold, device=device, resume=args.resume,
                              progress=progress, timings_s=timings, frontend_cache=cache)
            timings = {}
            if output is not None:
                _summary(output)
                outputs.append(output)
        if args.all_folds and outputs:
            summary = summarize_folds([o.report for o in outputs], [o.store for o in outputs])
            files = write_summary(summary, summary_dir(config))
            print(f"cross-fold summary: {files['summary.md']}")
    except (ConfigError, DatasetError, IngestError, CheckpointError, StoreError, ValueError, ImportError) as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 2
    finally:
        distributed.shutdown()
    return 0


def _describe(config: dict[str, Any], settings: PretrainSettings) -> str:
    encoder = {k: v for k, v in dataclasses.asdict(settings).items() if k != "seed"}
    return (f"ingest settings (emo_env.data.ingest.IngestParams):\n"
            f"{describe_settings(IngestParams, 'data', data_params(config))}\n"
            f"encoder settings (pretrained_encoders.settings.PretrainSettings):\n"
            f"{describe_settings(PretrainSettings, 'encoder', encoder)}")


def _summary(output: PretrainOutput) -> None:
    r = output.report
    acc = ", ".join(f"{m} {100 * r['clip_accuracy'][m]:.1f} %" for m in ("audio", "visual", "fusion"))
    print(f"held-out {r['fold']}: clip accuracy at the end of the clip: {acc} "
          f"(total {r['timings_s']['total']:.0f} s)")
    print(f"store:    {output.store}\nencoders: {output.encoders}\nreport:   {output.report_files['report.md']}")


if __name__ == "__main__":
    sys.exit(main())
