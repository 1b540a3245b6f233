"""The online recognizer's per-step cost against another version of this code, measured in one run.

``bench_online.py`` is run in turn in a checkout of the other version (``--baseline``, for example
``git worktree add ../emo-env-0.2 <commit>``) and in this one, ``--pairs`` times, so that both see the
same machine state; each pair gives the ratio of the two end-to-end figures on the ONNX Runtime path
(CPU ms per step, best of ``--repeats`` passes). The results are the median ratio of the pairs, with their
range (on a shared machine one pair can be off by a third), and the ratio of each version's best figure
over all pairs (the least disturbed runs). Usage::

    python benchmarks/bench_online_versions.py --baseline ../emo-env-0.2 [--pairs 5] [--repeats 3]

Both versions run in this Python environment (the baseline's packages first on the path). Each
version's ``bench_online.py`` plays its own bundled encoders, so what is compared is each version's
default recognizer.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent
TOTAL = re.compile(r"^\| \*\*total: recognizer end to end\*\*\s*\|(.*)$", re.MULTILINE)


def end_to_end_ms(checkout: Path, repeats: int) -> float:
    """The ONNX Runtime path's end-to-end CPU ms per step from ``checkout``'s ``bench_online.py``."""
    env = {**os.environ, "PYTHONPATH": str(checkout)}
    done = subprocess.run([sys.executable, str(checkout / "benchmarks" / "bench_online.py"), "--repeats", str(repeats)],
                          cwd=checkout, env=env, capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"bench_online.py in {checkout} failed:\n{done.stderr[-2000:]}")
    match = TOTAL.search(done.stdout)
    if match is None:
        raise RuntimeError(f"bench_online.py in {checkout} printed no end-to-end row:\n{done.stdout[-2000:]}")
    cells = [cell.strip() for cell in match.group(1).split("|")]
    return float(cells[-3])  # the last path's column (onnx): value, share of total, then the empty tail


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--baseline", type=Path, required=True, help="a checkout of the version to compare with")
    parser.add_argument("--pairs", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    baseline = args.baseline.resolve()
    if not (baseline / "benchmarks" / "bench_online.py").is_file():
        parser.error(f"--baseline {baseline}: no benchmarks/bench_online.py there")
    print("| pair | baseline ms/step | this ms/step | ratio |\n| ---: | ---: | ---: | ---: |")
    befores, nows = [], []
    for pair in range(1, args.pairs + 1):
        befores.append(end_to_end_ms(baseline, args.repeats))
        nows.append(end_to_end_ms(HERE, args.repeats))
        print(f"| {pair} | {befores[-1]:.2f} | {nows[-1]:.2f} | {nows[-1] / befores[-1]:.2f}x |", flush=True)
    ratios = [now / before for before, now in zip(befores, nows, strict=True)]
    print(f"\nthis / baseline, end to end on the ONNX path: median of the pairs {statistics.median(ratios):.2f}x "
          f"(range {min(ratios):.2f}x-{max(ratios):.2f}x over {len(ratios)} pairs); best against best "
          f"{min(nows):.2f} / {min(befores):.2f} ms = {min(nows) / min(befores):.2f}x")


if __name__ == "__main__":
    main()
