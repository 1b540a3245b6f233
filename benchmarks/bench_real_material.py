"""The default recognizer on real faces and voices, beside the FER2013 network alone on the same faces.

Material: ``benchmarks/real_material.json`` lists real photos of posed expressions and real speech taken
from public repositories (none from the emotion corpora reserved for the external check), each with its
repository, commit, path, licence, label and checksum. The files themselves are not part of emo-env;
gather them once, offline, from local clones of the listed repositories (``git show COMMIT:PATH``)::

    python benchmarks/bench_real_material.py --material DIR --gather yale=CLONE face-api=CLONE ...

Then::

    python benchmarks/bench_real_material.py --material DIR [--json]

Each face becomes a clip (2.5 s at 25 fps of the still photo on a 480x360 canvas, with a slow drift and
zoom of a few pixels so the tracker follows a moving face) and goes through ``play_file``, the path of
``python -m emo_online CLIP --fast`` with the bundled encoders and threshold policy: once with no audio
track (face only), once with a real neutral voice as its track (face + voice: a voice with no emotion
should leave the face's answer standing). The FER2013 network alone judges the clip's first frame (Haar
face crop, argmax over the six classes; its confidence is the chosen class's share of those six).
Voices alone (black frames, the speech as the track, at most the store's longest clip) have no emotion
label: the table gives their answers and confidence (a neutral voice should get no confident emotion).

Figures: answered (a decision at all; none when no face is found in any frame, or, for FER, in the first
one; with a voice track the recognizer then answers from the voice alone, and the table says how often),
early (the policy answered before the last step, where the answer is forced), accuracy over every
labelled face (an unanswered face counts as wrong), mean confidence of the answers and its gap to the
accuracy (positive: overconfident), and the largest share one class takes of the answers. Neutral faces
(none of the six classes is right) get the same figures but accuracy. Deterministic: the same files give
the same figures.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np
import torch
from bench_realism import FER_CLASSES, RML_INDEX, FaceJudge  # this folder, as the script's own
from PIL import Image

from emo_env.artifacts import atomic_path
from emo_env.data.media import MediaError
from emo_env.data.synthetic import EMOTIONS, NEUTRAL
from emo_online.cli import play_file
from emo_online.recognizer import OnlineRecognizer

MANIFEST = Path(__file__).with_name("real_material.json")
FORMAT = "emo-env real material v1"
LABELS = (*EMOTIONS, NEUTRAL)
KINDS = ("face", "voice")
SOURCE_FIELDS = ("repository", "commit", "material", "licence", "labels")
ITEM_FIELDS = ("file", "source", "path", "kind", "label", "person", "sha256")
CANVAS = (480, 360)  # width, height of the clips' frames
FPS = 25
SECONDS = 2.5
VOICE_OFFSET_S = 0.2  # where the voice track of a face clip starts in its recording (past the first breath)
MODES = {"fer": "FER2013 network alone", "face": "recognizer, face only", "face+voice": "recognizer, face + real voice",
         "voice": "recognizer, voice only"}


class ManifestError(ValueError):
    """The manifest or the material folder is not as it should be; the message names the file and item."""


@dataclass(frozen=True)
class Item:
    """One file of real material."""

    file: str  # where it lies under the material folder
    source: str  # key of the manifest's sources
    path: str  # where it lies in the source repository
    kind: str  # face | voice
    label: str  # the posed expression, or neutral
    person: str
    sha256: str


@dataclass(frozen=True)
class Manifest:
    """The material's sources (repository, commit, licence, ...) and items."""

    sources: dict[str, dict[str, str]]
    items: tuple[Item, ...]

    def of(self, kind: str, labels: Sequence[str] = LABELS) -> list[Item]:
        """The items of ``kind`` whose label is among ``labels``, in manifest order."""
        return [item for item in self.items if item.kind == kind and item.label in labels]


