"""Data tools: generate the synthetic corpus, ingest a corpus, preview a clip, list the dataset adapters.

``python -m emo_env.data {generate,ingest,preview,datasets} ...`` (``-h`` for help).
"""

from __future__ import annotations

import argparse
import inspect
import sys
from pathlib import Path

from ..artifacts import ArtifactError
from ..config import ConfigError, load_config
from .clip_file import read_clip_file
from .clips import Clip, DatasetError
from .corpora import ADAPTERS
from .ingest import sample_clip
from .media import MediaError
from .prepare import generate_from_config, ingest_from_config, ingest_params
from .preview import contact_sheet


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; return the exit status (2 for bad input, with a one-line message)."""
    args = _parser().parse_args(argv)
    try:
        args.run(args)
    except (DatasetError, ConfigError, MediaError, ArtifactError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


def _generate(args: argparse.Namespace) -> None:
    config = _config(args)
    if args.seed is not None:
        config["seed"] = args.seed
    print(f"wrote {generate_from_config(config, args.out)}")


def _ingest(args: argparse.Namespace) -> None:
    config = _config(args)
    for key, value in (("dataset", args.dataset), ("root", args.root), ("ingest_dir", args.out),
                       ("workers", args.workers)):
        if value is not None:
            config["data"][key] = value
    print(ingest_from_config(config, progress=not args.quiet).summary())


def _preview(args: argparse.Namespace) -> None:
    source = Path(args.clip)
    if source.suffix == ".npz":
        arrays = read_clip_file(source)
    else:
        arrays = sample_clip(Clip(source.stem, source, label="", speaker=""), ingest_params(_config(args)))
    print(f"wrote {contact_sheet(arrays, args.out or f'{source.stem}.png', title=source.name)}")


def _datasets(args: argparse.Namespace) -> None:
    for name, adapter in ADAPTERS.items():
        doc = (inspect.getmodule(adapter).__doc__ or "").strip().splitlines()
        print(f"{name:10s} {doc[0].replace('``', '') if doc else ''}")


def _config(args: argparse.Namespace) -> dict:
    return load_config(args.config, args.set)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m emo_env.data", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    def command(name: str, run, help: str, config: bool = True) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help, description=help)
        sub.set_defaults(run=run)
        if config:
            sub.add_argument("--config", help="YAML config or paper-style params.json")
            sub.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                             help="override a config key, e.g. data.step_rate=5 (repeatable)")
        return sub

    sub = command("generate", _generate, "generate the synthetic corpus (config section 'synthetic')")
    sub.add_argument("--out", required=True, help="output folder")
    sub.add_argument("--seed", type=int, help="random seed (default: the config's seed)")
    sub = command("ingest", _ingest, "ingest a corpus into per-clip face crops and log-mel windows, write the folds")
    sub.add_argument("--dataset", help="adapter name (see the 'datasets' command)")
    sub.add_argument("--root", help="corpus root (default: data.root)")
    sub.add_argument("--out", help="ingest folder (default: data.ingest_dir)")
    sub.add_argument("--workers", type=int, help="processes (default: data.workers)")
    sub.add_argument("--quiet", action="store_true", help="no progress bar")
    sub = command("preview", _preview, "write a contact sheet PNG of one clip (an ingested .npz or a video)")
    sub.add_argument("clip", help="clips/<clip_id>.npz of an ingest folder, or a video file")
    sub.add_argument("--out", help="PNG to write (default: <clip name>.png here)")
    command("datasets", _datasets, "list the dataset adapters", config=False)
    return parser


if __name__ == "__main__":
    sys.exit(main())
