"""Data tools: generate the synthetic corpus, ingest a corpus, preview a clip, list the dataset adapters.

``python -m emo_env.data {generate,ingest,preview,datasets} ...`` (``-h`` for help).
"""

from __future__ import annotations

import argparse
import dataclasses
import inspect
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from ..artifacts import ArtifactError
from ..command_line import add_common_options, add_config_options, command_parser, common_overrides, help_layout
from ..config import ConfigError, default_config, describe_settings, load_config
from .clip_file import read_clip_file
from .clips import Clip, DatasetError
from .corpora import ADAPTERS, IMAGE_SETS
from .ingest import IngestParams, sample_clip
from .media import MediaError
from .prepare import generate_from_config, ingest_from_config, ingest_params
from .preview import contact_sheet
from .synthetic import Difficulty


def main(argv: Sequence[str] | None = None, prog: str = "python -m emo_env.data") -> int:
    """Run the CLI (``emo-env data``); return the exit status (2 for bad input, with a one-line message)."""
    args = _parser(prog).parse_args(argv)
    try:
        args.run(args)
    except (DatasetError, ConfigError, MediaError, ArtifactError) as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 2
    return 0


def _generate(args: argparse.Namespace) -> None:
    config = _config(args)
    if args.describe:
        print(f"corpus settings (emo_env.data.synthetic.Difficulty and generate_corpus):\n"
              f"{describe_settings(Difficulty, 'synthetic', config['synthetic'])}")
        return
    if args.out is None:
        raise DatasetError("generate: --out FOLDER is required")
    print(f"wrote {generate_from_config(config, args.out, progress=not args.no_progress)}")


def _ingest(args: argparse.Namespace) -> None:
    config = _config(args)
    for key, value in (("dataset", args.dataset), ("root", args.root), ("ingest_dir", args.out),
                       ("workers", args.workers)):
        if value is not None:
            config["data"][key] = value
    if args.describe:
        print(f"ingest settings (emo_env.data.ingest.IngestParams):\n"
              f"{describe_settings(IngestParams, 'data', dataclasses.asdict(ingest_params(config)))}")
        return
    print(ingest_from_config(config, progress=not args.no_progress).summary())


def _preview(args: argparse.Namespace) -> None:
    source = Path(args.clip)
    if source.suffix == ".npz":
        arrays = read_clip_file(source)
    else:
        arrays = sample_clip(Clip(source.stem, source, label="", speaker=""), ingest_params(_config(args)))
    print(f"wrote {contact_sheet(arrays, args.out or f'{source.stem}.png', title=source.name)}")


def _datasets(args: argparse.Namespace) -> None:
    for name, discover in {**ADAPTERS, **IMAGE_SETS}.items():
        doc = (inspect.getmodule(discover).__doc__ or "").strip().splitlines()
        print(f"{name:10s} {doc[0].replace('``', '') if doc else ''}")


def _config(args: argparse.Namespace) -> dict:
    return load_config(args.config, common_overrides(args) if hasattr(args, "seed") else args.overrides)


def _parser(prog: str) -> argparse.ArgumentParser:
    parser = command_parser(prog, __doc__.splitlines()[0], [
        "%(prog)s generate --out corpus --set synthetic.speakers=2 --set synthetic.clips_per_emotion=1",
        "%(prog)s ingest --config ravdess --root /data/RAVDESS --out ingest/ravdess",
        "%(prog)s preview corpus/s1/s1_happy_01.mp4",
        "%(prog)s datasets"])
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    def command(name: str, run: Callable[[argparse.Namespace], None], help: str, examples: list[str],
                describe: str | None = None) -> argparse.ArgumentParser:
        lines = [f"{prog} {name} {line}".rstrip() for line in examples]
        sub = commands.add_parser(name, help=help, **help_layout(help, lines))
        sub.set_defaults(run=run)
        if describe is not None:
            add_config_options(sub, set_example="data.step_rate=5")
            add_common_options(sub, describe=describe,
                               device="sets the config's device (the data tools themselves run on the CPU)")
        return sub

    sub = command("generate", _generate, "generate the synthetic corpus (config section 'synthetic')",
                  ["--out corpus", "--out corpus --seed 3 --set synthetic.speakers=4", "--describe"],
                  describe="the corpus settings")
    sub.add_argument("--out", help="output folder (required unless --describe)")
    sub = command("ingest", _ingest, "ingest a corpus into per-clip face crops and log-mel windows, write the folds",
                  ["--config rml --root /data/RML", "--root corpus --out ingest --workers 2 --no-progress",
                   "--config ravdess --describe"], describe="the ingest settings")
    sub.add_argument("--dataset", help="adapter name, see the datasets command (default: the config's "
                                       f"data.dataset, {default_config()['data']['dataset']} built in)")
    sub.add_argument("--root", help="corpus root (default: the config's data.root, or WORKDIR/raw)")
    sub.add_argument("--out", help="ingest folder (default: the config's data.ingest_dir, or WORKDIR/ingest)")
    sub.add_argument("--workers", type=int, help="processes (default: the config's data.workers, "
                                                 f"{default_config()['data']['workers']} built in)")
    sub.add_argument("--quiet", dest="no_progress", action="store_true", help=argparse.SUPPRESS)  # its former name
    sub = command("preview", _preview, "write a contact sheet PNG of one clip (an ingested .npz or a video)",
                  ["corpus/s1/s1_happy_01.mp4 --out happy.png", "ingest/clips/s1_happy_01.npz"])
    add_config_options(sub, set_example="data.step_rate=5")
    sub.add_argument("clip", help="clips/<clip_id>.npz of an ingest folder, or a video file")
    sub.add_argument("--out", help="PNG to write (default: <clip name>.png here)")
    command("datasets", _datasets, "list the dataset adapters", [""])
    return parser


if __name__ == "__main__":
    sys.exit(main())
