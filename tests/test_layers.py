"""The packages form layers that only look down (DESIGN.md section 2), checked on the real import graph,
with the function-level imports included, by import-linter's contracts in pyproject.toml."""

from pathlib import Path

import grimp
from importlinter.cli import lint_imports

ROOT = Path(__file__).parents[1]
LAYERS = ("emo_online", "agents", "pretrained_encoders", "emo_env")  # top to bottom


def test_import_contracts_of_pyproject_are_kept():
    assert lint_imports(config_filename=str(ROOT / "pyproject.toml"), no_cache=True, no_logo=True) == 0


def test_no_module_imports_a_package_above_its_layer():
    graph = grimp.build_graph(*LAYERS, cache_dir=None)
    assert graph.find_illegal_dependencies_for_layers(layers=LAYERS) == set()
    # the graph is the real one: each layer uses the one below it, deferred imports included
    assert graph.direct_import_exists(importer="emo_online.recognizer", imported="agents.registry")
    assert graph.direct_import_exists(importer="agents.policy", imported="emo_env.artifacts")
    assert "emo_env.envs.av_emotion" in graph.modules


def test_the_layer_check_sees_an_upward_import(tmp_path, monkeypatch):
    for name, body in {"low": "", "low/core": "import high.app\n", "high": "", "high/app": "import low.core\n"}.items():
        path = tmp_path / (f"{name}.py" if "/" in name else f"{name}/__init__.py")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(body)
    monkeypatch.syspath_prepend(str(tmp_path))
    graph = grimp.build_graph("high", "low", cache_dir=None)
    assert {(d.importer, d.imported) for d in graph.find_illegal_dependencies_for_layers(layers=("high", "low"))} \
        == {("low", "high")}
