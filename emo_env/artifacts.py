"""The files every layer writes and reads: atomic writes, torch files loaded safely, where a run's
outputs go, and the bundled feature store.

Run-output layout under ``workdir`` (each folder can be moved by its config key):

```
{workdir}/raw/                          generated synthetic corpus       data.root
{workdir}/ingest/                       frame samples and split CSVs     data.ingest_dir
{workdir}/encoders/<tag>/encoders.pt    a fold's encoders and report     encoder.out_dir
{workdir}/encoders/<dataset>_all-folds_<modality>/   the cross-fold summary
{workdir}/stores/<tag>.emostore         a fold's feature store
{workdir}/agents/<agent>/policy.pt      an agent run: policy, checkpoint, report.json
{workdir}/benchmark/                    the agent benchmark              agent.benchmark.out_dir
```

with ``<tag> = <dataset>_<held-out fold>_<modality>``.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import sys
import tempfile
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from emo_env.config import resolve_path

__all__ = ["ArtifactError", "CheckpointError", "atomic_path", "save_atomic", "load_safe", "read_npz",
           "json_checksum", "write_json_checked", "read_json_checked", "folder_lock", "bundled_store_path",
           "ENCODERS_FILE", "POLICY_FILE", "CHECKPOINT_FILE", "REPORT_FILE", "encoder_outputs", "summary_dir",
           "agent_folder", "agent_dir"]

ENCODERS_FILE = "encoders.pt"
POLICY_FILE = "policy.pt"
CHECKPOINT_FILE = "checkpoint.pt"
REPORT_FILE = "report.json"


class ArtifactError(ValueError):
    """A file that an earlier run wrote is missing, truncated, corrupt or not what it should be. The
    message is one line: the file and what is wrong with it (``problem``), then what to do (``remedy``)
    where the reader knows."""

    def __init__(self, problem: str, remedy: str = "") -> None:
        super().__init__(f"{problem}; {remedy}" if remedy else problem)
        self.problem, self.remedy = problem, remedy


class CheckpointError(ArtifactError):
    """A checkpoint, policy or weights file is missing, truncated, corrupt or of an unexpected kind."""


def _damage(exc: BaseException) -> str:
    """What parsing a damaged file raised, in a few words."""
    text = str(exc).splitlines()[0][:120] if str(exc) else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; when the block succeeds it replaces ``path``.

    On any error the temporary file is removed and ``path`` is left as it was.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


_SEAL = b"emo-env sha256 "  # the zip comment of a sealed torch file: this, then the hex digest
_SEAL_SIZE = len(_SEAL) + 64


def _seal(archive: bytes) -> bytes:
    """``archive`` (a zip without a comment) with the SHA-256 of all its bytes before the comment field
    as its zip comment: every byte of the file is then checked, headers and padding included, which the
    records' CRC-32 alone does not do. Zip readers, ``torch.load`` among them, skip the comment."""
    if archive[-22:-18] != b"PK\x05\x06" or archive[-2:] != b"\0\0":
        raise ValueError("torch.save wrote no zip archive ending in an empty comment")
    body = archive[:-2]
    return body + _SEAL_SIZE.to_bytes(2, "little") + _SEAL + hashlib.sha256(body).hexdigest().encode()


def _seal_intact(data: bytes) -> bool | None:
    """Whether a sealed file's digest matches its bytes; None for a file without a seal (older files)."""
    if len(data) < _SEAL_SIZE + 22 or data[-_SEAL_SIZE:-64] != _SEAL:
        return None
    body = data[: -_SEAL_SIZE - 2]
    return hashlib.sha256(body).hexdigest().encode() == data[-64:]


def save_atomic(obj: Any, path: str | Path) -> Path:
    """``torch.save`` to a temp file in the same folder, sealed with the file's SHA-256 (its zip
    comment, checked by :func:`load_safe`), fsync, then rename it over ``path``."""
    import torch  # imported here: the env and the data layer do not need torch

    buffer = io.BytesIO()
    torch.save(obj, buffer)
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        f.write(_seal(buffer.getvalue()))
        f.flush()
        os.fsync(f.fileno())
    return Path(path)


def load_safe(path: str | Path, kind: str = "checkpoint", remedy: str = "") -> Any:
    """``torch.load(path, weights_only=True)`` on CPU, after checking the file's seal (the SHA-256 that
    :func:`save_atomic` wrote; files without one are accepted) and the CRC-32 of every record of its zip
    archive; a missing or damaged file is a one-line :class:`CheckpointError` naming the
    file, ending with ``remedy`` (what to do) when given."""
    import torch

    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{kind} {path} does not exist", remedy)
    if _seal_intact(path.read_bytes()) is False:
        raise CheckpointError(f"{kind} {path} is corrupt (its bytes do not match the SHA-256 it was saved with)",
                              remedy)
    try:
        with zipfile.ZipFile(path) as archive:  # torch.load itself checks no CRC: a flipped byte would load
            damaged = archive.testzip()
        if damaged is not None:
            raise CheckpointError(f"{kind} {path} is corrupt (CRC mismatch in {damaged})", remedy)
        return torch.load(path, map_location="cpu", weights_only=True)
    except CheckpointError:
        raise
    except Exception as exc:  # whatever parsing damaged bytes raises
        # torch's own message spans many lines and suggests weights_only=False, which would run the file's code
        if "Unsupported global" in str(exc):
            raise CheckpointError(f"{kind} {path} holds Python objects other than tensors and plain values: not an "
                                  f"emo-env {kind}, and not unpickled") from exc
        raise CheckpointError(f"{kind} {path} is truncated or corrupt ({type(exc).__name__})", remedy) from exc


