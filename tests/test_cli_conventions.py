"""Every command speaks the same command line: --seed, --device, --no-progress and --describe with the
same spellings, every default shown in --help, an examples section, plain text; and the emo-env
command runs each of them, naming the extra to install when an optional dependency is missing."""

import argparse
import importlib
import subprocess
import sys
from pathlib import Path

import pytest

from agents import registry
from emo_env.optional import tensorboard_writer
from emo_online.commands import COMMANDS, main

#: (command line after emo-env, the module whose _parser builds its parser)
COMMAND_LINES = [(["data", "generate"], "emo_env.data.__main__"), (["data", "ingest"], "emo_env.data.__main__"),
                 (["pretrain"], "pretrained_encoders.cli"), (["train"], "agents.cli"),
                 (["benchmark"], "agents.benchmark.cli"), (["online"], "emo_online.cli")]
COMMON = ["--seed", "1", "--device", "cpu", "--no-progress", "--describe"]


def parser_of(words: list[str], module: str) -> argparse.ArgumentParser:
    parser = importlib.import_module(module)._parser(f"emo-env {words[0]}")
    for word in words[1:]:  # a subcommand's own parser
        subcommands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        parser = subcommands.choices[word]
    return parser


def test_every_command_has_a_line_here():
    assert {words[0] for words, _ in COMMAND_LINES} == set(COMMANDS)


@pytest.mark.parametrize("words, module", COMMAND_LINES, ids=[" ".join(w) for w, _ in COMMAND_LINES])
def test_help_shows_every_default_examples_and_plain_text(words, module):
    parser = parser_of(words, module)
    formatter = parser._get_formatter()
    for action in parser._actions:
        if (not action.option_strings or action.help == argparse.SUPPRESS or action.nargs == 0
                or action.default == [] or "required" in action.help):
            continue  # positionals, hidden aliases, on/off flags, repeatable and required options: no default
        assert "default" in formatter._expand_help(action), f"{' '.join(words)} {action.option_strings[0]}"
    text = parser.format_help()
    assert "\nexamples:\n" in text and f"emo-env {words[0]}" in text.split("examples:")[1]
    assert "``" not in text and ":mod:" not in text


@pytest.mark.parametrize("words, module", COMMAND_LINES, ids=[" ".join(w) for w, _ in COMMAND_LINES])
def test_every_command_takes_the_common_flags_and_describes_itself(words, module, capsys):
    assert main([*words, *COMMON]) == 0
    out = capsys.readouterr().out
    assert len(out.splitlines()) >= 5 and "``" not in out
    assert "= " in out or "policy" in out  # settings with their values, or the recognizer's


def test_device_defaults_to_auto_everywhere():
    for words, module in COMMAND_LINES:
        device = next(a for a in parser_of(words, module)._actions if "--device" in a.option_strings)
        assert device.default == "auto" or "auto built in" in device.help, words


def test_emo_env_command(capsys):
    assert main(["--version"]) == 0 and capsys.readouterr().out.startswith("emo-env 0.")
    assert main([]) == 2 and "commands:" in capsys.readouterr().out
    assert main(["trian"]) == 2 and "unknown command 'trian'" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_:
        main(["train", "--help"])
    assert exit_.value.code == 0 and capsys.readouterr().out.startswith("usage: emo-env train ")
    assert main(["train", "--agent", "nope", "--describe"]) == 2
    assert "emo-env train: error: unknown agent 'nope'" in capsys.readouterr().err
    assert main(["data", "ingest", "--quiet", "--describe"]) == 0  # the former spelling of --no-progress


def test_a_missing_optional_dependency_names_its_extra(monkeypatch, capsys):
    for name in [m for m in sys.modules if m.startswith(("agents.benchmark", "agents.stats"))]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "rliable", None)  # as if not installed
    assert main(["benchmark", "--describe"]) == 2
    assert "emo-env benchmark: error: emo-env benchmark needs rliable, which is not installed: " \
           "pip install 'emo-env[benchmark]'" in capsys.readouterr().err

    monkeypatch.delitem(sys.modules, "agents.sb3", raising=False)
    monkeypatch.setitem(sys.modules, "stable_baselines3", None)
    registry._builtin.cache_clear()
    try:
        with pytest.raises(ImportError, match=r"agent 'sb3-ppo' needs stable_baselines3.*emo-env\[sb3\]"):
            registry.get_agent("sb3-ppo")
    finally:
        registry._builtin.cache_clear()


@pytest.mark.slow
@pytest.mark.parametrize(("module", "missing", "extra"), [("pretrained_encoders", "sklearn", "pretrain"),
                                                     ("agents.benchmark", "rliable", "benchmark")])
def test_python_dash_m_names_the_missing_extra_too(module, missing, extra):
    code = (f"import runpy, sys; sys.modules[{missing!r}] = None; sys.argv = ['-m', '--describe']; "
            f"runpy.run_module({module!r}, run_name='__main__')")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          cwd=Path(__file__).parents[1])
    prog = f"python -m {module}"
    assert done.returncode == 2, done.stderr
    assert done.stderr == f"{prog}: error: {prog} needs {missing}, which is not installed: " \
                          f"pip install 'emo-env[{extra}]'\n"


def test_training_without_tensorboard_says_so_and_writes_no_logs(monkeypatch, tmp_path, capsys):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)
    assert tensorboard_writer(tmp_path / "tb") is None
    assert "pip install 'emo-env[tensorboard]'" in capsys.readouterr().err and not (tmp_path / "tb").exists()


@pytest.mark.slow
@pytest.mark.parametrize("module", ["emo_env.data", "pretrained_encoders", "pretrained_encoders.cli", "agents",
                                    "agents.cli", "agents.benchmark", "emo_online"])
def test_python_dash_m_runs_each_command(module):
    done = subprocess.run([sys.executable, "-m", module, "--help"], capture_output=True, text=True, timeout=120,
                          cwd=Path(__file__).parents[1])
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage: ") and "\nexamples:\n" in done.stdout
