"""``python -m pretrained_encoders``: the same as ``pretrain_encoder.py`` (``emo-env pretrain``)."""

import sys

from emo_env.optional import run_main

if __name__ == "__main__":
    sys.exit(run_main("pretrained_encoders.cli", sys.argv[1:], prog="python -m pretrained_encoders"))
