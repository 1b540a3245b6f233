"""Train an agent on AVEmotion-v0, evaluate it on the held-out split, save the policy, report and plots.

See ``python train_agent.py --help`` and ``agents/cli.py``.
"""

import sys

from agents.cli import main

if __name__ == "__main__":
    sys.exit(main())
