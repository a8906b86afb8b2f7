"""A full card: make room by evicting old archive, the way Frigate's storage maintainer does.

On ENOSPC the archiver removes the oldest archived hour folder of the (device, kind) with the most to
give (the most bytes in hour folders it may evict), then retries the move. An hour folder may be
evicted when it holds files, its hour started at least ``evict_floor_hours`` hours before the current
hour began (so the current hour never goes, and the newest ``evict_floor_hours`` hours stay), its day is
not in the future (a clock stepped back) and no file of that hour still waits in RAM. Old archive goes
before new footage: nothing is dropped from RAM while something is evictable.

Also here, the other choice of a full RAM: ``over_mark`` picks the oldest files whose removal brings a
tmpfs back under a mark. ``choose`` and ``over_mark`` are pure; ``Evictor`` reads and removes folders.
"""

import os
from dataclasses import dataclass

from hotcold.hours import HourKey, folder_day, hour_key, hour_start, retire_folder
from hotcold.layout import ARCHIVE_KINDS

HOUR = 3600.0
PAGE = 4096  # a tmpfs holds whole pages: a 1-byte file costs 4 KiB


@dataclass(frozen=True)
class HourFolder:
    device: str
    kind: str
    hour: int  # 0..23
    day: str  # the day it holds (its .day marker, else its newest file's day)
    start: float  # epoch seconds of the start of (day, hour)
    files: int  # visible files in it
    bytes: int  # what removing it frees (allocated blocks)


def evictable(f, current_start, floor_hours, protected=frozenset()):
    """Given an HourFolder, the start of the current hour, the floor and the (device, hour start) pairs
    that still have files in RAM, return True if the folder may be evicted."""
    age = round((current_start - f.start) / HOUR)
    return f.files > 0 and age >= max(1, floor_hours) and (f.device, f.start) not in protected


def choose(folders, current_start, floor_hours, protected=frozenset()):
    """Given the archive's hour folders, the start of the current hour (epoch), the floor in hours and
    the protected (device, hour start) pairs, return the folder to evict: the oldest evictable hour of
    the (device, kind) whose evictable hours hold the most bytes. None if nothing is evictable."""
    cands = [f for f in folders if evictable(f, current_start, floor_hours, protected)]
    if not cands:
        return None
    give = {}
    for f in cands:
        give[(f.device, f.kind)] = give.get((f.device, f.kind), 0) + f.bytes
    owner = max(sorted(give), key=lambda k: give[k])  # ties: the first device, then kind, by name
    return min((f for f in cands if (f.device, f.kind) == owner), key=lambda f: f.start)


def over_mark(files, used, total, percent):
    """Given candidate files oldest first (each with ``.size``), the used and total bytes of their
    tmpfs and a percent, return the oldest files whose removal brings the use under ``percent`` of
    ``total``: none if it is under already, all of them if they are not enough."""
    mark = total * percent / 100.0
    out = []
    for f in files:
        if used < mark:
            break
        out.append(f)
        used -= -(-max(f.size, 1) // PAGE) * PAGE
    return out


class Evictor:
    """The archive hour folders of every device, as eviction sees them. Sizes are cached per folder
    by its inode and mtime (a past hour's folder changes only when something evicts or clears it), so
    a card that stays full costs one listing per retry, not a stat of every archived file."""

    def __init__(self, layouts, tz, floor_hours, log):
        self.layouts = layouts  # {device: DeviceLayout}
        self.tz = tz
        self.floor_hours = floor_hours
        self.log = log
        self.sizes = {}  # hour dir -> ((st_ino, st_mtime_ns), files, bytes)

    def folders(self):
        """Return the HourFolder of every non-empty archive hour folder 0..23 of every device."""
        out = []
        for dev, lay in self.layouts.items():
            for kind in ARCHIVE_KINDS:
                for h in range(24):
                    f = self._folder(dev, kind, h, lay.hour_dir(kind, h))
                    if f is not None:
                        out.append(f)
        return out

    def _folder(self, dev, kind, h, hdir):
        """Given a device, kind, hour and its folder, return its HourFolder, or None (missing, no day)."""
        try:
            st = os.stat(hdir)
        except (FileNotFoundError, NotADirectoryError):
            return None
        day = folder_day(hdir, self.tz)
        if day is None:
            return None
        sig = (st.st_ino, st.st_mtime_ns)
        cached = self.sizes.get(hdir)
        if cached is None or cached[0] != sig:
            cached = self.sizes[hdir] = (sig, *_measure(hdir))
        return HourFolder(dev, kind, h, day, hour_start(HourKey(day, h), self.tz), cached[1], cached[2])

    def evict_one(self, now, protected=frozenset()):
        """Given the time and the protected (device, hour start) pairs, remove the folder ``choose``
        picks (hidden at once, then deleted); return it with the files it held, or None."""
        current = hour_start(hour_key(now, self.tz), self.tz)
        f = choose(self.folders(), current, self.floor_hours, protected)
        if f is None:
            return None
        _removed, n = retire_folder(self.layouts[f.device].kind_dir(f.kind), f.hour)
        self.sizes.pop(self.layouts[f.device].hour_dir(f.kind, f.hour), None)
        return HourFolder(f.device, f.kind, f.hour, f.day, f.start, n, f.bytes)


def _measure(hdir):
    """Given a folder, return (visible files, allocated bytes of everything in it)."""
    files = nbytes = 0
    try:
        with os.scandir(hdir) as it:
            for e in it:
                try:
                    st = e.stat(follow_symlinks=False)
                except FileNotFoundError:
                    continue
                nbytes += st.st_blocks * 512
                files += not e.name.startswith(".")
    except FileNotFoundError:
        pass
    return files, nbytes
