"""``python -m emo_online VIDEO [--run PATH] [--out annotated.mp4] [--json] [--fast]``."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
