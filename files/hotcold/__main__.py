"""Entry point: ``PYTHONPATH=files python3 -m hotcold --config FILE <command>``."""

import sys

from hotcold.cli import main

if __name__ == "__main__":
    sys.exit(main())
