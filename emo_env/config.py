"""Run configuration: defaults, YAML or paper-style ``params.json`` files, ``key=value`` overrides.

A config is a plain nested ``dict`` loaded once at the edge (a CLI) and passed down; library
code takes plain arguments. Every key must exist in ``emo_env/defaults.yaml``: an unknown key
is a :class:`ConfigError` naming the file and the key. A run config is a file or the name of a
config shipped with the package (``emo_env/configs/<name>.yaml``: ``synthetic``, ``ravdess``, ...).
"""

from __future__ import annotations

import ast
import copy
import dataclasses
import inspect
import itertools
import json
import re
import textwrap
from collections.abc import Iterable, Mapping
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

__all__ = ["ConfigError", "default_config", "load_config", "resolve_path", "field_docs", "describe_settings",
           "shipped_configs", "config_path"]

# params.json of the paper's public code: key -> dotted key here.
PARAMS_JSON_KEYS = {
    "num_epochs": "encoder.num_epochs",
    "batch_size": "encoder.batch_size",
    "learning_rate": "encoder.learning_rate",
    "decay_step": "encoder.decay_step",
    "decay_rate": "encoder.decay_rate",
    "modality": "encoder.modality",
    "speaker": "encoder.speaker",
}


class ConfigError(ValueError):
    """A config file or override is malformed or names an unknown key."""


def default_config() -> dict[str, Any]:
    """Return a fresh copy of every default setting."""
    text = resources.files("emo_env").joinpath("defaults.yaml").read_text()
    config: dict[str, Any] = yaml.safe_load(text)
    return config


def shipped_configs() -> list[str]:
    """Names of the run configs shipped with the package (one per supported corpus), sorted."""
    folder = resources.files("emo_env").joinpath("configs")
    return sorted(entry.name.removesuffix(".yaml") for entry in folder.iterdir() if entry.name.endswith(".yaml"))


def config_path(name_or_path: str | Path) -> Path:
    """The file of a run config: an existing path as it is, or a shipped config's name (``ravdess``)."""
    path = Path(name_or_path)
    if path.exists() or path.suffix or len(path.parts) > 1:
        return path
    if str(path) not in shipped_configs():
        raise ConfigError(f"config {str(name_or_path)!r} is neither a file nor a shipped config "
                          f"({', '.join(shipped_configs())})")
    return Path(str(resources.files("emo_env").joinpath("configs", f"{path}.yaml")))


def load_config(path: str | Path | None = None, overrides: Iterable[str] = ()) -> dict[str, Any]:
    """Load defaults, then the run config ``path`` (a YAML or params.json file, or a shipped config's
    name: :func:`shipped_configs`), then ``key=value`` overrides.

    Override values are parsed as YAML (``encoder.num_epochs=2``, ``data.classes=[a,b]``).
    """
    config = default_config()
    if path is not None:
        path = config_path(path)
        _merge(config, _read_file(path), source=str(path))
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"override {item!r}: expected key=value, e.g. encoder.num_epochs=2")
        _set_dotted(config, key.strip(), yaml.safe_load(raw), source=f"override {item!r}")
    return config


def resolve_path(config: dict[str, Any], value: str | Path | None, default_under_workdir: str) -> Path:
    """Return ``value`` as a path, or ``{workdir}/{default_under_workdir}`` when it is null."""
    if value is None:
        return Path(config["workdir"]) / default_under_workdir
    return Path(value)


def field_docs(cls: type) -> dict[str, str]:
    """The docstring written under each field of dataclass ``cls`` (and of its dataclass bases), by name."""
    docs: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        if not dataclasses.is_dataclass(klass):
            continue
        try:
            body = ast.parse(textwrap.dedent(inspect.getsource(klass))).body[0]
        except (OSError, TypeError):  # defined where no source is kept (e.g. an interactive session)
            continue
        assert isinstance(body, ast.ClassDef)
        for node, following in itertools.pairwise(body.body):
            if (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)
                    and isinstance(following, ast.Expr) and isinstance(following.value, ast.Constant)
                    and isinstance(following.value.value, str)):
                docs[node.target.id] = " ".join(following.value.value.split())
    return docs


def describe_settings(cls: type, prefix: str, values: Mapping[str, Any]) -> str:
    """One line per setting of ``values`` (a config section owned by dataclass ``cls``): the dotted key to
    ``--set``, its value, and the field's doc as plain text."""
    docs = field_docs(cls)
    rows = [(f"{prefix}.{name}", json.dumps(value)) for name, value in values.items()]
    width = min(40, max((len(f"{key} = {value}") for key, value in rows), default=0))
    return "\n".join(f"  {f'{key} = {value}':<{width}}  {_plain(docs.get(key.rsplit('.', 1)[1], ''))}".rstrip()
                     for key, value in rows)


def _plain(doc: str) -> str:
    """A docstring line as plain text for a terminal (no reStructuredText literal markup)."""
    return doc.replace("``", "")


def _read_file(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist")
    try:
        text = path.read_text()
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(f"config file {path} is not valid {path.suffix.lstrip('.') or 'YAML'}: {exc}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path}: expected a mapping at the top level, got {type(data).__name__}")
    if path.suffix == ".json" and set(data) & set(PARAMS_JSON_KEYS):
        return _from_params_json(data, path)
    return data


def _from_params_json(data: dict[str, Any], path: Path) -> dict[str, Any]:
    nested: dict[str, Any] = {}
    for key, value in data.items():
        if key not in PARAMS_JSON_KEYS:
            raise ConfigError(f"params file {path}: unknown key {key!r} (known: {', '.join(PARAMS_JSON_KEYS)})")
        section, name = PARAMS_JSON_KEYS[key].split(".")
        nested.setdefault(section, {})[name] = value
    return nested


def _merge(base: dict[str, Any], update: dict[str, Any], source: str, prefix: str = "") -> None:
    for key, value in update.items():
        dotted = f"{prefix}{key}"
        if key not in base:
            raise ConfigError(f"{source}: unknown config key {dotted!r}")
        if isinstance(base[key], dict) and base[key] and isinstance(value, dict):
            _merge(base[key], value, source, prefix=f"{dotted}.")
        elif isinstance(base[key], dict) and base[key] and not isinstance(value, dict):
            raise ConfigError(f"{source}: {dotted!r} is a section, got {value!r}")
        else:
            base[key] = _typed(base[key], copy.deepcopy(value), f"{source}: {dotted!r}")


#: Numbers with an exponent and no dot, which YAML 1.1 leaves as strings.
_EXPONENT_NUMBER = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+")


def _typed(default: Any, value: Any, where: str) -> Any:
    """``value`` for a key whose default is ``default``: a number that YAML 1.1 reads as a string (``3e-4``)
    becomes one where the default is a number or null; where it is a number, any other string is an error."""
    if not isinstance(value, str) or isinstance(default, bool):
        return value
    if default is None:
        return float(value) if _EXPONENT_NUMBER.fullmatch(value.strip()) else value
    if not isinstance(default, (int, float)):
        return value
    kind = "a number" if isinstance(default, float) else "an integer"
    try:
        number = float(value)
    except ValueError:
        raise ConfigError(f"{where} must be {kind}, got {value!r}") from None
    if isinstance(default, float):
        return number
    if not number.is_integer():
        raise ConfigError(f"{where} must be {kind}, got {value!r}")
    return int(number)


def _set_dotted(config: dict[str, Any], dotted: str, value: Any, source: str) -> None:
    *parents, leaf = dotted.split(".")
    update: dict[str, Any] = {leaf: value}
    for name in reversed(parents):
        update = {name: update}
    _merge(config, update, source)
