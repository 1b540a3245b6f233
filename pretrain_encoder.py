"""Train the audio, visual, fusion and temporal encoders and export the feature store.

The same as ``emo-env pretrain``: see ``python pretrain_encoder.py --help`` and ``pretrained_encoders/cli.py``.
"""

import sys

from emo_online.commands import run_command

if __name__ == "__main__":
    sys.exit(run_command("pretrain", sys.argv[1:], prog="pretrain_encoder.py"))
