"""What the VM power-cut writer writes, recomputable from the file's name alone.

Shared by the guest (guest.py, under the guest's plain python3) and the host's checks: the bytes of
``<device>/<name>`` come from a PRNG seeded with that string, so the host knows the exact content of
every file the guest may have written without the guest telling it.
"""

import random
import re

KINDS = ("captures", "thumbnails", "segments")
NAME = {
    "captures": "capture_{n}.jpg",
    "thumbnails": "capture_{n}_thumbnail.jpg",
    "segments": "segment_{n}.ts",
}
PATTERNS = {
    "captures": re.compile(r"^capture_(\d+)\.jpg$"),
    "thumbnails": re.compile(r"^capture_(\d+)_thumbnail\.jpg$"),
    "segments": re.compile(r"^segment_(\d+)\.ts$"),
}
# The plan's rates (files per second per device).
RATES = {"captures": 2.0, "thumbnails": 5.0, "segments": 1.0}


def name_for(kind, n):
    """Given a kind and a number, return the FFmpeg-style file name."""
    return NAME[kind].format(n=n)


def kind_of(name):
    """Given a file name, return its kind, or None if it is not a media file."""
    for kind, pat in PATTERNS.items():
        if pat.match(name):
            return kind
    return None


def content(device, name, sizes):
    """Given a device, a media file name and the mean size per kind, return the file's bytes
    (between half and 1.5 times the mean size, never empty)."""
    rng = random.Random(f"{device}/{name}")
    mean = sizes[kind_of(name)]
    return rng.randbytes(rng.randint(max(1, mean // 2), mean + mean // 2))