@dataclass(frozen=True)
class Answer:
    """One answer for one item."""

    emotion: str
    confidence: float
    early: bool  # the policy answered before the last step (always true for the FER network)
    modalities: tuple[str, ...]


def load_manifest(path: str | Path = MANIFEST) -> Manifest:
    """Read and check the manifest; :class:`ManifestError` names the file and the item at fault."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ManifestError(f"{path}: cannot read ({type(exc).__name__}: {exc})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ManifestError(f"{path}: not a manifest of format {FORMAT!r}")
    sources = data.get("sources")
    if not isinstance(sources, dict) or not sources:
        raise ManifestError(f"{path}: no sources")
    for name, source in sources.items():
        missing = [key for key in SOURCE_FIELDS if not isinstance(source, dict) or not source.get(key)]
        if missing:
            raise ManifestError(f"{path}: source {name!r} lacks {', '.join(missing)}")
        if not re.fullmatch(r"[0-9a-f]{40}", source["commit"]):
            raise ManifestError(f"{path}: source {name!r}: commit must be 40 hex digits, got {source['commit']!r}")
    items = []
    for i, row in enumerate(data.get("items") or []):
        where = f"{path}: item {i}" + (f" ({row.get('file')})" if isinstance(row, dict) else "")
        if not isinstance(row, dict) or sorted(row) != sorted(ITEM_FIELDS):
            raise ManifestError(f"{where}: needs exactly the fields {', '.join(ITEM_FIELDS)}")
        item = Item(**{key: str(row[key]) for key in ITEM_FIELDS})
        problem = (f"unknown source {item.source!r}" if item.source not in sources else
                   f"kind must be one of {KINDS}" if item.kind not in KINDS else
                   f"label {item.label!r} is not one of {LABELS}" if item.label not in LABELS else
                   "sha256 must be 64 hex digits" if not re.fullmatch(r"[0-9a-f]{64}", item.sha256) else
                   "file must be a relative path inside the material folder"
                   if Path(item.file).is_absolute() or ".." in Path(item.file).parts else None)
        if problem:
            raise ManifestError(f"{where}: {problem}")
        items.append(item)
    if not items:
        raise ManifestError(f"{path}: no items")
    repeated = [file for file, n in Counter(item.file for item in items).items() if n > 1]
    if repeated:
        raise ManifestError(f"{path}: file {repeated[0]!r} is listed more than once")
    return Manifest(sources, tuple(items))


def gather(manifest: Manifest, material: Path, clones: dict[str, Path]) -> list[str]:
    """Copy the items of the sources in ``clones`` (source name -> local git clone of its repository) into
    ``material`` from the recorded commit, checking each checksum; return the files written."""
    unknown = sorted(set(clones) - set(manifest.sources))
    if unknown:
        raise ManifestError(f"--gather: unknown source {unknown[0]!r} (the manifest has {', '.join(manifest.sources)})")
    written = []
    for item in manifest.items:
        if item.source not in clones:
            continue
        commit = manifest.sources[item.source]["commit"]
        shown = subprocess.run(["git", "-C", str(clones[item.source]), "show", f"{commit}:{item.path}"],
                               capture_output=True)
        if shown.returncode:
            raise ManifestError(f"{clones[item.source]}: cannot read {commit[:12]}:{item.path} "
                                f"({shown.stderr.decode(errors='replace').strip()[:120]})")
        if hashlib.sha256(shown.stdout).hexdigest() != item.sha256:
            raise ManifestError(f"{clones[item.source]}: {commit[:12]}:{item.path} does not match the manifest's "
                                f"checksum for {item.file}")
        with atomic_path(material / item.file) as tmp:
            tmp.write_bytes(shown.stdout)
        written.append(item.file)
    return written


def check_material(manifest: Manifest, material: Path) -> None:
    """Raise :class:`ManifestError` unless every item's file is in ``material`` with its checksum."""
    for item in manifest.items:
        path = material / item.file
        if not path.is_file():
            raise ManifestError(f"{path}: missing; gather it with --gather {item.source}=CLONE "
                                f"(a clone of {manifest.sources[item.source]['repository']})")
        if hashlib.sha256(path.read_bytes()).hexdigest() != item.sha256:
            raise ManifestError(f"{path}: checksum differs from the manifest's; gather it again")


