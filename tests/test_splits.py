"""LOSO and LOSGO folds: one per held-out speaker or group, never a speaker on both sides."""

import pandas as pd
import pytest

from emo_env.data.clips import DatasetError
from emo_env.data.ingest import INDEX_COLUMNS
from emo_env.data.splits import make_folds, write_folds


def _index(groups=("", "", "", "")):
    rows = [[f"{s}_{i}", "happy", s, g, 5, f"clips/{s}_{i}.npz", "h"]
            for s, g in zip(("s1", "s2", "s3", "s4"), groups, strict=True) for i in range(2)]
    return pd.DataFrame(rows, columns=INDEX_COLUMNS)


def _check(folder, index, held_out):
    train = pd.read_csv(folder / "training_data.csv", keep_default_na=False)
    evaluation = pd.read_csv(folder / "evaluation_data.csv", keep_default_na=False)
    assert list(train.columns) == INDEX_COLUMNS == list(evaluation.columns)
    assert set(evaluation["speaker"]) == held_out
    assert not set(train["speaker"]) & set(evaluation["speaker"])
    assert sorted(train["clip_id"].tolist() + evaluation["clip_id"].tolist()) == sorted(index["clip_id"])


def test_loso_writes_one_fold_per_speaker(tmp_path):
    index = _index()
    folders = write_folds(index, tmp_path, make_folds(index, "loso"))
    assert [f.name for f in folders] == ["s1", "s2", "s3", "s4"]
    for folder in folders:
        _check(folder, index, {folder.name})


def test_losgo_from_mapping_or_group_column(tmp_path):
    index = _index()
    folds = make_folds(index, "losgo", {"s1": "a", "s2": "a", "s3": "b", "s4": "b"})
    for folder in write_folds(index, tmp_path, folds):
        _check(folder, index, {"a": {"s1", "s2"}, "b": {"s3", "s4"}}[folder.name])
    by_column = make_folds(_index(("x", "y", "x", "y")), "losgo")
    assert {name: sorted(set(_index()["speaker"][mask])) for name, mask in by_column.items()} == {
        "x": ["s1", "s3"], "y": ["s2", "s4"]}


@pytest.mark.parametrize("scheme, groups, message", [
    ("losgo", {"s1": "a", "s2": "a", "s3": "b"}, "no group for speaker\\(s\\) s4"),
    ("losgo", {}, "need data.groups"),
    ("losgo", {"s1": "a", "s2": "a", "s3": "a", "s4": "a"}, "at least two groups"),
    ("leave", {}, "unknown fold scheme 'leave'"),
])
def test_fold_errors(scheme, groups, message):
    with pytest.raises(DatasetError, match=message):
        make_folds(_index(), scheme, groups)
