"""Train the audio, visual, fusion and temporal encoders and export the feature store.

See ``python pretrain_encoder.py --help`` and ``pretrained_encoders/cli.py``.
"""

import sys

from pretrained_encoders.cli import main

if __name__ == "__main__":
    sys.exit(main())
