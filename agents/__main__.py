"""``python -m agents``: the same as ``train_agent.py`` (``emo-env train``)."""

import sys

from agents.cli import main

if __name__ == "__main__":
    sys.exit(main(prog="python -m agents"))
