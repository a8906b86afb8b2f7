"""The VM power-cut tests import their helpers (vmharness, vmcheck, vmcut) and the content rule the
guest shares (guest/content.py) from this folder."""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
for p in (HERE, os.path.join(HERE, "guest")):
    if p not in sys.path:
        sys.path.insert(0, p)
