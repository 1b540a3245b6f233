"""The documentation: the MkDocs site builds with warnings as errors, the README's links resolve, the
API reference covers every public name, the environment page is the one generated from
``AVEmotionEnv.__doc__``, every option the docs give a command exists, and every code block of the
README and the getting-started page runs.

A code block is run as written, with three exceptions the page marks or the runner knows:

- a block preceded by ``<!-- file: NAME -->`` is written to ``NAME`` in the working folder (later
  blocks use it); one preceded by ``<!-- not-run: REASON -->`` is shown only (a corpus the reader must
  own); every other block is ``bash`` or ``python``;
- in ``bash`` blocks the commands that build the environment the tests run in (``python3.11 -m venv``,
  activating it, ``pip install``, ``pytest``) are skipped, and so is a command the page ran before
  (the blocks of a page share one working folder, so its outputs are there already);
- the project's commands get a small budget appended (:data:`BUDGET`: fewer training steps, epochs
  and clips), so that a block that trains for minutes runs in seconds; the command line is otherwise
  the documented one.
"""

from __future__ import annotations

import ast
import importlib
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
RUN_DOCS = ("README.md", "docs/getting-started.md")
PACKAGES = ("emo_env", "pretrained_encoders", "agents", "emo_online")

FENCE = re.compile(r"(?:^<!-- (?P<mark>file|not-run): (?P<arg>[^>]*?) -->\n)?^```(?P<lang>[\w-]*)[^\n]*\n"
                   r"(?P<body>.*?)^```$", re.MULTILINE | re.DOTALL)
SETUP = re.compile(r"^(python3(\.\d+)? -m venv |\. \S*activate$|source \S*activate$|pip install |pytest\b)")
#: Command (script or module, and subcommand) -> ``--set`` overrides and flags appended to shrink its budget;
#: an override whose key the command already sets is left out.
_FEW_CANDIDATES = ["agent.time-threshold.start_candidates=[0.5,0.9]", "agent.time-threshold.end_candidates=[0.5,0.9]"]
BUDGET: dict[str, list[str]] = {
    "train_agent.py": ["agent.total_steps=6000", *_FEW_CANDIDATES, "--no-progress"],
    "pretrain_encoder.py": ["encoder.num_epochs=1", "encoder.fusion_epochs=1", "encoder.temporal_epochs=1",
                            "encoder.audio_temporal_epochs=1", "encoder.oof_folds=0", "encoder.steps_per_clip=2",
                            "--no-progress"],
    "agents.benchmark": ["agent.total_steps=6000", *_FEW_CANDIDATES, "agent.benchmark.bootstrap_reps=50",
                         "agent.benchmark.workers=1", "--seed=0", "--no-sweep", "--no-progress"],
    "emo_env.data generate": ["synthetic.speakers=3", "synthetic.clips_per_emotion=1", "synthetic.min_duration_s=1.5",
                              "synthetic.max_duration_s=2.0"],
    "emo_online": ["--fast"],
}


def code_blocks(text: str) -> list[dict[str, str]]:
    """The fenced code blocks of a Markdown text: language, body and the marker before it, if any."""
    return [{k: m.group(k) or "" for k in ("mark", "arg", "lang", "body")} for m in FENCE.finditer(text)]


def _with_budget(tokens: list[str]) -> list[str]:
    """``python ...`` as the test runs it: this interpreter, the checkout's scripts, the budget appended."""
    args = tokens[1:]
    if args and args[0].endswith(".py") and not Path(args[0]).is_absolute():
        args[0] = str(ROOT / args[0])
    if args and args[0].endswith(".py"):
        target = Path(args[0]).name
    else:
        target = " ".join(args[1:3]) if args[:1] == ["-m"] else ""
    budget = BUDGET.get(target, BUDGET.get(target.split(" ")[0], []))
    for item in budget:
        if item.startswith("--"):
            args += [item] if item not in args else []
        elif not any(arg.startswith(item.split("=")[0] + "=") for arg in args):
            args += ["--set", item]
    return [sys.executable, *args]


