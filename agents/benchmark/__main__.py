"""``python -m agents.benchmark``: see :mod:`agents.benchmark`."""

import sys

from agents.benchmark.cli import main

if __name__ == "__main__":
    sys.exit(main())
