"""Corpus adapters on fixture trees named as each published corpus is: discovery, skip reports,
errors, ingest and folds end to end, AffectNet faces, and pretraining on an RML tree.

The fixture media are generated synthetic clips (real video + audio with a detectable face),
re-encoded into each corpus's containers (AVI: MPEG-4 + MP3, FLV: Sorenson + MP3, WAV).
"""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import av
import cv2
import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import torch

from emo_env.config import load_config
from emo_env.data.clips import DatasetError
from emo_env.data.corpora import ADAPTERS, get_adapter
from emo_env.data.corpora.affectnet import EXPRESSIONS, discover_images, load_face
from emo_env.data.faces import crop_face
from emo_env.data.prepare import ingest_from_config
from emo_env.data.store import load_store
from emo_env.data.synthetic import generate_corpus
from pretrained_encoders import load_encoders

REPO = Path(__file__).resolve().parents[1]
SIX = ["happy", "surprise", "sad", "fear", "anger", "disgust"]
CODES = {"anger": "an", "disgust": "di", "fear": "fe", "happy": "ha", "sad": "sa", "surprise": "su"}
SAMPLE_RATE = 16000


@pytest.fixture(scope="module")
def source(tmp_path_factory) -> dict[tuple[str, str], Path]:
    """Synthetic clips, 0.6 s each (6 steps at 10 steps/s): (speaker s1/s2, class) -> mp4."""
    out = generate_corpus(tmp_path_factory.mktemp("source"), seed=0, speakers=2, clips_per_emotion=1,
                          min_duration_s=0.6, max_duration_s=0.6, neutral=True, width=160, height=120, workers=1)
    with open(out / "clips.csv", newline="") as f:
        return {(row["speaker"], row["label"]): out / row["path"] for row in csv.DictReader(f)}


def _decode(path: Path) -> tuple[list[np.ndarray], np.ndarray, float]:
    with av.open(str(path)) as container:
        fps = container.streams.video[0].average_rate
        frames = [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]
    with av.open(str(path)) as container:
        resampler = av.AudioResampler(format="s16", layout="mono", rate=SAMPLE_RATE)
        chunks = [out.to_ndarray()[0] for frame in container.decode(audio=0) for out in resampler.resample(frame)]
    return frames, np.concatenate(chunks), fps