def bash_script(body: str, done: set[str] | None = None) -> str:
    """A ``bash`` block as the test runs it: setup commands dropped, ``python`` commands budgeted, and
    commands in ``done`` (run before in the same folder, the same outputs again) left out; adds the
    commands it keeps to ``done``."""
    done = set() if done is None else done
    lines = []
    for line in body.replace("\\\n", " ").splitlines():
        kept = []
        for part in (p.strip() for p in line.split("&&")):
            part = re.sub(r"\s+#.*$", "", part) if not part.startswith("#") else ""
            if not part or SETUP.match(part) or part in done:
                continue
            done.add(part)
            if part.startswith("python "):
                part = shlex.join(_with_budget(shlex.split(part)))
            kept.append(part)
        if kept:
            lines.append(" && ".join(kept))
    return "set -euo pipefail\n" + "\n".join(lines) + "\n"


@pytest.mark.parametrize("page", RUN_DOCS)
def test_every_code_block_is_run_or_marked(page):
    blocks = code_blocks((ROOT / page).read_text())
    assert blocks, f"{page} has no code blocks"
    for block in blocks:
        assert block["mark"] or block["lang"] in ("bash", "python"), f"{page}: unmarked {block['lang']!r} block"
    shown = [b for b in blocks if b["mark"] == "not-run"]
    assert len(shown) <= 2, f"{page}: {len(shown)} blocks marked not-run, keep them few"


def test_budget_keeps_the_documented_command():
    script = bash_script("python train_agent.py --agent threshold --set agent.total_steps=10 \\\n"
                         "  --seed 1  # comment\n"
                         "python3.11 -m venv .venv && . .venv/bin/activate && pip install -e . && "
                         "python -m emo_online a.mp4\n")
    lines = script.splitlines()[1:]
    first = shlex.split(lines[0])
    assert first[:2] == [sys.executable, str(ROOT / "train_agent.py")]
    assert first[2:9] == ["--agent", "threshold", "--set", "agent.total_steps=10", "--seed", "1", "--set"]
    assert "agent.total_steps=6000" not in first and first[-1] == "--no-progress"
    assert shlex.split(lines[1]) == [sys.executable, "-m", "emo_online", "a.mp4", "--fast"]
    done = {"python -m emo_online a.mp4"}
    assert bash_script("python -m emo_online a.mp4\nls\n", done) == "set -euo pipefail\nls\n"
    assert done == {"python -m emo_online a.mp4", "ls"}


@pytest.mark.slow
@pytest.mark.parametrize("page", RUN_DOCS)
def test_code_blocks_run(page, tmp_path):
    """The page's blocks in order, in one working folder, as a reader would run them from the checkout."""
    env = {**_clean_env(), "PYTHONPATH": str(ROOT), "MPLBACKEND": "Agg"}
    done: set[str] = set()
    for number, block in enumerate(code_blocks((ROOT / page).read_text()), 1):
        where = f"{page} block {number}"
        if block["mark"] == "file":
            (tmp_path / block["arg"]).write_text(block["body"])
            continue
        if block["mark"] == "not-run":
            continue
        if block["lang"] == "python":
            script = tmp_path / f"_block_{number}.py"
            script.write_text(block["body"])
            command = [sys.executable, str(script)]
        else:
            command = ["bash", "-c", bash_script(block["body"], done)]
        run = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)
        assert run.returncode == 0, f"{where} failed:\n{block['body']}\n{run.stdout[-2000:]}\n{run.stderr[-3000:]}"


def _clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}


def _links(text: str) -> list[str]:
    text = re.sub(r"^```.*?^```$", "", text, flags=re.MULTILINE | re.DOTALL)
    return re.findall(r"\]\(([^)\s]+)\)", text)


