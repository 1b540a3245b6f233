"""``emo-env``: every command of the package behind one entry point.

    emo-env data ...        python -m emo_env.data: generate, ingest, preview, datasets
    emo-env pretrain ...    pretrain_encoder.py: train the encoders, export the feature store
    emo-env train ...       train_agent.py: train one agent, evaluate it, save the policy
    emo-env benchmark ...   python -m agents.benchmark: every agent on every fold and seed
    emo-env online ...      python -m emo_online: recognize a video file or a camera stream

Each command's module is imported only when that command runs, so a command whose optional
dependencies are missing names the extra to install instead of failing the others.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from emo_env import __version__
from emo_env.optional import run_main

__all__ = ["COMMANDS", "main", "run_command"]

#: command -> (module with ``main(argv, prog)``, one-line help)
COMMANDS = {
    "data": ("emo_env.data.__main__", "generate the synthetic corpus, ingest a corpus, preview a clip, list datasets"),
    "pretrain": ("pretrained_encoders.cli", "train the encoders on a corpus and export its feature store"),
    "train": ("agents.cli", "train one agent on AVEmotion-v0, evaluate it on the held-out split, save it"),
    "benchmark": ("agents.benchmark.cli", "train and evaluate every agent on every fold and seed"),
    "online": ("emo_online.cli", "recognize the emotion in a video file or a camera stream, as it plays"),
}


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``emo-env COMMAND [ARGS]``; return the exit status."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help"):
        print(_usage())
        return 0 if args else 2
    if args[0] == "--version":
        print(f"emo-env {__version__}")
        return 0
    if args[0] not in COMMANDS:
        print(f"{_usage()}\nemo-env: error: unknown command {args[0]!r} (choose from {', '.join(COMMANDS)})",
              file=sys.stderr)
        return 2
    return run_command(args[0], args[1:])


def run_command(name: str, argv: Sequence[str], prog: str | None = None) -> int:
    """Import command ``name``'s module and run its ``main`` on ``argv`` (usage shown as ``prog``,
    default ``emo-env NAME``); a missing optional dependency is a one-line error naming its extra."""
    return run_main(COMMANDS[name][0], argv, prog or f"emo-env {name}")


def _usage() -> str:
    width = max(map(len, COMMANDS))
    lines = [f"  {name:<{width}}  {help}" for name, (_, help) in COMMANDS.items()]
    return ("usage: emo-env [--version] COMMAND [ARGS]   (emo-env COMMAND --help for its options)\n\n"
            "Online audio-visual emotion recognition: data, encoders, agents, benchmark, recognizer.\n\n"
            "commands:\n" + "\n".join(lines) + "\n\nexamples:\n"
            "  emo-env train                     # train the default agent on the bundled feature store\n"
            "  emo-env online clip.mp4 --fast    # recognize a video with the bundled encoders\n"
            "  emo-env pretrain --config ravdess --set data.root=/data/RAVDESS")
