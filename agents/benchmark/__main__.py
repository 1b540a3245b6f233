"""``python -m agents.benchmark``: see :mod:`agents.benchmark`."""

import sys

from emo_env.optional import run_main

if __name__ == "__main__":
    sys.exit(run_main("agents.benchmark.cli", sys.argv[1:], prog="python -m agents.benchmark"))
