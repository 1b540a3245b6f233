"""Run configuration: defaults, files, params.json, overrides, and the errors for bad input."""

import dataclasses
import inspect
import json

import pytest

from agents import AGENTS, get_agent
from agents.policy import NoConfig
from emo_env.config import ConfigError, config_path, default_config, field_docs, load_config, shipped_configs
from emo_env.data.ingest import IngestParams
from emo_env.data.synthetic import Difficulty, generate_corpus
from emo_env.envs import EnvConfig
from pretrained_encoders.settings import PretrainSettings


def test_defaults_are_complete_and_fresh():
    first = default_config()
    first["data"]["classes"].append("neutral")
    assert default_config()["data"]["classes"] == ["happy", "surprise", "sad", "fear", "anger", "disgust"]


def test_yaml_file_then_overrides(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("seed: 3\nencoder:\n  num_epochs: 7\ndata:\n  label_map: {calm: neutral}\n")
    config = load_config(path, ["encoder.num_epochs=2", "data.classes=[a, b]"])
    assert config["seed"] == 3
    assert config["encoder"]["num_epochs"] == 2
    assert config["encoder"]["batch_size"] == default_config()["encoder"]["batch_size"]
    assert config["data"]["classes"] == ["a", "b"]
    assert config["data"]["label_map"] == {"calm": "neutral"}


def test_paper_params_json(tmp_path):
    path = tmp_path / "params.json"
    path.write_text(json.dumps({"num_epochs": 50, "batch_size": 32, "learning_rate": 1e-5, "decay_step": 10,
                                "decay_rate": 0.1, "modality": "audio", "speaker": "s3"}))
    encoder = load_config(path)["encoder"]
    assert (encoder["num_epochs"], encoder["learning_rate"], encoder["modality"], encoder["speaker"]) \
        == (50, 1e-5, "audio", "s3")


@pytest.mark.parametrize(
    "text, overrides, message",
    [
        ("encoder:\n  num_epoch: 3\n", [], "unknown config key 'encoder.num_epoch'"),
        ("colour: blue\n", [], "unknown config key 'colour'"),
        ("encoder: 3\n", [], "'encoder' is a section"),
        ("- a\n- b\n", [], "expected a mapping"),
        ("seed: [\n", [], "not valid"),
        ("", ["encoder.num_epochs"], "expected key=value"),
        ("", ["agent.nme=dqn"], "unknown config key 'agent.nme'"),
    ],
)
def test_bad_config_names_the_problem(tmp_path, text, overrides, message):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("(", r"\(")) as info:
        load_config(path, overrides)
    if not overrides:
        assert "bad.yaml" in str(info.value)


def test_missing_file_and_unknown_params_key(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.yaml")
    path = tmp_path / "params.json"
    path.write_text(json.dumps({"num_epochs": 5, "dropout": 0.5}))
    with pytest.raises(ConfigError, match="unknown key 'dropout'"):
        load_config(path)


def test_numbers_written_the_yaml_1_1_way_are_numbers_and_other_strings_are_errors():
    config = load_config(None, ["agent.dqn.learning_rate=3e-4", "agent.checkpoint_every=1e5"])
    assert config["agent"]["dqn"]["learning_rate"] == 3e-4 and config["agent"]["checkpoint_every"] == 100_000
    with pytest.raises(ConfigError, match=r"'agent.dqn.learning_rate' must be a number, got 'abc'"):
        load_config(None, ["agent.dqn.learning_rate=abc"])
    with pytest.raises(ConfigError, match=r"'encoder.num_epochs' must be an integer, got '2.5x'"):
        load_config(None, ["encoder.num_epochs=2.5x"])
    nulls = load_config(None, ["agent.threshold.threshold=9e-1", "agent.total_steps=1e5", "data.root=1e5x"])
    assert nulls["agent"]["threshold"]["threshold"] == 0.9 and nulls["agent"]["total_steps"] == 100_000
    assert nulls["data"]["root"] == "1e5x"  # a null default may hold a string


def _defaults_of(cls):
    return {f.name: f.default if f.default is not dataclasses.MISSING else f.default_factory()
            for f in dataclasses.fields(cls)}


def _same(section, owner):
    """``section``'s values for the keys ``owner`` holds, and the owner's (lists and tuples compare alike)."""
    pick = {key: list(value) if isinstance(value, tuple) else value for key, value in owner.items() if key in section}
    return {key: section[key] for key in pick}, pick


def test_every_default_of_defaults_yaml_is_its_owners():
    """Each section of defaults.yaml holds the defaults of the dataclass (or function) that owns them, and
    only the keys listed here besides: the run-level keys that only a run config has."""
    config = default_config()
    owners = {
        "data": (_defaults_of(IngestParams), {"dataset", "root", "ingest_dir", "classes", "label_map", "options",
                                              "folds", "groups", "workers"}),
        "synthetic": ({**_defaults_of(Difficulty), **{name: p.default for name, p in
                                                      inspect.signature(generate_corpus).parameters.items()
                                                      if p.default is not inspect.Parameter.empty}}, set()),
        "encoder": (_defaults_of(PretrainSettings), {"speaker", "out_dir", "workers"}),
        "env": (_defaults_of(EnvConfig), set()),
    }
    for name, (owner, run_level) in owners.items():
        section = config[name]
        assert set(section) - set(owner) == run_level, name
        assert _same(section, owner)[0] == _same(section, owner)[1], name
    assert set(_defaults_of(EnvConfig)) - set(config["env"]) == {"split", "clip_order"}  # chosen by each run
    assert set(_defaults_of(PretrainSettings)) - set(config["encoder"]) == {"seed"}  # the top-level seed


def test_field_docs_are_the_docstrings_under_the_fields_of_every_owner():
    agent_configs = {get_agent(name).Config for name in AGENTS} - {NoConfig}
    for owner in (IngestParams, Difficulty, PretrainSettings, EnvConfig, *agent_configs):
        docs = field_docs(owner)
        assert set(docs) == {f.name for f in dataclasses.fields(owner)}, owner  # every field is documented
        assert all(doc and "\n" not in doc for doc in docs.values())
    assert field_docs(EnvConfig)["latency_cost"].startswith("Cost of one wait")


def test_shipped_configs_load_by_name(tmp_path, monkeypatch):
    names = shipped_configs()
    assert {"synthetic", "ravdess", "rml", "affectnet"} <= set(names)
    for name in names:  # every shipped config is valid against the defaults
        assert load_config(name)["data"]["dataset"] == name
    assert config_path("ravdess").parent.name == "configs" and config_path("ravdess").is_file()
    monkeypatch.chdir(tmp_path)
    (tmp_path / "ravdess").write_text("seed: 5\n")  # a file of that name wins over the shipped config
    assert load_config("ravdess")["seed"] == 5
    with pytest.raises(ConfigError, match=r"'ravdes' is neither a file nor a shipped config \(affectnet, "):
        load_config("ravdes")
