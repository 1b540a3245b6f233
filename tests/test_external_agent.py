"""Agents from outside the package: ``module:Class`` specs, train_agent.py end to end with the README's
example agent, saved policies that find their class again, and one-line errors."""

import json
import re
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from agents import Policy, evaluate, get_agent, load_policy
from agents.cli import main
from agents.run_config import env_kwargs_from_config
from emo_env.config import ConfigError, load_config

README = Path(__file__).resolve().parents[1] / "README.md"
MODULES = {
    "not_policy": "class Thing:\n    pass\n",
    "broken": "import no_such_dependency_xyz\n",
    "sub_dqn": "from agents.dqn import DQNAgent\n\n\nclass MyDQN(DQNAgent):\n    pass\n",
    "short_name": "from agents import Policy\n\n\nclass Short(Policy):\n    name = 'threshold'\n",
}


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)  # the CLI sets agent.threads


def readme_agent() -> str:
    """The ``my_agent.py`` of the README's "Your own agent" section."""
    found = re.search(r"<!-- file: my_agent\.py -->\n```python\n(.*?)```", README.read_text(), re.DOTALL)
    assert found, "README has no my_agent.py example"
    return found.group(1)


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    """``tmp_path`` as the working directory, holding the README's ``my_agent.py`` and the modules of
    :data:`MODULES`, and not on ``sys.path``; ``sys.path`` and ``sys.modules`` are restored afterwards."""
    for name, text in {"my_agent": readme_agent(), **MODULES}.items():
        (tmp_path / f"{name}.py").write_text(text)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", ".", str(tmp_path))])
    yield tmp_path
    for name in ("my_agent", *MODULES):
        sys.modules.pop(name, None)


def test_get_agent_imports_a_policy_class_from_the_working_directory(workdir):
    cls = get_agent("my_agent:MyAgent")
    assert issubclass(cls, Policy) and cls.__name__ == "MyAgent" and str(workdir) in sys.path
    assert get_agent("my_agent:MyAgent") is cls
    assert cls.name == cls.registry_key() == "my_agent:MyAgent"  # sets no name: named by its import path
    assert get_agent("dqn").registry_key() == "dqn"
    sub = get_agent("sub_dqn:MyDQN")  # a registered class's subclass is not saved under the parent's name
    assert sub.name == sub.registry_key() == "sub_dqn:MyDQN"
    short = get_agent("short_name:Short")  # its own name, even a registered one, is a label only
    assert short.name == "threshold" and short.registry_key() == "short_name:Short"
    assert get_agent("agents.dqn:DQNAgent") is get_agent("dqn")


@pytest.mark.parametrize(("spec", "message"), [
    ("missing_mod:MyAgent", (r"agent 'missing_mod:MyAgent': module 'missing_mod' not found; it must be "
                             r"importable from the working directory \(.+\) or the environment")),
    ("my_agent.missing:MyAgent", r"module 'my_agent.missing' not found"),
    ("broken:Thing", r"agent 'broken:Thing': importing 'broken' failed: No module named 'no_such_dependency_xyz'"),
    ("my_agent:Nope", r"agent 'my_agent:Nope': module 'my_agent' has no attribute 'Nope'"),
    ("not_policy:Thing", r"agent 'not_policy:Thing': Thing is not a subclass of agents.policy.Policy"),
    ("my_agent:np", r"np is not a subclass of agents.policy.Policy"),
    ("my_agent:", r"agent 'my_agent:': malformed spec, expected package.module:Class"),
    (":MyAgent", r"malformed spec"),
    ("my_agent:MyAgent:x", r"malformed spec"),
    ("my_agent..x:MyAgent", r"malformed spec"),
    ("nope", r"unknown agent 'nope' \(known: dqn, .*, or package.module:Class\)"),
])
def test_get_agent_errors_name_the_spec_and_the_problem(workdir, spec, message):
    with pytest.raises(ValueError, match=message):
        get_agent(spec)


def test_external_agents_run_on_their_defaults_and_registered_ones_need_a_section(workdir):
    for env_mode, used in (("belief", "belief"), ("probs", "probs"), ("frame", "probs")):
        config = load_config(None, [f"env.obs_mode={env_mode}"])
        assert env_kwargs_from_config(config, None, "my_agent:MyAgent")["obs_mode"] == used
    config = load_config(None, ["env.obs_mode=belief"])
    assert env_kwargs_from_config(config, None, "agents.dqn:DQNAgent")["obs_mode"] == "probs"  # dqn's section
    del config["agent"]["dqn"]
    with pytest.raises(ConfigError, match="no section agent.dqn"):
        env_kwargs_from_config(config, None, "dqn")


def test_train_agent_trains_saves_and_reloads_the_readme_agent(workdir, tiny_store, capsys):
    out = workdir / "run"
    args = ["--agent", "my_agent:MyAgent", "--store", str(tiny_store), "--out", str(out), "--no-progress",
            "--set", "agent.total_steps=1"]
    assert main(args) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["agent"] == "my_agent:MyAgent" and report["obs_mode"] == "probs"  # env.obs_mode
    policy = load_policy(out / "policy.pt", device="cpu")
    cls = get_agent("my_agent:MyAgent")
    assert type(policy) is cls and policy.margin in cls.Config().candidates
    env_kwargs = {"store": tiny_store, "obs_mode": policy.spec.obs_mode}
    reloaded = evaluate(policy, env_kwargs).episodes.set_index("clip_id").sort_index()
    trained = pd.read_csv(out / "episodes.csv").set_index("clip_id").sort_index()  # the trained policy's
    for column in ("prediction", "decision_step"):
        assert np.array_equal(reloaded[column].to_numpy(), trained[column].to_numpy()), column
    assert "held-out: accuracy" in capsys.readouterr().out

    assert main(args + ["--resume"]) == 0  # the checkpoint names the agent by its spec too
    assert "no checkpoint" not in capsys.readouterr().out
    assert load_policy(out / "policy.pt", device="cpu").margin == policy.margin


@pytest.mark.parametrize(("args", "message"), [
    (["--agent", "missing_mod:MyAgent"], "agent 'missing_mod:MyAgent': module 'missing_mod' not found"),
    (["--agent", "my_agent:"], "agent 'my_agent:': malformed spec"),  # taken literally, not as YAML
    (["--set", "agent.name=my_agent:"], "agent {'my_agent': None}: expected a registered name or package.module"),
])
def test_train_agent_reports_a_bad_spec_in_one_line(workdir, tiny_store, capsys, args, message):
    assert main([*args, "--store", str(tiny_store), "--out", str(workdir / "a")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"train_agent.py: error: {message}") and err.count("\n") == 1
