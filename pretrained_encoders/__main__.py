"""``python -m pretrained_encoders``: the same as ``pretrain_encoder.py`` (``emo-env pretrain``)."""

import sys

from pretrained_encoders.cli import main

if __name__ == "__main__":
    sys.exit(main(prog="python -m pretrained_encoders"))
