"""Hour folders and day markers: the 0..23 ring per kind must never mix days.

Each archive hour folder ``<kind>/<h>/`` carries ``.day`` = the local date (in the configured
time zone) of the files it holds. Before a file for day D goes into folder h:
  * folder missing or empty            -> create it, mark it D
  * marker == D                        -> write
  * marker older than D (missed cleanup, clock jump)
                                       -> clear the folder first (rename away, recreate, rmtree)
  * marker newer than D                -> the file belongs to a day whose slot was already reused:
                                          it is past retention, the caller deletes and counts it.
Folders without a marker (written by something else) fall back to the newest file's mtime.
"""

import os
import shutil
import uuid
from datetime import datetime, timedelta
from typing import NamedTuple

from hotcold.fsutil import atomic_write
from hotcold.layout import DAY_MARKER, TRASH_PREFIX


class HourKey(NamedTuple):
    day: str  # YYYY-MM-DD, local date in the configured zone
    hour: int  # 0..23

    def __str__(self):
        return f"{self.day} {self.hour:02d}h"


def hour_key(ts, tz):
    dt = datetime.fromtimestamp(ts, tz)
    return HourKey(dt.date().isoformat(), dt.hour)


def hour_start(key, tz):
    """Epoch seconds of the start of that local hour."""
    d = datetime.fromisoformat(key.day)
    return datetime(d.year, d.month, d.day, key.hour, tzinfo=tz).timestamp()


def hour_end(key, tz):
    return hour_start(key, tz) + 3600.0


def day_of(ts, tz):
    return datetime.fromtimestamp(ts, tz).date().isoformat()


def previous_day(day):
    return (datetime.fromisoformat(day) - timedelta(days=1)).date().isoformat()


def read_marker(hour_dir):
    try:
        with open(os.path.join(hour_dir, DAY_MARKER), encoding="ascii") as f:
            value = f.read().strip()
    except (FileNotFoundError, NotADirectoryError, UnicodeDecodeError):
        return None
    return value if len(value) == 10 else None


def write_marker(hour_dir, day, durable=False):
    atomic_write(os.path.join(hour_dir, DAY_MARKER), day + "\n", durable=durable)


def newest_file_day(hour_dir, tz):
    """Day of the newest visible file in the folder (fallback when there is no marker)."""
    newest = None
    try:
        with os.scandir(hour_dir) as it:
            for e in it:
                if e.name.startswith("."):
                    continue
                try:
                    m = e.stat(follow_symlinks=False).st_mtime
                except FileNotFoundError:
                    continue
                if newest is None or m > newest:
                    newest = m
    except FileNotFoundError:
        return None
    return None if newest is None else day_of(newest, tz)


def folder_day(hour_dir, tz):
    """The day a folder holds: its marker, else its newest file's day, else None (empty)."""
    return read_marker(hour_dir) or newest_file_day(hour_dir, tz)


def retire_folder(kind_dir, hour):
    """Make ``<kind_dir>/<hour>`` empty at once: hide it (one rename), then remove what it held.
    Safe to run twice or concurrently: a folder someone else already renamed (ENOENT) is simply
    skipped, and a folder another run has just recreated empty yields nothing.
    Returns (removed, files): removed is True if this call took away a non-empty folder, files the
    number of visible (non-dot) entries it held."""
    return remove_trash(hide_folder(kind_dir, hour))


def hide_folder(kind_dir, hour):
    """Rename ``<kind_dir>/<hour>`` to a hidden trash name and recreate it empty: for readers the
    hour is gone at the rename. Returns the trash path, or None if the folder was already gone."""
    src = os.path.join(kind_dir, str(hour))
    trash = os.path.join(kind_dir, f"{TRASH_PREFIX}{hour}-{uuid.uuid4().hex[:12]}")
    try:
        os.rename(src, trash)
    except FileNotFoundError:
        trash = None
    try:
        os.mkdir(src, 0o755)
    except FileExistsError:
        pass
    return trash


def remove_trash(trash):
    """Delete a folder ``hide_folder`` renamed away. Returns (removed, visible files it held)."""
    if trash is None:
        return False, 0
    try:
        names = os.listdir(trash)
    except OSError:
        names = []
    shutil.rmtree(trash, ignore_errors=True)
    return bool(names), sum(1 for n in names if not n.startswith("."))


TRASH_MIN_AGE = 60.0  # seconds; younger trash may still be being removed by a live run


def sweep_trash(kind_dir, now=None, min_age=TRASH_MIN_AGE):
    """Remove trash folders left by a crash between rename and rmtree. Only trash renamed more than
    ``min_age`` s ago (rename sets the folder's ctime): a concurrent run's fresh trash is its own
    business. Returns how many were removed."""
    import time

    n = 0
    now = time.time() if now is None else now
    try:
        with os.scandir(kind_dir) as it:
            found = [e for e in it if e.name.startswith(TRASH_PREFIX)]
    except FileNotFoundError:
        return 0
    for e in found:
        try:
            if now - e.stat(follow_symlinks=False).st_ctime < min_age:
                continue
        except FileNotFoundError:
            continue
        shutil.rmtree(e.path, ignore_errors=True)
        n += 1
    return n


OK = "ok"
CLEARED = "cleared"
OLDER = "older"


def prepare_hour_folder(kind_dir, hour, day, tz, log=None):
    """Make ``<kind_dir>/<hour>`` ready to receive files of ``day``; see the module doc.

    Returns OK, CLEARED (it held another, older day and was emptied) or OLDER (``day`` is older than
    the folder's day: the file is past retention and must not go in).
    """
    hour_dir = os.path.join(kind_dir, str(hour))
    os.makedirs(hour_dir, 0o755, exist_ok=True)
    marker = read_marker(hour_dir)
    current = marker or newest_file_day(hour_dir, tz)
    if current is None or current == day:
        if marker != day:
            write_marker(hour_dir, day)
        return OK
    if current > day:
        return OLDER
    if log:
        log.warning("%s/%s holds %s, not %s: clearing it before writing (missed cleanup or clock jump)",
                    kind_dir, hour, current, day)
    retire_folder(kind_dir, hour)
    write_marker(hour_dir, day)
    return CLEARED


class HourFolders:
    """The archive hour folders of one device as the archiver writes into them: prepare_hour_folder
    once per (kind, hour) and day, cached by the folder's inode (a folder retired and recreated by
    cleanup or another day is checked again)."""

    def __init__(self, layout, tz, log):
        self.layout = layout
        self.tz = tz
        self.log = log
        self.cache = {}  # (kind, hour) -> (st_ino, day)

    def prepare(self, kind, key):
        """Given a kind and an HourKey, make its hour folder hold key.day; return prepare_hour_folder's
        status ("ok" from the cache), OLDER if the folder holds a newer day."""
        hdir = self.layout.hour_dir(kind, key.hour)
        ck = (kind, key.hour)
        cached = self.cache.get(ck)
        if cached is not None and cached[1] == key.day:
            try:
                if os.stat(hdir).st_ino == cached[0]:
                    return "ok"
            except FileNotFoundError:
                pass
        status = prepare_hour_folder(self.layout.kind_dir(kind), key.hour, key.day, self.tz, self.log)
        if status != OLDER:
            self.cache[ck] = (os.stat(hdir).st_ino, key.day)
        return status
