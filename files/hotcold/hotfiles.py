"""The media files of one device in RAM, as one archive pass sees them."""

import os
import stat
from dataclasses import dataclass

from hotcold.layout import HOT_KINDS, number_of


@dataclass(frozen=True)
class HotFile:
    kind: str
    name: str
    number: int
    mtime: float
    size: int
    path: str


def scan(layout):
    """Given a device layout, return its regular media files in RAM by kind, each list oldest first
    (by mtime, tie-break on the number in the name). Other names (FFmpeg's *.tmp, ours) are skipped."""
    return {kind: _scan_kind(kind, layout.hot_dir(kind)) for kind in HOT_KINDS}


def _scan_kind(kind, folder):
    files = []
    try:
        with os.scandir(folder) as it:
            for e in it:
                n = number_of(kind, e.name)
                if n is None:
                    continue
                try:
                    s = e.stat(follow_symlinks=False)
                except FileNotFoundError:  # archived or deleted while we looked
                    continue
                if stat.S_ISREG(s.st_mode):
                    files.append(HotFile(kind, e.name, n, s.st_mtime, s.st_size, e.path))
    except FileNotFoundError:
        pass
    files.sort(key=lambda f: (f.mtime, f.number))
    return files
