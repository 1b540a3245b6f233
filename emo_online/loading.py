"""What an agent run written by ``train_agent.py`` holds for online use: its policy, the feature store
it was trained on, and the encoders that exported that store."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from emo_env.artifacts import (
    ENCODERS_FILE,
    POLICY_FILE,
    REPORT_FILE,
    CheckpointError,
    bundled_store_path,
    encoder_outputs,
)
from emo_env.data.store import FeatureStore, load_store
from pretrained_encoders import bundled_encoders_path
from pretrained_encoders.encoders import Encoders, load_encoders, state_checksum

__all__ = ["RunFiles", "find_run", "check_encoders", "load_run_encoders"]


@dataclass(frozen=True)
class RunFiles:
    """The files of one agent run and the env settings it was trained with."""

    policy: Path
    store: FeatureStore
    modality: str | None  # the env's ``modality`` (frame observations); None = the store's


def find_run(path: str | Path) -> RunFiles:
    """The policy, store and env modality of the run in folder ``path`` (or of its ``policy.pt``)."""
    path = Path(path)
    run_dir = path.parent if path.is_file() else path
    policy = path if path.is_file() else path / POLICY_FILE
    if not policy.is_file():
        raise FileNotFoundError(f"{run_dir} is not an agent run: no {POLICY_FILE} (train_agent.py writes it)")
    report = run_dir / REPORT_FILE
    try:
        settings = json.loads(report.read_text())["settings"]
        recorded = settings["store"]
    except FileNotFoundError:
        raise FileNotFoundError(f"{report} does not exist: train_agent.py writes it at the end of a run, "
                                "with the feature store the policy was trained on") from None
    except (ValueError, KeyError, TypeError) as exc:  # not JSON, not text, or no settings.store
        raise ValueError(f"{report}: cannot read settings.store ({type(exc).__name__}: {str(exc)[:80]}); "
                         "train_agent.py --resume writes it again") from None
    # a relative path is relative to where train_agent.py ran: here, or a folder above the run
    candidates = [Path(recorded), *(folder / recorded for folder in (run_dir.resolve(), *run_dir.resolve().parents))]
    store = next((c for c in candidates if c.is_file()), None)
    if store is None:
        raise FileNotFoundError(f"{report}: the run's feature store {recorded} does not exist "
                                f"(looked in the current folder and in {run_dir} and the folders above it)")
    return RunFiles(policy, load_store(store), settings.get("modality"))


def load_run_encoders(store: FeatureStore, encoders: str | Path | None = None, device: str = "cpu") -> Encoders:
    """The encoders that exported ``store``: ``encoders`` if given, else ``pretrain_encoder.py``'s
    ``encoders.pt`` for the store's config (as recorded, or next to the store in the default
    layout ``{workdir}/stores/<tag>.emostore`` + ``{workdir}/encoders/<tag>/encoders.pt``), else
    the bundled encoders for the bundled store. Checked against the store's checksum."""
    looked: list[Path] = []
    for candidate in [Path(encoders)] if encoders is not None else _candidates(store):
        looked.append(candidate)
        if candidate.is_file():
            found = candidate
            break
    else:
        raise FileNotFoundError(f"no encoders file for feature store {store.path} (looked at: "
                                f"{', '.join(map(str, looked))}); "
                                "pass the encoders.pt that exported it")
    loaded = load_encoders(found, device)
    check_encoders(loaded, store, found)
    return loaded


def check_encoders(encoders: Encoders, store: FeatureStore, path: Path | str = "encoders") -> None:
    """Raise :class:`CheckpointError` unless ``encoders`` are the ones that exported ``store``."""
    wanted = store.metadata.get("encoder_checksums", {}).get("full")
    states = {kind: model.state_dict() for kind, model in encoders.models().items()}
    if wanted is not None and state_checksum(states) != wanted:
        raise CheckpointError(f"{path} are not the encoders that exported {store.path} (checksum mismatch)")
    if encoders.class_names != list(store.class_names) or encoders.modality != store.modality:
        raise CheckpointError(f"{path} (classes {encoders.class_names}, modality {encoders.modality}) do not match "
                              f"{store.path} (classes {store.class_names}, modality {store.modality})")


def _candidates(store: FeatureStore) -> Iterator[Path]:
    """Where the encoders of ``store`` may be, most specific first."""
    config: dict[str, Any] | None = store.metadata.get("config")
    fold = store.metadata.get("fold")
    if config is not None and fold is not None:
        try:
            yield encoder_outputs(config, str(fold))[0] / ENCODERS_FILE
        except (KeyError, TypeError):
            pass  # a config without the usual sections: the default layout below still applies
    yield store.path.parent.parent / "encoders" / store.path.stem / ENCODERS_FILE
    if store.path.resolve() == bundled_store_path().resolve():
        yield bundled_encoders_path()