def _anchor(heading: str) -> str:
    """GitHub's and MkDocs' anchor of a heading (lower case, punctuation dropped, spaces to hyphens)."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_readme_links_resolve():
    text = (ROOT / "README.md").read_text()
    anchors = {_anchor(h) for h in re.findall(r"^#+ (.+)$", text, re.MULTILINE)}
    links = _links(text)
    assert links
    for link in links:
        if link.startswith(("http://", "https://")):
            continue
        path, _, anchor = link.partition("#")
        if path:
            assert (ROOT / path).exists(), f"README links to missing {path}"
        else:
            assert anchor in anchors, f"README links to missing heading #{anchor}"


def test_readme_is_short():
    assert len((ROOT / "README.md").read_text().splitlines()) <= 150


def _public_names() -> dict[str, list[str]]:
    """Each package of the project whose ``__init__.py`` sets ``__all__`` -> those names."""
    found = {}
    for package in PACKAGES:
        for init in sorted((ROOT / package).rglob("__init__.py")):
            tree = ast.parse(init.read_text())
            for node in tree.body:
                if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "__all__" for t in node.targets):
                    name = ".".join(init.relative_to(ROOT).parent.parts)
                    found[name] = list(ast.literal_eval(node.value))
    return found


def _resolve(path: str) -> object:
    parts = path.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        for name in parts[cut:]:
            obj = getattr(obj, name)
        return obj
    raise ImportError(path)


def test_api_reference_covers_every_public_name():
    directives = [d for page in sorted((DOCS / "api").glob("*.md"))
                  for d in re.findall(r"^::: ([\w.]+)$", page.read_text(), re.MULTILINE)]
    documented = {(d.rsplit(".", 1)[-1], id(_resolve(d))) for d in directives}
    public = _public_names()
    assert {"agents", "emo_online", "pretrained_encoders", "emo_env.envs"} <= set(public)
    missing = [f"{package}.{name}" for package, names in public.items() for name in names
               if (name, id(getattr(importlib.import_module(package), name))) not in documented]
    assert not missing, f"API reference lacks {missing}"


def test_environment_page_is_generated_from_the_docstring():
    sys.path.insert(0, str(DOCS / "_scripts"))
    try:
        from gen_env_page import PAGE, render
    finally:
        sys.path.remove(str(DOCS / "_scripts"))
    assert PAGE.read_text() == render(), "run `python docs/_scripts/gen_env_page.py` to regenerate the page"


def test_site_builds_with_warnings_as_errors(tmp_path):
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
                          cwd=ROOT, env={**os.environ, "NO_MKDOCS_2_WARNING": "1"}, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-4000:]
    assert (tmp_path / "site" / "api" / "agents" / "index.html").is_file()


#: The project's commands as the docs write them -> how to ask each for its help.
COMMANDS = {"train_agent.py": ["train_agent.py"], "pretrain_encoder.py": ["pretrain_encoder.py"],
            "agents.benchmark": ["-m", "agents.benchmark"], "emo_online": ["-m", "emo_online"],
            **{f"emo_env.data {sub}": ["-m", "emo_env.data", sub] for sub in ("generate", "ingest", "preview")}}


def _documented_options() -> dict[str, set[str]]:
    """Command -> the ``--options`` the README and the docs pages give it in their code blocks."""
    found: dict[str, set[str]] = {}
    pages = [ROOT / "README.md", *sorted(DOCS.rglob("*.md"))]
    for block in (b for page in pages for b in code_blocks(page.read_text()) if b["lang"] == "bash"):
        for part in re.split(r"&&|\n", block["body"].replace("\\\n", " ")):
            words = part.split()
            if words[:1] != ["python"] or len(words) < 2:
                continue
            command = words[1] if words[1].endswith(".py") else " ".join(words[2:4]) if words[1] == "-m" else ""
            command = command if command in COMMANDS else command.split(" ")[0]
            if command in COMMANDS:
                options = {re.sub(r"[^\w-].*$", "", w.lstrip("[")) for w in words if w.lstrip("[").startswith("--")}
                found.setdefault(command, set()).update(options)
    return found


@pytest.mark.slow
def test_documented_options_exist():
    """Every ``--option`` the docs give a command is in that command's ``--help``."""
    documented = _documented_options()
    assert {"train_agent.py", "pretrain_encoder.py", "agents.benchmark", "emo_online"} <= set(documented)
    for command, options in documented.items():
        helped = subprocess.run([sys.executable, *COMMANDS[command], "--help"], cwd=ROOT, capture_output=True,
                                text=True, timeout=300, env={**os.environ, "PYTHONPATH": str(ROOT)})
        assert helped.returncode == 0, helped.stderr[-2000:]
        missing = sorted(o for o in options if not re.search(rf"{re.escape(o)}\b", helped.stdout))
        assert not missing, f"the docs give {command} options its --help does not know: {missing}"