# -- clips -------------------------------------------------------------------------------------------
def face_canvas(path: Path) -> np.ndarray:
    """The photo scaled to fit the canvas (aspect kept), centred on black: uint8 RGB ``[H, W, 3]``."""
    try:
        with Image.open(path) as image:
            rgb = np.asarray(image.convert("RGB"))
    except OSError as exc:
        raise MediaError(path, f"cannot read the image ({exc})") from None
    width, height = CANVAS
    scale = min(width / rgb.shape[1], height / rgb.shape[0])
    w, h = round(rgb.shape[1] * scale), round(rgb.shape[0] * scale)
    canvas = np.zeros((height, width, 3), np.uint8)
    x, y = (width - w) // 2, (height - h) // 2
    canvas[y:y + h, x:x + w] = cv2.resize(rgb, (w, h), interpolation=cv2.INTER_AREA)
    return canvas


def drifting(canvas: np.ndarray, frames: int, fps: float) -> Iterator[np.ndarray]:
    """``frames`` frames of ``canvas`` drifting by up to 4 pixels and zooming by up to 2 % (slow sines)."""
    height, width = canvas.shape[:2]
    for i in range(frames):
        t = i / fps
        zoom = 1.0 + 0.02 * np.sin(2 * np.pi * t / 3.1)
        matrix = cv2.getRotationMatrix2D((width / 2, height / 2), 0.0, zoom)
        matrix[:, 2] += (4.0 * np.sin(2 * np.pi * t / 2.3), 3.0 * np.sin(2 * np.pi * t / 1.7 + 1.0))
        yield cv2.warpAffine(canvas, matrix, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def read_voice(path: Path, sample_rate: int) -> np.ndarray:
    """A recording's samples, mono float32 at ``sample_rate`` (FFmpeg's resampler)."""
    try:
        with av.open(str(path)) as container:
            resampler = av.AudioResampler(format="flt", layout="mono", rate=sample_rate)
            frames = [out for frame in container.decode(audio=0) for out in resampler.resample(frame)]
            frames += resampler.resample(None)
    except (av.error.FFmpegError, OSError) as exc:
        raise MediaError(path, f"cannot decode audio ({exc})") from None
    return np.concatenate([frame.to_ndarray().reshape(-1) for frame in frames]).astype(np.float32)


def write_clip(path: Path, frames: Iterable[np.ndarray], fps: int, audio: np.ndarray | None, sample_rate: int) -> Path:
    """MPEG-4 video (intra frames, fine quantiser) with ``audio`` (scaled down if it peaks above 1) as 16-bit
    PCM interleaved in chunks of a tenth of a second and cut at the last frame's end, or no audio track."""
    pcm = None if audio is None else np.round(audio / max(1.0, float(np.abs(audio).max(initial=0.0))) * 32767
                                              ).astype(np.int16)
    with atomic_path(path) as tmp, av.open(str(tmp), "w", format="mp4") as container:
        video = container.add_stream("mpeg4", rate=fps, options={"g": "1", "qmax": "4"})
        video.width, video.height, video.pix_fmt = *CANVAS, "yuv420p"
        video.codec_context.thread_count = 1
        sound = None if pcm is None else container.add_stream("pcm_s16le", rate=sample_rate, layout="mono")
        sent = 0
        for i, frame in enumerate(frames):
            container.mux(video.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")))
            upto = 0 if pcm is None else min(pcm.size, round((i + 1) * sample_rate / fps))
            if pcm is not None and upto - sent >= sample_rate // 10:
                sent = _mux_audio(container, sound, pcm, sent, upto, sample_rate)
        container.mux(video.encode())
        if pcm is not None:
            _mux_audio(container, sound, pcm, sent, upto, sample_rate)
            container.mux(sound.encode())
    return path


def _mux_audio(container: Any, sound: Any, pcm: np.ndarray, start: int, end: int, sample_rate: int) -> int:
    """Encode and mux ``pcm[start:end]`` (if any); return ``end``."""
    if end > start:
        chunk = av.AudioFrame.from_ndarray(pcm[None, start:end], format="s16", layout="mono")
        chunk.sample_rate, chunk.pts = sample_rate, start
        container.mux(sound.encode(chunk))
    return end


# -- answers -----------------------------------------------------------------------------------------
def fer_answer(judge: FaceJudge, image: np.ndarray) -> tuple[Answer | None, bool]:
    """The FER2013 network's six-way answer for ``image`` (None without a detected face), and whether its
    seven-way argmax is neutral."""
    probs = judge(image)
    if probs is None:
        return None, False
    six = probs[RML_INDEX] / probs[RML_INDEX].sum()
    k = int(np.argmax(six))
    return Answer(EMOTIONS[k], float(six[k]), True, ("visual",)), FER_CLASSES[int(np.argmax(probs))] == NEUTRAL


def recognizer_answer(recognizer: OnlineRecognizer, clip: Path) -> Answer | None:
    """The recognizer's decision on ``clip`` (``play_file``, as fast as possible); None when it has nothing
    to recognize (no face in any frame and no audio track)."""
    try:
        decision = play_file(recognizer, clip, fast=True, report=lambda _: None)
    except MediaError:
        return None
    if decision is None:
        return None
    return Answer(decision.emotion, decision.confidence, not decision.forced, tuple(decision.modalities))


def measure(manifest: Manifest, material: Path, recognizer: OnlineRecognizer, workdir: Path) -> list[dict[str, Any]]:
    """Every item's answers: faces under ``fer``, ``face`` and ``face+voice``, voices under ``voice``."""
    rate = recognizer.sample_rate
    frames = round(SECONDS * FPS)
    voices = manifest.of("voice")
    recordings = {item.file: read_voice(material / item.file, rate) for item in voices}
    need = round((SECONDS + VOICE_OFFSET_S) * rate)
    tracks = [recordings[item.file][round(VOICE_OFFSET_S * rate):need] for item in voices
              if recordings[item.file].size >= need]
    if not tracks:
        raise ManifestError(f"no voice of the manifest lasts {SECONDS + VOICE_OFFSET_S:g} s: no track for the faces")
    judge = FaceJudge()
    rows = []
    for i, item in enumerate(manifest.of("face")):
        canvas = face_canvas(material / item.file)
        fer, neutral = fer_answer(judge, canvas)
        silent = write_clip(workdir / "face.mp4", drifting(canvas, frames, FPS), FPS, None, rate)
        face = recognizer_answer(recognizer, silent)
        voiced = write_clip(workdir / "face_voice.mp4", drifting(canvas, frames, FPS), FPS, tracks[i % len(tracks)],
                            rate)
        rows.append({**asdict(item), "fer_says_neutral": neutral,
                     "answers": {"fer": fer, "face": face, "face+voice": recognizer_answer(recognizer, voiced)}})
    black = np.zeros((CANVAS[1], CANVAS[0], 3), np.uint8)
    for item in voices:
        speech = recordings[item.file][:round(recognizer.utterance_s * rate)]
        count = max(1, round(speech.size / rate * FPS))
        clip = write_clip(workdir / "voice.mp4", (black for _ in range(count)), FPS, speech, rate)
        rows.append({**asdict(item), "answers": {"voice": recognizer_answer(recognizer, clip)}})
    return rows


# -- figures -----------------------------------------------------------------------------------------
def summarize(rows: list[dict[str, Any]], mode: str, classes: Sequence[str]) -> dict[str, Any]:
    """Counts, accuracy (labelled rows; unanswered = wrong), mean confidence, gap and answer shares of ``mode``."""
    answers = [row["answers"][mode] for row in rows]
    given = [a for a in answers if a is not None]
    labelled = [(row["label"], a) for row, a in zip(rows, answers, strict=True) if row["label"] in EMOTIONS]
    counts = Counter(a.emotion for a in given)
    top, top_n = counts.most_common(1)[0] if counts else ("-", 0)
    summary: dict[str, Any] = {
        "items": len(rows), "answered": len(given), "early": sum(a.early for a in given),
        "from": dict(Counter("+".join(a.modalities) for a in given)),
        "mean_confidence": float(np.mean([a.confidence for a in given])) if given else None,
        "answers": {name: counts.get(name, 0) for name in classes}, "largest_class": top,
        "largest_share": top_n / len(given) if given else None}
    if labelled:
        right = [a is not None and a.emotion == label for label, a in labelled]
        summary["accuracy"] = float(np.mean(right))
        if summary["mean_confidence"] is not None:
            summary["gap"] = summary["mean_confidence"] - summary["accuracy"]
        summary["per_class"] = {name: [int(sum(r for (label, _), r in zip(labelled, right, strict=True)
                                                if label == name)),
                                       sum(label == name for label, _ in labelled)] for name in classes}
    return summary


def report(rows: list[dict[str, Any]], manifest: Manifest, recognizer: OnlineRecognizer) -> dict[str, Any]:
    """Every figure, for ``--json`` and for the tables."""
    classes = list(recognizer.class_names)
    faces = [row for row in rows if row["kind"] == "face" and row["label"] in EMOTIONS]
    calm = [row for row in rows if row["kind"] == "face" and row["label"] == NEUTRAL]
    voices = [row for row in rows if row["kind"] == "voice"]
    sources = sorted({row["source"] for row in faces})
    return {
        "policy": recognizer.policy_name, "classes": classes, "clip": {"seconds": SECONDS, "fps": FPS,
                                                                       "canvas": list(CANVAS)},
        "material": {"faces": len(faces), "people": len({row["person"] for row in faces}),
                     "labels": dict(Counter(row["label"] for row in faces)), "neutral_faces": len(calm),
                     "voices": len(voices), "speakers": len({row["person"] for row in voices}),
                     "sources": {name: manifest.sources[name]["repository"] for name in manifest.sources}},
        "faces": {mode: summarize(faces, mode, classes) for mode in ("fer", "face", "face+voice")},
        "by_source": {name: {mode: summarize([r for r in faces if r["source"] == name], mode, classes)
                             for mode in ("fer", "face", "face+voice")} for name in sources},
        "neutral_faces": {**{mode: summarize(calm, mode, classes) for mode in ("fer", "face", "face+voice")},
                          "fer_says_neutral": sum(row["fer_says_neutral"] for row in calm)},
        "voices": {"voice": summarize(voices, "voice", classes)},
        "items": [{**row, "answers": {mode: None if a is None else asdict(a) for mode, a in row["answers"].items()}}
                  for row in rows]}


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}"


def markdown(figures: dict[str, Any]) -> str:
    """The tables."""
    classes, material = figures["classes"], figures["material"]
    labels = ", ".join(f"{name} {material['labels'].get(name, 0)}" for name in classes)
    head = ("| | answered | early | accuracy % | mean confidence % | gap (points) | largest answer share |\n"
            "|---|---|---|---|---|---|---|")

    def line(name: str, s: dict[str, Any]) -> str:
        gap = "-" if s.get("gap") is None else f"{100 * s['gap']:+.1f}"
        return (f"| {name} | {s['answered']}/{s['items']} | {s['early']} | {_pct(s.get('accuracy'))} "
                f"| {_pct(s['mean_confidence'])} | {gap} | {s['largest_class']} {_pct(s['largest_share'])} % |")

    faces = figures["faces"]
    majority = max(material["labels"].values()) / material["faces"]
    out = [f"## Real faces with a posed emotion ({material['faces']} photos, {material['people']} people: {labels})",
           "", f"Policy: {figures['policy']}. Chance 16.7 %; always naming the commonest label {100 * majority:.1f} %.",
           "", head, *(line(MODES[mode], faces[mode]) for mode in faces), "",
           f"Face + voice: {faces['face+voice']['from'].get('audio', 0)} answers came from the voice alone "
           "(no face found in any frame).", "",
           "Right / photos per class:", "", "| class | " + " | ".join(MODES[m] for m in faces) + " |",
           "|---|" + "---|" * len(faces)]
    for name in classes:
        cells = [f"{faces[m]['per_class'][name][0]}/{faces[m]['per_class'][name][1]}" for m in faces]
        out.append(f"| {name} | " + " | ".join(cells) + " |")
    out += ["", "Answers per class:", "", "| | " + " | ".join(classes) + " | none |",
            "|---|" + "---|" * (len(classes) + 1)]
    for mode, s in faces.items():
        out.append(f"| {MODES[mode]} | " + " | ".join(str(s["answers"][c]) for c in classes)
                   + f" | {s['items'] - s['answered']} |")
    out += ["", "Accuracy % by source:", "", "| source | photos | " + " | ".join(MODES[m] for m in faces) + " |",
            "|---|---|" + "---|" * len(faces)]
    for name, modes in figures["by_source"].items():
        out.append(f"| {material['sources'][name]} | {modes['fer']['items']} | "
                   + " | ".join(_pct(modes[m]["accuracy"]) for m in faces) + " |")
    calm = figures["neutral_faces"]
    out += ["", f"## Neutral faces ({material['neutral_faces']} photos; none of the six classes is right)", "",
            f"The FER2013 network's seven-way answer is neutral for {calm['fer_says_neutral']} of them.", "", head,
            *(line(MODES[mode], calm[mode]) for mode in ("fer", "face", "face+voice")),
            "", f"## Real voices alone ({material['voices']} recordings, {material['speakers']} speakers, no emotion "
                "label: neutral speech)", "", head, line(MODES["voice"], figures["voices"]["voice"]), "",
            "Answers per class: " + ", ".join(f"{c} {n}" for c, n in figures["voices"]["voice"]["answers"].items())]
    return "\n".join(out)


def _clones(pairs: Sequence[str]) -> dict[str, Path]:
    clones = {}
    for pair in pairs:
        name, sep, folder = pair.partition("=")
        if not sep or not name or not folder:
            raise ManifestError(f"--gather: expected SOURCE=CLONE, got {pair!r}")
        clones[name] = Path(folder)
    return clones


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--material", type=Path, required=True, help="folder of the material's files")
    parser.add_argument("--manifest", type=Path, default=MANIFEST,
                        help="the material's manifest (default: %(default)s)")
    parser.add_argument("--gather", nargs="+", metavar="SOURCE=CLONE",
                        help="copy the files of these sources from local git clones of their repositories, "
                             "then exit")
    parser.add_argument("--json", action="store_true", help="print every figure and answer as JSON")
    args = parser.parse_args(argv)
    try:
        manifest = load_manifest(args.manifest)
        if args.gather:
            written = gather(manifest, args.material, _clones(args.gather))
            print(f"{len(written)} files written under {args.material}")
            return 0
        check_material(manifest, args.material)
        torch.set_num_threads(1)
        cv2.setNumThreads(1)
        recognizer = OnlineRecognizer.from_default()
        unknown = set(recognizer.class_names) - set(EMOTIONS)
        if unknown:
            raise ManifestError(f"the recognizer's classes {sorted(unknown)} are not among {EMOTIONS}")
        with tempfile.TemporaryDirectory() as tmp:
            rows = measure(manifest, args.material, recognizer, Path(tmp))
    except (ManifestError, MediaError, FileNotFoundError) as exc:
        print(f"bench_real_material: error: {exc}", file=sys.stderr)
        return 2
    figures = report(rows, manifest, recognizer)
    print(json.dumps(figures, indent=1) if args.json else markdown(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