def read_npz(path: str | Path, kind: str, remedy: str = "") -> dict[str, np.ndarray]:
    """Every array of the ``.npz`` file ``path``, each read to its end so that the zip's CRC-32 of every
    member is checked (no pickles). A missing, truncated or corrupt file is a one-line
    :class:`ArtifactError` naming the ``kind`` of file and the file, ending with ``remedy``."""
    path = Path(path)
    if not path.is_file():
        raise ArtifactError(f"{kind} {path} does not exist", remedy)
    with open(path, "rb") as f:
        head = f.read(4)
    if head != b"PK\x03\x04":  # numpy would try it as a pickle and say so
        raise ArtifactError(f"{kind} {path} is not an .npz archive (it starts with {head!r})", remedy)
    try:
        with np.load(path, allow_pickle=False) as npz:
            return {name: npz[name] for name in npz.files}
    except Exception as exc:  # whatever parsing damaged bytes raises: zip, zlib, npy header, allocation errors
        raise ArtifactError(f"{kind} {path} is truncated or corrupt ({_damage(exc)})", remedy) from None


def write_json_checked(path: str | Path, record: dict[str, Any]) -> Path:
    """Write ``record`` as JSON atomically with the SHA-256 of its content, which
    :func:`read_json_checked` verifies: a flipped digit is noticed, never read back as a figure."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps({"sha256": json_checksum(record), "record": record}, sort_keys=True))
    return Path(path)


def read_json_checked(path: str | Path, kind: str) -> dict[str, Any]:
    """The record :func:`write_json_checked` wrote to ``path``; a missing, damaged or altered file is a
    one-line :class:`ArtifactError` naming the file."""
    path = Path(path)
    if not path.is_file():
        raise ArtifactError(f"{kind} {path} does not exist")
    try:
        saved = json.loads(path.read_bytes())
    except ValueError as exc:  # not JSON, or not text
        raise ArtifactError(f"{kind} {path} is truncated or corrupt ({_damage(exc)})") from None
    if not isinstance(saved, dict) or set(saved) != {"record", "sha256"}:
        raise ArtifactError(f"{kind} {path} has no checksum (an older emo-env wrote it, or it is not a record)")
    record = saved["record"]
    if not isinstance(record, dict) or json_checksum(record) != saved["sha256"]:
        raise ArtifactError(f"{kind} {path} is corrupt (checksum mismatch)")
    return record


def json_checksum(value: Any) -> str:
    """SHA-256 of ``value`` as JSON with sorted keys (read back with ``json.loads``, it has the same checksum)."""
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()


@contextmanager
def folder_lock(folder: str | Path) -> Iterator[None]:
    """Hold ``folder/.lock`` for the block: a second run writing the same folder waits until the first
    is done (and says so), then finds its files complete."""
    from filelock import FileLock, Timeout

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    lock = FileLock(folder / ".lock")
    try:
        lock.acquire(timeout=0)
    except Timeout:
        print(f"another run is writing {folder}: waiting for it to finish", file=sys.stderr, flush=True)
        lock.acquire()
    try:
        yield
    finally:
        lock.release()



def bundled_store_path() -> Path:
    """The bundled feature store of the default synthetic corpus (held-out speaker s8), shipped with the
    package; ``python -m pretrained_encoders.bundle`` rebuilds it with the encoders that exported it."""
    return Path(str(resources.files("emo_env").joinpath("bundled", "synthetic.emostore")))


def _tag(config: dict[str, Any], fold: str) -> str:
    return f"{config['data']['dataset']}_{fold}_{config['encoder']['modality']}"


def encoder_outputs(config: dict[str, Any], fold: str) -> tuple[Path, Path]:
    """``(run_dir, store_path)`` of held-out ``fold`` for the config's corpus and modality: the encoders
    (``run_dir / ENCODERS_FILE``) and report, and the exported feature store."""
    tag = _tag(config, fold)
    run_dir = resolve_path(config, config["encoder"]["out_dir"], "encoders") / tag
    return run_dir, Path(config["workdir"]) / "stores" / f"{tag}.emostore"


def summary_dir(config: dict[str, Any]) -> Path:
    """Where ``pretrain_encoder.py --all-folds`` writes the cross-fold summary."""
    return resolve_path(config, config["encoder"]["out_dir"], "encoders") / _tag(config, "all-folds")


def agent_folder(agent: str) -> str:
    """``agent`` as a folder name: ``package.module:Class`` becomes ``package.module_Class``."""
    return re.sub(r"[^\w.=-]", "_", agent)


def agent_dir(config: dict[str, Any], agent: str) -> Path:
    """The output folder of a ``train_agent.py`` run of ``agent``."""
    return resolve_path(config, config["agent"]["out_dir"], f"agents/{agent_folder(agent)}")
