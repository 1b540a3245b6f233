"""The online recognizer's per-step cost against another version of this code, measured in one run.

Two worker processes, one per version (this checkout and ``--baseline``, for example a checkout made with
``git worktree add ../emo-env-0.2 <commit>``), each set up its version's default recognizer (bundled encoders,
ONNX Runtime path, the tracker of the default settings) with the end-to-end measurement of its own
``bench_online.py`` on the same two generated clips. The workers then play the clips in strict alternation,
one pass each per round, for ``--rounds`` rounds: both see the same machine state within a fraction of a
second, which on a shared machine moves by a third from one minute to the next. Each pass gives CPU ms per
step (one torch and one OpenCV thread). The result is the median over rounds of the ratio of this version's
pass to the baseline's, with its interquartile range, and the ratio of each version's best pass. Usage::

    python benchmarks/bench_online_versions.py --baseline ../emo-env-0.2 [--rounds 40]

Both versions run in this Python environment (each with its own packages first on the path).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent

# Runs in each worker, in the checkout's root: bench_online's own end-to-end measurement, with its pass timer
# replaced by one that times a pass per line read from stdin.
WORKER = """
import sys, tempfile, time
from dataclasses import asdict
from pathlib import Path
sys.path.insert(0, "benchmarks")
import cv2, torch
import bench_online as b

def serve(run, repeats):
    print("ready", flush=True)
    for _ in sys.stdin:
        started = time.process_time()
        steps = run()
        print((time.process_time() - started) / steps * 1000.0, flush=True)
    return 1.0

torch.set_num_threads(1)
cv2.setNumThreads(1)
encoders, _ = b.default_encoders(None)
params = b.IngestParams.from_section(encoders.spec["data"], "the encoders' spec['data']")
with tempfile.TemporaryDirectory() as tmp:
    b.generate_corpus(tmp, speakers=1, clips_per_emotion=1, min_duration_s=3.0, max_duration_s=3.0, workers=1)
    clips = [b.Clip(path, params) for path in sorted(Path(tmp).glob("s1/*.mp4"))[:2]]
b.per_step = serve
b.end_to_end(encoders, clips, b.Variant("onnx", params, "onnx"), 1)
"""


class Worker:
    """One version's recognizer in its own process, timing a pass on request."""

    def __init__(self, checkout: Path) -> None:
        self.checkout = checkout
        self.process = subprocess.Popen([sys.executable, "-c", WORKER], cwd=checkout, text=True,
                                        env={**os.environ, "PYTHONPATH": str(checkout)},
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        self._expect("ready")

    def _expect(self, what: str) -> str:
        assert self.process.stdout is not None
        line = self.process.stdout.readline().strip()
        if not line:
            raise RuntimeError(f"the worker in {self.checkout} stopped before answering ({what})")
        return line

    def one_pass(self) -> float:
        """CPU ms per step of one pass over the clips."""
        assert self.process.stdin is not None
        self.process.stdin.write("\n")
        self.process.stdin.flush()
        return float(self._expect("a pass"))

    def close(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        self.process.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--baseline", type=Path, required=True, help="a checkout of the version to compare with")
    parser.add_argument("--rounds", type=int, default=40)
    args = parser.parse_args()
    baseline = args.baseline.resolve()
    if not (baseline / "benchmarks" / "bench_online.py").is_file():
        parser.error(f"--baseline {baseline}: no benchmarks/bench_online.py there")
    workers = Worker(baseline), Worker(HERE)
    try:
        for worker in workers:  # warm-up
            worker.one_pass()
        passes = [[worker.one_pass() for worker in workers] for _ in range(args.rounds)]
    finally:
        for worker in workers:
            worker.close()
    ratios = sorted(now / before for before, now in passes)
    quartiles = statistics.quantiles(ratios, n=4)
    best_before, best_now = min(p[0] for p in passes), min(p[1] for p in passes)
    print(f"baseline {baseline.name}: median {statistics.median(p[0] for p in passes):.2f} ms per step, "
          f"best {best_before:.2f}")
    print(f"this checkout: median {statistics.median(p[1] for p in passes):.2f} ms per step, best {best_now:.2f}")
    print(f"this / baseline, end to end on the ONNX path, {args.rounds} alternating rounds: median "
          f"{statistics.median(ratios):.2f}x (interquartile {quartiles[0]:.2f}x-{quartiles[2]:.2f}x); "
          f"best against best {best_now / best_before:.2f}x")


if __name__ == "__main__":
    main()
