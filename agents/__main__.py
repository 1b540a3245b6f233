"""``python -m agents``: the same as ``train_agent.py`` (``emo-env train``)."""

import sys

from emo_env.optional import run_main

if __name__ == "__main__":
    sys.exit(run_main("agents.cli", sys.argv[1:], prog="python -m agents"))
