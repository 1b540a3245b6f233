"""The conventions every emo-env command shares: its parser (defaults shown in ``--help``, an
examples section) and the options every command takes with the same spelling and meaning:
``--config``, ``--set``, ``--seed``, ``--device``, ``--no-progress`` and ``--describe``.
"""

from __future__ import annotations

import argparse
import textwrap
from collections.abc import Sequence
from typing import Any

from .config import default_config, shipped_configs

__all__ = ["HelpFormatter", "command_parser", "help_layout", "add_config_options", "add_common_options",
           "common_overrides"]


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Each option's default after its help (options that default to "unset" say in their help where
    the value comes from); the description and the examples kept as written."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default is None or action.default is False or action.default == []:
            return action.help
        return super()._get_help_string(action)


def command_parser(prog: str, description: str, examples: Sequence[str]) -> argparse.ArgumentParser:
    """A command's parser: ``description``, then ``examples`` (command lines, ``%(prog)s`` for the
    command itself) under "examples:" at the end of ``--help``."""
    return argparse.ArgumentParser(prog=prog, **help_layout(description, examples))


def help_layout(description: str, examples: Sequence[str]) -> dict[str, Any]:
    """The keyword arguments of a parser (or a subcommand's ``add_parser``) with this layout."""
    epilog = "examples:\n" + "\n".join(f"  {line}" for line in examples)
    return {"description": textwrap.fill(description, 79), "epilog": epilog, "formatter_class": HelpFormatter}


def add_config_options(parser: argparse.ArgumentParser, set_example: str = "encoder.num_epochs=2") -> None:
    """``--config`` (a shipped config's name or a file) and the repeatable ``--set KEY=VALUE``."""
    parser.add_argument("--config", metavar="NAME|PATH",
                        help=f"run config: a shipped one ({', '.join(shipped_configs())}), a YAML file or a "
                             "paper-style params.json (default: the built-in defaults, as synthetic)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help=f"override a config key, e.g. --set {set_example} (repeatable)")


def add_common_options(parser: argparse.ArgumentParser, *, describe: str, seeds: str | None = None,
                       device: str = "where torch runs") -> None:
    """``--seed``, ``--device``, ``--no-progress`` and ``--describe`` (whose help is ``describe``). With ``seeds``
    (its default, in words), ``--seed`` takes a comma-separated list into ``args.seeds`` (alias ``--seeds``)."""
    defaults = default_config()
    if seeds is None:
        parser.add_argument("--seed", type=int, metavar="N",
                            help=f"random seed (default: the config's seed, {defaults['seed']} built in)")
    else:
        parser.add_argument("--seed", "--seeds", dest="seeds", metavar="N[,N...]",
                            help=f"comma-separated seeds, one run each (default: {seeds})")
    parser.add_argument("--device", metavar="DEVICE",
                        help=f"{device}: auto (a GPU when present) | cpu | cuda | cuda:N "
                             f"(default: the config's device, {defaults['device']} built in)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.add_argument("--describe", action="store_true",
                        help=f"print {describe} (value and meaning of each, after --config and --set), then exit")


def common_overrides(args: argparse.Namespace) -> list[str]:
    """``--set`` overrides followed by those of ``--seed`` and ``--device`` (when given)."""
    overrides: list[str] = list(getattr(args, "overrides", []))
    settings: dict[str, Any] = {"seed": getattr(args, "seed", None), "device": args.device}
    overrides += [f"{key}={value}" for key, value in settings.items() if value is not None]
    return overrides
