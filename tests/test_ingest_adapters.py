"""The adapter registry and the CSV adapters (generic and synthetic): clips found, bad tables refused."""

import pytest

from emo_env.data.clips import DatasetError
from emo_env.data.corpora import ADAPTERS, get_adapter

CLASSES = ["happy", "sad"]


def _table(folder, text, name="clips.csv"):
    for video in ("s1/a.mp4", "s1/b.mp4", "s2/c.mp4", "s2/c.wav"):
        (folder / video).parent.mkdir(parents=True, exist_ok=True)
        (folder / video).write_bytes(b"x")
    (folder / name).write_text(text)
    return folder / name


def test_registry():
    assert {"synthetic", "csv"} <= set(ADAPTERS)
    with pytest.raises(DatasetError, match=r"unknown dataset 'nope' \(known: .*csv.*synthetic"):
        get_adapter("nope")


def test_csv_adapter_reads_rows_maps_labels_and_skips_missing_files(tmp_path):
    table = _table(tmp_path, "path,label,speaker,audio_path,group\n"
                             "s1/a.mp4,happy,s1,,g1\n"
                             "s1/b.mp4,Joy,s1,,g1\n"
                             "s2/c.mp4,sad,s2,s2/c.wav,g2\n"
                             "s2/gone.mp4,sad,s2,,g2\n")
    found = get_adapter("csv")(table, CLASSES, {"joy": "happy"})
    assert [(c.clip_id, c.label, c.speaker, c.group) for c in found.clips] == [
        ("s1_a", "happy", "s1", "g1"), ("s1_b", "happy", "s1", "g1"), ("s2_c", "sad", "s2", "g2")]
    assert found.clips[2].audio == tmp_path / "s2/c.wav" and found.clips[0].audio is None
    assert [(s.path, s.reason) for s in found.skipped] == [(str(tmp_path / "s2/gone.mp4"), "file not found")]
    assert [c.clip_id for c in get_adapter("csv")(tmp_path, CLASSES, {"joy": "happy"}).clips][:1] == ["s1_a"]


@pytest.mark.parametrize("text, message", [
    ("path,label,speeker\ns1/a.mp4,happy,s1\n",
     r"clips.csv row 1: bad header path,label,speeker: missing column\(s\) speaker; unknown column\(s\) speeker"),
    ("path,label,speaker\ns1/a.mp4,happy,s1\ns2/c.mp4,angry,s2\n", r"clips.csv row 3: unknown CSV label 'angry'"),
    ("path,label,speaker\ns1/a.mp4,happy,\n", r"clips.csv row 2: empty 'speaker'"),
    ("path,label,speaker\ns1/a.mp4,happy,s1,extra\n", r"clips.csv row 2: more fields than the header"),
    ("path,label,speaker\ns1/a.mp4,happy,s1\n", r"no clip .* has class 'sad'"),
])
def test_csv_adapter_errors_name_file_and_row(tmp_path, text, message):
    with pytest.raises(DatasetError, match=message):
        get_adapter("csv")(_table(tmp_path, text), CLASSES, {})


def test_missing_roots(tmp_path):
    with pytest.raises(DatasetError, match="does not exist"):
        get_adapter("csv")(tmp_path / "none.csv", CLASSES, {})
    with pytest.raises(DatasetError, match="synthetic root .* does not exist"):
        get_adapter("synthetic")(tmp_path / "none", CLASSES, {})
    with pytest.raises(DatasetError, match="has no clips.csv; generate it"):
        get_adapter("synthetic")(tmp_path, CLASSES, {})


def test_synthetic_adapter_uses_file_stems_as_clip_ids(tmp_path):
    _table(tmp_path, "path,label,speaker,duration\ns1/a.mp4,happy,s1,1.5\ns2/c.mp4,sad,s2,1.5\n")
    found = get_adapter("synthetic")(tmp_path, CLASSES, {})
    assert [(c.clip_id, c.label, c.speaker, c.video) for c in found.clips] == [
        ("a", "happy", "s1", tmp_path / "s1/a.mp4"), ("c", "sad", "s2", tmp_path / "s2/c.mp4")]
    (tmp_path / "clips.csv").write_text("path,label,speaker,length\ns1/a.mp4,happy,s1,1.5\n")
    with pytest.raises(DatasetError, match="unknown column.* length"):
        get_adapter("synthetic")(tmp_path, CLASSES, {})


def test_adapter_options_come_from_the_config_and_unknown_ones_are_named(tiny_corpus, tmp_path):
    from emo_env.config import default_config
    from emo_env.data.prepare import ingest_from_config

    config = default_config()
    config["data"].update(root=str(tiny_corpus), ingest_dir=str(tmp_path / "ingest"), workers=1,
                          options={"modalities": ["01"]})
    with pytest.raises(DatasetError, match="dataset 'synthetic' has no option 'modalities'"):
        ingest_from_config(config, progress=False)
