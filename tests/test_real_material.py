"""The real-material manifest of benchmarks/bench_real_material.py, and gathering its files from a clone."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.fixture(scope="module")
def bench():
    sys.path.insert(0, str(BENCHMARKS))
    try:
        import bench_real_material

        yield bench_real_material
    finally:
        sys.path.remove(str(BENCHMARKS))


def test_manifest_covers_every_class_with_sources_and_licences(bench):
    manifest = bench.load_manifest()
    faces = manifest.of("face", bench.EMOTIONS)
    assert {item.label for item in faces} == set(bench.EMOTIONS)
    assert len(faces) >= 20 and len({item.person for item in faces}) >= 10
    assert manifest.of("face", [bench.NEUTRAL]) and manifest.of("voice")
    assert {item.label for item in manifest.of("voice")} == {bench.NEUTRAL}
    assert {item.source for item in manifest.items} == set(manifest.sources)
    reserved = ("crema", "ravdess", "mead", "enterface", "rml", "savee", "baum", "iemocap", "afew")
    for source in manifest.sources.values():
        text = " ".join(source.values()).lower()
        assert not any(name in text for name in reserved), source


def _manifest_with(tmp_path: Path, change) -> Path:
    data = json.loads((BENCHMARKS / "real_material.json").read_text())
    change(data)
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps(data))
    return path


@pytest.mark.parametrize(("change", "message"), [
    (lambda d: d["items"][3].update(label="angry"), r"item 3 \(.+\): label 'angry' is not one of"),
    (lambda d: d["items"][0].update(source="nowhere"), r"item 0 \(.+\): unknown source 'nowhere'"),
    (lambda d: d["items"][1].update(file="../x.jpg"), r"item 1 \(\.\./x\.jpg\): file must be a relative path"),
    (lambda d: d["items"][2].pop("sha256"), r"item 2 \(.+\): needs exactly the fields"),
    (lambda d: d["items"].append(dict(d["items"][0])), r"listed more than once"),
    (lambda d: d["sources"]["yale"].pop("licence"), r"source 'yale' lacks licence"),
])
def test_a_bad_manifest_is_named_in_one_line(bench, tmp_path, change, message):
    with pytest.raises(bench.ManifestError, match=message):
        bench.load_manifest(_manifest_with(tmp_path, change))


def _git(folder: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(folder), *args], check=True, capture_output=True, text=True).stdout.strip()


def test_gather_copies_from_a_clone_at_the_commit_and_checks_the_checksum(bench, tmp_path):
    clone = tmp_path / "clone"
    clone.mkdir()
    _git(clone, "init", "-q")
    (clone / "images").mkdir()
    (clone / "images" / "happy.jpg").write_bytes(b"a smile")
    _git(clone, "add", ".")
    _git(clone, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "photo")
    commit = _git(clone, "rev-parse", "HEAD")
    (clone / "images" / "happy.jpg").write_bytes(b"changed after the commit")
    item = {"file": "faces/happy.jpg", "source": "demo", "path": "images/happy.jpg", "kind": "face",
            "label": "happy", "person": "p1", "sha256": hashlib.sha256(b"a smile").hexdigest()}
    source = {"repository": "someone/demo", "commit": commit, "material": "a photo", "licence": "CC0",
              "labels": "file name"}
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps({"format": bench.FORMAT, "sources": {"demo": source}, "items": [item]}))
    manifest = bench.load_manifest(path)
    material = tmp_path / "material"
    with pytest.raises(bench.ManifestError, match=r"faces/happy\.jpg: missing; gather it with --gather demo=CLONE"):
        bench.check_material(manifest, material)
    assert bench.gather(manifest, material, {"demo": clone}) == ["faces/happy.jpg"]
    assert (material / "faces" / "happy.jpg").read_bytes() == b"a smile"
    bench.check_material(manifest, material)
    (material / "faces" / "happy.jpg").write_bytes(b"tampered")
    with pytest.raises(bench.ManifestError, match="checksum differs"):
        bench.check_material(manifest, material)
    item["sha256"] = "0" * 64
    path.write_text(json.dumps({"format": bench.FORMAT, "sources": {"demo": source}, "items": [item]}))
    with pytest.raises(bench.ManifestError, match="does not match the manifest's checksum"):
        bench.gather(bench.load_manifest(path), material, {"demo": clone})
