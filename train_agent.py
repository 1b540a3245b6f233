"""Train an agent on AVEmotion-v0, evaluate it on the held-out split, save the policy, report and plots.

The same as ``emo-env train``: see ``python train_agent.py --help`` and ``agents/cli.py``.
"""

import sys

from emo_online.commands import run_command

if __name__ == "__main__":
    sys.exit(run_command("train", sys.argv[1:], prog="train_agent.py"))
