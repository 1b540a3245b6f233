"""Synthetic corpus generation speed: serial against parallel workers, in the same run.

Generates the same small corpus (default: 2 speakers x 6 emotions x 4 clips of 2-4 s) once with
``workers=1`` and once with ``workers=N`` (default 2), and prints per mode the wall time, the CPU time
(this process plus its worker processes), both per second of generated clip, the projected wall time
of the default corpus (8 x 6 x 10 clips, 3 s on average), and the parallel speed-up. The two outputs
must be identical (same bytes). Usage::

    python benchmarks/bench_generate.py [--speakers 2] [--clips 4] [--workers 2] [--seed 0]
"""

from __future__ import annotations

import argparse
import csv
import filecmp
import resource
import tempfile
import time
from pathlib import Path

from emo_env.data.synthetic import generate_corpus

DEFAULT_CORPUS_CLIP_SECONDS = 8 * 6 * 10 * 3.0


def _cpu_seconds() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _run(out: Path, workers: int, args: argparse.Namespace) -> tuple[float, float, float]:
    wall, cpu = time.perf_counter(), _cpu_seconds()
    generate_corpus(out, seed=args.seed, speakers=args.speakers, clips_per_emotion=args.clips, workers=workers)
    wall, cpu = time.perf_counter() - wall, _cpu_seconds() - cpu
    with open(out / "clips.csv", newline="") as f:
        clip_seconds = sum(float(row["duration"]) for row in csv.DictReader(f))
    return wall, cpu, clip_seconds


def _same_tree(a: Path, b: Path) -> bool:
    files = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    return files == sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file()) and all(
        filecmp.cmp(a / f, b / f, shallow=False) for f in files)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--speakers", type=int, default=2)
    parser.add_argument("--clips", type=int, default=4, help="clips per emotion")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for label, workers in (("serial", 1), (f"workers={args.workers}", args.workers)):
            wall, cpu, clip_seconds = _run(Path(tmp) / label, workers, args)
            rows.append((label, wall, cpu, clip_seconds))
        identical = _same_tree(Path(tmp) / rows[0][0], Path(tmp) / rows[1][0])
    print(f"{'mode':<12}{'clip s':>9}{'wall s':>9}{'CPU s':>9}{'wall/clip s':>13}{'CPU/clip s':>12}"
          f"{'default corpus wall s':>23}")
    for label, wall, cpu, clip_seconds in rows:
        print(f"{label:<12}{clip_seconds:>9.1f}{wall:>9.2f}{cpu:>9.2f}{wall / clip_seconds:>13.4f}"
              f"{cpu / clip_seconds:>12.4f}{wall / clip_seconds * DEFAULT_CORPUS_CLIP_SECONDS:>23.1f}")
    print(f"parallel speed-up (serial wall / workers wall): {rows[0][1] / rows[1][1]:.2f}x")
    print(f"identical output: {'yes' if identical else 'NO'}")


if __name__ == "__main__":
    main()