def write_media(dst: Path, *sources: Path, audio: bool = True) -> Path:
    """Re-encode ``sources`` one after the other into ``dst`` (container from its suffix)."""
    vcodec, acodec, rate = {".avi": ("mpeg4", "mp3", 16000), ".flv": ("flv", "mp3", 22050),
                            ".mp4": ("mpeg4", "aac", 16000)}[dst.suffix]
    decoded = [_decode(src) for src in sources]
    frames = [image for images, _, _ in decoded for image in images]
    dst.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(dst), "w") as container:
        video = container.add_stream(vcodec, rate=decoded[0][2])
        video.height, video.width = frames[0].shape[:2]
        video.pix_fmt = "yuv420p"
        if audio:
            sound = container.add_stream(acodec, rate=rate)
            sound.layout = "mono"
            samples = np.concatenate([pcm for _, pcm, _ in decoded])[None]
            frame = av.AudioFrame.from_ndarray(samples, format="s16", layout="mono")
            frame.sample_rate = SAMPLE_RATE
            resampler = av.AudioResampler(format=sound.format.name, layout="mono", rate=rate)
            for chunk in resampler.resample(frame) + resampler.resample(None):
                container.mux(sound.encode(chunk))
            container.mux(sound.encode())
        for image in frames:
            container.mux(video.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        container.mux(video.encode())
    return dst


def write_wav(dst: Path, *sources: Path) -> Path:
    dst.parent.mkdir(parents=True, exist_ok=True)
    sf.write(dst, np.concatenate([_decode(src)[1] for src in sources]), SAMPLE_RATE)
    return dst


def copy(src: Path, dst: Path) -> Path:
    dst.parent.mkdir(parents=True, exist_ok=True)
    return Path(shutil.copyfile(src, dst))


@dataclass
class Tree:
    """A fixture corpus and what its adapter must find in it."""

    root: Path
    clips: dict[str, tuple[str, str, str | None]]  # clip id -> (label, speaker, group)
    skipped: dict[str, str]  # skipped file (relative to root, ``:line`` for rows) -> words of the reason
    folds: set[str]
    broken: dict[str, str] = field(default_factory=dict)  # clip id -> words of ingest's reason


def rml_tree(root: Path, source) -> Tree:
    """s1 with a language subfolder, s2 without; s2 lacks su1.avi; one bad code, one empty, one corrupt file."""
    clips = {}
    for speaker, inner in (("s1", "english"), ("s2", "")):
        for label in SIX:
            if (speaker, label) != ("s2", "surprise"):
                write_media(root / speaker / inner / f"{CODES[label]}1.avi", source[(speaker, label)])
                clips["_".join(filter(None, (speaker, inner, f"{CODES[label]}1")))] = (label, speaker, None)
    copy(root / "s1/english/ha1.avi", root / "s1/english/xx1.avi")
    (root / "s2/fe2.avi").touch()
    (root / "s2/di9.avi").write_bytes(b"not a video" * 100)
    clips["s2_di9"] = ("disgust", "s2", None)
    return Tree(root, clips, {"s1/english/xx1.avi": "emotion code", "s2/fe2.avi": "empty file"}, {"s1", "s2"},
                broken={"s2_di9": "cannot decode"})


def enterface_tree(root: Path, source) -> Tree:
    """subject 2 lacks surprise, has a happiness clip without a sentence folder and a misplaced file;
    a misspelt subject folder."""
    clips = {}
    folders = {"anger": "anger", "disgust": "disgust", "fear": "fear", "happy": "happiness", "sad": "sadness",
               "surprise": "surprise"}
    for n in (1, 2):
        for label, folder in folders.items():
            if (n, label) == (2, "surprise"):
                continue
            name = f"s{n}_{CODES[label]}_1"
            if (n, label) == (2, "happy"):
                write_media(root / f"subject {n}" / folder / f"{name}.avi", source[(f"s{n}", label)])
                clips[f"s{n}_{folder}_{name}"] = (label, f"s{n}", None)
            else:
                write_media(root / f"subject {n}" / folder / "sentence 1" / f"{name}.avi", source[(f"s{n}", label)])
                clips[f"s{n}_{folder}_sentence_1_{name}"] = (label, f"s{n}", None)
    copy(root / "subject 1/fear/sentence 1/s1_fe_1.avi", root / "subject 2/anger/sentence 2/s2_fe_2.avi")
    copy(root / "subject 1/fear/sentence 1/s1_fe_1.avi", root / "subjct 3/fear/sentence 1/s3_fe_1.avi")
    return Tree(root, clips, {"subject 2/anger/sentence 2/s2_fe_2.avi": "codes 'fe'",
                              "subjct 3/fear/sentence 1/s3_fe_1.avi": "subject folder"}, {"s1", "s2"})


RAVDESS_SOURCE = {1: "neutral", 2: "neutral", 3: "happy", 4: "sad", 5: "anger", 6: "fear", 7: "disgust", 8: "surprise"}


def ravdess_tree(root: Path, source) -> Tree:
    """Actor_02 lacks calm; a video-only file, a file in the wrong actor folder, a malformed name."""
    clips = {}
    for actor in (1, 2):
        for emotion, label in RAVDESS_SOURCE.items():
            if (actor, emotion) != (2, 2):
                name = f"01-01-{emotion:02d}-01-01-01-{actor:02d}"
                copy(source[(f"s{actor}", label)], root / f"Actor_{actor:02d}" / f"{name}.mp4")
                clips[name] = (label, f"Actor_{actor:02d}", None)
    write_media(root / "Actor_02/02-01-03-01-01-01-02.mp4", source[("s2", "happy")], audio=False)
    copy(source[("s1", "happy")], root / "Actor_02/01-01-03-01-02-01-01.mp4")
    copy(source[("s1", "happy")], root / "Actor_01/01-01-03-01-02-01.mp4")
    return Tree(root, clips, {"Actor_02/02-01-03-01-01-01-02.mp4": "video-only",
                              "Actor_02/01-01-03-01-02-01-01.mp4": "folder 'Actor_02'",
                              "Actor_01/01-01-03-01-02-01.mp4": "seven two-digit codes"}, {"Actor_01", "Actor_02"})


CREMAD_CODES = {"anger": "ANG", "disgust": "DIS", "fear": "FEA", "happy": "HAP", "neutral": "NEU", "sad": "SAD"}


def cremad_tree(root: Path, source) -> Tree:
    """Two actors x 6 emotions of FLV + WAV pairs; a video without its WAV, a WAV without its video,
    a malformed name."""
    clips = {}
    for actor, speaker in (("1001", "s1"), ("1002", "s2")):
        for label, code in CREMAD_CODES.items():
            name = f"{actor}_DFA_{code}_XX"
            write_media(root / "VideoFlash" / f"{name}.flv", source[(speaker, label)])
            write_wav(root / "AudioWAV" / f"{name}.wav", source[(speaker, label)])
            clips[name] = (label, actor, None)
    copy(root / "VideoFlash/1002_DFA_HAP_XX.flv", root / "VideoFlash/1002_IEO_HAP_HI.flv")
    copy(root / "AudioWAV/1002_DFA_SAD_XX.wav", root / "AudioWAV/1002_TIE_SAD_LO.wav")
    copy(root / "VideoFlash/1001_DFA_ANG_XX.flv", root / "VideoFlash/1001_DFA_ANGRY_XX.flv")
    return Tree(root, clips, {"VideoFlash/1002_IEO_HAP_HI.flv": "no WAV", "AudioWAV/1002_TIE_SAD_LO.wav": "no video",
                              "VideoFlash/1001_DFA_ANGRY_XX.flv": "ActorID_Sentence_EMO_Level"}, {"1001", "1002"})


HEADER = "% [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]\n\n"


def _utterance(start: float, end: float, name: str, label: str) -> str:
    return f"[{start:.4f} - {end:.4f}]\t{name}\t{label}\t[2.5000, 3.0000, 2.5000]\nC-E2:\tNeutral;\t()\n\n"


def iemocap_tree(root: Path, source) -> Tree:
    """Two sessions, three dialog videos of two 0.6 s turns each (Session1 with dialog WAVs, Session2
    without); a dropped label, an empty segment, a malformed line, a dialog whose video is missing,
    a video without an evaluation file, and a macOS ``._`` file."""
    dialogs = {
        "Session1/Ses01F_impro01": [("s1", "happy", "hap", "F000"), ("s2", "sad", "sad", "M000")],
        "Session1/Ses01F_script02_1": [("s1", "anger", "ang", "F000"), ("s2", "happy", "exc", "M000")],
        "Session2/Ses02M_impro03": [("s2", "neutral", "neu", "M000"), ("s1", "anger", "ang", "F000")],
    }
    clips = {}
    for key, turns in dialogs.items():
        session, dialog = key.split("/")
        sources = [source[(speaker, label)] for speaker, label, _, _ in turns]
        write_media(root / session / "dialog/avi/DivX" / f"{dialog}.avi", *sources)
        if session == "Session1":
            write_wav(root / session / "dialog/wav" / f"{dialog}.wav", *sources)
        lines = HEADER
        for i, (_, label, code, turn) in enumerate(turns):
            lines += _utterance(0.6 * i + 0.05, 0.6 * i + 0.55, f"{dialog}_{turn}", code)
            clips[f"{dialog}_{turn}"] = (label, dialog[:5] + turn[0], dialog[:5])
        (root / session / "dialog/EmoEvaluation").mkdir(parents=True, exist_ok=True)
        (root / session / "dialog/EmoEvaluation" / f"{dialog}.txt").write_text(lines)
    evaluation = root / "Session1/dialog/EmoEvaluation/Ses01F_impro01.txt"
    evaluation.write_text(evaluation.read_text() + _utterance(0.2, 0.4, "Ses01F_impro01_F001", "fru")
                          + _utterance(0.9, 0.5, "Ses01F_impro01_M001", "neu")
                          + "[1.0 - x]\tSes01F_impro01_F002\tneu\t[]\n")
    (root / "Session2/dialog/EmoEvaluation/Ses02F_impro01.txt").write_text(
        HEADER + _utterance(0.1, 0.5, "Ses02F_impro01_F000", "sad"))
    copy(root / "Session2/dialog/avi/DivX/Ses02M_impro03.avi", root / "Session2/dialog/avi/DivX/Ses02M_impro05.avi")
    (root / "Session2/dialog/avi/DivX/._Ses02M_impro03.avi").write_bytes(b"\0" * 4096)
    base = "Session1/dialog/EmoEvaluation/Ses01F_impro01.txt"
    return Tree(root, clips, {f"{base}:9": "dropped", f"{base}:12": "empty or negative segment",
                              f"{base}:15": "malformed time range",
                              "Session2/dialog/EmoEvaluation/Ses02F_impro01.txt:3": "Ses02F_impro01.avi not found",
                              "Session2/dialog/avi/DivX/Ses02M_impro05.avi": "no EmoEvaluation"}, {"Ses01", "Ses02"})


BAUM_LABELS = {"happy": "Happiness", "sad": "Sadness", "anger": "Anger", "disgust": "Disgust", "fear": "Fear",
               "surprise": "Surprise"}


def baum1s_tree(root: Path, source) -> Tree:
    """Subjects S001 and S002 with the six emotions, S003 with one clip and a dropped state; an
    annotated clip without a video, a video without an annotation row, a clip with no subject."""
    clips, rows = {}, []
    for subject, speaker in (("S001", "s1"), ("S002", "s2")):
        for i, (label, name) in enumerate(BAUM_LABELS.items(), start=1):
            clip = f"{subject}_{i:03d}"
            copy(source[(speaker, label)], root / "Clips" / subject / f"{clip}.mp4")
            rows.append((clip + ".mp4", name))
            clips[clip] = (label, subject, {"S001": "g1", "S002": "g2"}[subject])
    copy(source[("s1", "anger")], root / "Clips/S003/S003_001.mp4")
    copy(source[("s1", "neutral")], root / "Clips/S003/S003_002.mp4")
    copy(source[("s1", "sad")], root / "Clips/S001/S001_099.mp4")
    copy(source[("s2", "fear")], root / "Clips/extra_01.mp4")
    rows += [("S003_001.mp4", "Anger"), ("S003_002.mp4", "Boredom"), ("S002_009.mp4", "Fear"),
             ("extra_01.mp4", "Fear")]
    clips["S003_001"] = ("anger", "S003", "g3")
    pd.DataFrame(rows, columns=["Clip Name", "Emotion"]).to_csv(root / "Annotations.csv", index=False)
    return Tree(root, clips, {"Annotations.csv:15": "dropped", "Annotations.csv:16": "no video file",
                              "Clips/extra_01.mp4": "cannot tell the subject",
                              "Clips/S001/S001_099.mp4": "not in the annotation"}, {"g1", "g2", "g3"})


TREES = {"rml": rml_tree, "enterface": enterface_tree, "ravdess": ravdess_tree, "cremad": cremad_tree,
         "iemocap": iemocap_tree, "baum1s": baum1s_tree}


@pytest.fixture(scope="module")
def trees(tmp_path_factory, source):
    """Build a corpus's fixture tree on first use."""
    built: dict[str, Tree] = {}

    def get(corpus: str) -> Tree:
        if corpus not in built:
            built[corpus] = TREES[corpus](tmp_path_factory.mktemp(corpus), source)
        return built[corpus]
    return get


def _config(corpus: str, root: Path, work: Path) -> dict:
    return load_config(corpus, [f"data.root={root}", f"workdir={work}", "data.workers=1"])


def _relative(path: str, root: Path) -> str:
    return str(Path(path).relative_to(root))


def test_every_clip_corpus_is_registered():
    assert set(TREES) <= set(ADAPTERS)


@pytest.mark.parametrize("corpus", sorted(TREES))
def test_discovery_and_ingest_end_to_end(corpus, trees, tmp_path):
    tree = trees(corpus)
    config = _config(corpus, tree.root, tmp_path)
    data = config["data"]
    discovery = get_adapter(data["dataset"])(tree.root, data["classes"], data["label_map"])

    assert {c.clip_id: (c.label, c.speaker, c.group) for c in discovery.clips} == tree.clips
    assert all(c.video.is_file() and (c.audio is None or c.audio.is_file()) for c in discovery.clips)
    skipped = {_relative(s.path, tree.root): s.reason for s in discovery.skipped}
    assert set(skipped) == set(tree.skipped), skipped
    for path, words in tree.skipped.items():
        assert words in skipped[path], (path, skipped[path])

    result = ingest_from_config(config, progress=False)
    ingested = set(tree.clips) - set(tree.broken)
    assert set(result.index["clip_id"]) == ingested
    assert (result.index["steps"] >= 4).all() and (result.index["steps"] <= 6).all()
    for row in result.index.itertuples():
        assert (row.label, row.speaker) == tree.clips[row.clip_id][:2]
        with np.load(tmp_path / "ingest" / row.file) as arrays:
            assert arrays["faces"].shape == (row.steps, 64, 64, 3) and arrays["face_found"].mean() > 0.5
    report = pd.read_csv(tmp_path / "ingest" / "ingest_report.csv")
    reported = {_relative(path, tree.root): reason
                for path, reason in zip(report["path"], report["reason"], strict=True)}
    broken = {_relative(str(c.video), tree.root): tree.broken[c.clip_id] for c in discovery.clips
              if c.clip_id in tree.broken}
    assert set(reported) == set(skipped) | set(broken)
    for path, words in broken.items():
        assert words in reported[path], (path, reported[path])

    folds = {p.parent.name for p in (tmp_path / "ingest").glob("*/evaluation_data.csv")}
    assert folds == tree.folds
    for fold in folds:
        held_out = pd.read_csv(tmp_path / "ingest" / fold / "evaluation_data.csv", dtype=str)
        training = pd.read_csv(tmp_path / "ingest" / fold / "training_data.csv", dtype=str)
        column = "speaker" if data["folds"] == "loso" else "group"
        assert set(held_out[column]) == {fold} and fold not in set(training[column])
        assert len(held_out) + len(training) == len(ingested)


def _touch(path: Path, data: bytes = b"media") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def _rml_names(root: Path) -> Path:
    for speaker in ("s1", "s2"):
        for code in CODES.values():
            _touch(root / speaker / f"{code}1.avi")
    return root


def _same_id_twice(root: Path) -> Path:
    _touch(root / "subject 1/anger/s1_an_1.avi")
    _touch(root / "subject_1/anger/s1_an_1.avi")
    return root


def _unknown_iemocap_label(root: Path) -> Path:
    text = HEADER + _utterance(0.1, 0.5, "Ses01F_impro01_F000", "joy")
    _touch(root / "Session1/dialog/EmoEvaluation/Ses01F_impro01.txt", text.encode())
    return root


def _two_annotation_tables(root: Path) -> Path:
    _touch(root / "a/Annotations.csv")
    _touch(root / "b/annotations.xlsx")
    return root


@pytest.mark.parametrize("make, corpus, classes, label_map, message", [
    (lambda root: root / "missing", "rml", SIX, {}, "does not exist"),
    (lambda root: root, "rml", SIX, {}, "no usable clip .* no matching file found"),
    (lambda root: _touch(root / "notes.avi").parent, "cremad", SIX, {},
     "notes.avi: name is not ActorID_Sentence_EMO_Level"),
    (lambda root: _touch(root / "Actor_01/01-01-05-01-01-01-01.mp4").parents[1], "rml", SIX, {},
     "no usable clip .*Actor_01/01-01-05-01-01-01-01.mp4: not inside a speaker folder"),
    (_rml_names, "rml", SIX, {"an": "angry"}, "maps 'an' to 'angry', which is not one of data.classes"),
    (_rml_names, "rml", SIX, {"anger": "anger"}, "label_map key 'anger' is not a RML label"),
    (_rml_names, "rml", [*SIX, "neutral"], {}, "no clip .* has class 'neutral'"),
    (_same_id_twice, "enterface", ["anger"], {}, "both give clip id 's1_anger_s1_an_1'"),
    (_unknown_iemocap_label, "iemocap", SIX, {}, "Ses01F_impro01.txt:3: unknown IEMOCAP label 'joy'"),
    (lambda root: _touch(root / "annotations.csv", b"S001_001.mp4,Happiness\n").parent, "baum1s", SIX, {},
     "the header needs a clip column"),
    (_two_annotation_tables, "baum1s", SIX, {},
     "expected one annotation table .* found .*Annotations.csv, .*annotations.xlsx"),
])
def test_bad_corpus_gives_a_clear_error(tmp_path, make, corpus, classes, label_map, message):
    root = make(tmp_path)
    with pytest.raises(DatasetError, match=message):
        get_adapter(corpus)(root, classes, label_map)


def test_extra_corpus_classes_are_skipped_with_the_reason(tmp_path):
    for actor in (1, 2):
        for emotion in range(1, 9):
            _touch(tmp_path / f"Actor_{actor:02d}" / f"01-01-{emotion:02d}-01-01-01-{actor:02d}.mp4")
    found = get_adapter("ravdess")(tmp_path, SIX, {"calm": None})
    assert len(found.clips) == 12 and {c.speaker for c in found.clips} == {"Actor_01", "Actor_02"}
    reasons = sorted((Path(s.path).name, s.reason) for s in found.skipped)
    extra = "label 'neutral' (neutral) is not one of data.classes; map it to a class or drop it with data.label_map"
    assert reasons == [
        ("01-01-01-01-01-01-01.mp4", extra),
        ("01-01-01-01-01-01-02.mp4", extra),
        ("01-01-02-01-01-01-01.mp4", "label 'calm' is dropped by data.label_map"),
        ("01-01-02-01-01-01-02.mp4", "label 'calm' is dropped by data.label_map"),
    ]
    with pytest.raises(DatasetError, match="RAVDESS option channels=.*expected one or more of speech, song"):
        ADAPTERS["ravdess"](tmp_path, SIX, {}, channels=("sung",))
    songs = ADAPTERS["ravdess"](tmp_path, [*SIX, "neutral"], {}, modalities=("audio-video", "video-only"),
                                channels=("speech", "song"))
    assert len(songs.clips) == 16


@pytest.fixture(scope="module")
def affectnet(tmp_path_factory, source) -> Path:
    """AffectNet layout: first frames of synthetic clips as JPEGs with their true face boxes."""
    root = tmp_path_factory.mktemp("affectnet")
    boxes = pd.read_csv(next(iter(source.values())).parents[1] / "face_boxes.csv").query("frame == 0")
    boxes = boxes.set_index("clip_id")
    images = root / "Manually_Annotated" / "Manually_Annotated_Images"
    rows = []
    for code, name in enumerate(EXPRESSIONS[:8]):
        label = {"contempt": "happy"}.get(name, name)
        speaker = "s2" if name == "contempt" else "s1"
        clip = source[(speaker, label)]
        frame = _decode(clip)[0][0]
        relative = f"{code + 100}/{clip.stem}.jpg"
        (images / relative).parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(images / relative), cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
        x, y, w, h = boxes.loc[clip.stem, ["x", "y", "w", "h"]]
        rows.append([relative, int(x), int(y), int(w), int(h), "1.0;2.0", code, 0.1, -0.2])
    rows += [["100/gone.jpg", 1, 1, 50, 50, "", 1, 0.0, 0.0], [rows[1][0], 1, 1, 0, 50, "", 1, 0.0, 0.0],
             [rows[2][0], 1, 1, 50, 50, "", 10, -2, -2]]
    lists = root / "Manually_Annotated_file_lists"
    lists.mkdir()
    columns = ["subDirectory_filePath", "face_x", "face_y", "face_width", "face_height", "facial_landmarks",
               "expression", "valence", "arousal"]
    pd.DataFrame(rows, columns=columns).to_csv(lists / "training.csv", index=False)
    pd.DataFrame(rows[:1], columns=columns).to_csv(lists / "validation.csv", index=False)
    return root


def test_affectnet_faces_for_visual_pretraining(affectnet):
    data = load_config("affectnet")["data"]
    classes = data["classes"]
    found = discover_images(affectnet, classes, data["label_map"])
    assert [image.label for image in found.images] == list(EXPRESSIONS[:7])
    reasons = {Path(s.path).name: s.reason for s in found.skipped}
    expected = {"training.csv:9": "'contempt' is dropped by default", "training.csv:10": "gone.jpg not found",
                "training.csv:11": "not a box with a positive size", "training.csv:12": "'non-face' is dropped"}
    assert set(reasons) == set(expected) and all(expected[k] in reasons[k] for k in expected), reasons
    image = found.images[1]
    face = load_face(image, 64)
    pixels = cv2.cvtColor(cv2.imread(str(image.path)), cv2.COLOR_BGR2RGB)
    assert face.shape == (64, 64, 3) and face.dtype == np.uint8
    np.testing.assert_array_equal(face, crop_face(pixels, np.asarray(image.box, np.float32), 64))
    assert np.abs(face.astype(float) - load_face(found.images[0], 64)).mean() > 1  # a different face

    mapped = discover_images(affectnet, classes, {"contempt": "disgust"})
    assert [image.label for image in mapped.images].count("disgust") == 2
    assert len(discover_images(affectnet, classes, {}, split="validation").images) == 1


def test_affectnet_bad_labels_are_errors(affectnet, tmp_path):
    table = pd.read_csv(affectnet / "Manually_Annotated_file_lists/training.csv")
    table.loc[3, "expression"] = 12
    table.to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(DatasetError, match=r"bad.csv:5: unknown AffectNet expression '12'"):
        discover_images(affectnet, SIX, {}, labels_csv=tmp_path / "bad.csv")
    table.drop(columns="face_x").to_csv(tmp_path / "cols.csv", index=False)
    with pytest.raises(DatasetError, match="lacks the columns face_x"):
        discover_images(affectnet, SIX, {}, labels_csv=tmp_path / "cols.csv")
    with pytest.raises(DatasetError, match="expected one test.csv"):
        discover_images(affectnet, SIX, {}, split="test")


def _pretrain_encoder(config: str, root: Path, workdir: Path, *extra: str) -> None:
    command = [sys.executable, str(REPO / "pretrain_encoder.py"), "--config", config,
               "--no-progress", "--set", f"data.root={root}", "--set", f"workdir={workdir}", "--set", "data.workers=1",
               "--set", "encoder.num_epochs=1", "--set", "encoder.embed_dim=8", *extra]
    done = subprocess.run(command, cwd=workdir, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr


@pytest.mark.slow
def test_pretrain_encoder_on_affectnet_then_fine_tune_on_an_rml_tree(affectnet, trees, tmp_path):
    """The paper's recipe: the visual encoder pretrained on AffectNet, then the cascade on RML from it."""
    _pretrain_encoder("affectnet", affectnet, tmp_path, "--set", "encoder.batch_size=4")
    weights = tmp_path / "encoders" / "affectnet_visual" / "visual_weights.pt"
    report = json.loads((weights.parent / "report.json").read_text())
    assert report["images"] == {"training": 7, "validation": 1} and len(report["skipped"]["training"]) == 4
    assert report["history"] and 0.0 <= report["validation_accuracy"] <= 1.0
    pretrained = torch.load(weights, weights_only=True)["state"]
    assert pretrained["cnn.head.weight"].shape == (7, 8)  # AffectNet's 7 classes

    tree = trees("rml")
    _pretrain_encoder("rml", tree.root, tmp_path, "--speaker", "s2", "--set", "encoder.fusion_epochs=1",
                      "--set", "encoder.temporal_epochs=1", "--set", "encoder.audio_temporal_epochs=1",
                      "--set", "encoder.oof_folds=0",
                      "--set", "encoder.hidden_dim=8", "--set", "encoder.visual_arch=compact",
                      "--set", f"encoder.visual_weights={weights}")
    store = load_store(tmp_path / "stores" / "rml_s2_fusion.emostore")
    assert store.class_names == SIX
    assert sorted(store.clip_ids) == sorted(set(tree.clips) - set(tree.broken))
    held_out = [speaker for speaker, split in zip(store.speakers, store.split, strict=True) if split == 1]
    assert set(held_out) == {"s2"} and len(held_out) == 5
    report = pd.read_csv(tmp_path / "ingest" / "ingest_report.csv")
    assert {Path(path).name for path in report["path"]} == {"xx1.avi", "fe2.avi", "di9.avi"}
    # Fine-tuned from the AffectNet weights: one short epoch moves the first convolution only a little.
    visual = load_encoders(tmp_path / "encoders" / "rml_s2_fusion" / "encoders.pt").visual.state_dict()
    first = "cnn.features.0.weight"
    assert (visual[first] - pretrained[first]).abs().max() < 0.05 < pretrained[first].abs().max()
    assert visual["cnn.head.weight"].shape == (6, 8)  # a fresh head for RML's 6 classes
