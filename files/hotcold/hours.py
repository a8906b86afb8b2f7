"""Hour folders and day markers: the 0..23 ring per kind must never mix days.

Each archive hour folder ``<kind>/<h>/`` carries ``.day`` = the local date (in the configured
time zone) of the files it holds, and ``.written`` = "<boot id> <boottime> <wall time>" of the
last time the archiver wrote into it (refreshed at most every WRITTEN_EVERY s of real time).
Boottime is real elapsed time (clock.Clock.boottime), so within one boot it tells the real age of
the folder's content whatever the wall clock did. Before a file for day D goes into folder h:
  * folder missing or empty            -> create it, mark it D
  * marker == D                        -> write
  * content written in this boot, less than min(retention, RING_AGE) ago in real time (a clock
    step, not the ring coming round): nothing is deleted. Of the folder's hour and the file's
    mtime, the one nearer to now stays in ``<kind>/<h>/``; the other goes aside to
    ``<kind>/unsynced-<day>-<HH>/`` (the whole folder renamed there, or the file archived there)
  * marker older than D (missed cleanup, content past retention or from another boot)
                                       -> clear the folder first (rename away, recreate, rmtree)
  * marker newer than D                -> the file belongs to a day whose slot was already reused:
                                          it is past retention, the caller deletes and counts it.
Folders without a marker (written by something else) fall back to the newest file's mtime; folders
without ``.written`` (older hotcold) are judged by the wall clock alone, as before.
"""

import os
import re
import shutil
import uuid
from datetime import datetime, timedelta
from typing import NamedTuple

from hotcold.fsutil import atomic_write, unlink_quiet
from hotcold.layout import ARCHIVE_PLAYLIST, DAY_MARKER, INDEX_JSON, TRASH_PREFIX, kind_of
from hotcold.lock import HourFoldersLock


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


WRITTEN_MARKER = ".written"
WRITTEN_EVERY = 60.0  # s of real time between refreshes of .written while a folder is being written
# The ring of 24 hour folders comes round after 24 h: content last written 23 h ago is the ring's
# normal reuse, content written less than this ago while the folder's day differs is a clock step.
RING_AGE = 22 * 3600.0
UNSYNCED_PREFIX = "unsynced-"
_UNSYNCED = re.compile(r"^unsynced-(\d{4}-\d{2}-\d{2})-(\d{2})(?:~\d+)?$")


class Boot(NamedTuple):
    """Where a moment sits in real elapsed time: the boot, its boottime, and the wall clock then."""
    boot_id: str
    boottime: float
    wall: float

    @classmethod
    def now(cls, clock):
        return cls(clock.boot_id(), clock.boottime(), clock.time())


def read_written(hour_dir):
    """The Boot of a folder's last write (its ``.written``), or None if it has none readable."""
    try:
        with open(os.path.join(hour_dir, WRITTEN_MARKER), encoding="ascii") as f:
            boot_id, boottime, wall = f.read().split()
        return Boot(boot_id, float(boottime), float(wall))
    except (OSError, UnicodeDecodeError, ValueError):
        return None


def write_written(hour_dir, boot):
    """Record ``boot`` (a Boot) as the folder's last write."""
    atomic_write(os.path.join(hour_dir, WRITTEN_MARKER), f"{boot.boot_id} {boot.boottime:.3f} {boot.wall:.3f}\n")


def real_age(hour_dir, boot):
    """Given a folder and the Boot of now: the real seconds since its last recorded write, or None
    if that write was in another boot or is not recorded (then only the wall clock can judge)."""
    last = read_written(hour_dir)
    if last is None or last.boot_id != boot.boot_id:
        return None
    return boot.boottime - last.boottime


def unsynced_name(day, hour, k=0):
    """``unsynced-<day>-<HH>``, with ``~k`` for the k-th folder of that name."""
    return f"{UNSYNCED_PREFIX}{day}-{int(hour):02d}" + (f"~{k}" if k else "")


def parse_unsynced(name):
    """(day, hour) of an unsynced folder's name, or None if the name is not one."""
    m = _UNSYNCED.match(name)
    return (m.group(1), int(m.group(2))) if m else None


def read_marker(hour_dir):
    try:
        with open(os.path.join(hour_dir, DAY_MARKER), encoding="ascii") as f:
            value = f.read().strip()
    except (FileNotFoundError, NotADirectoryError, UnicodeDecodeError):
        return None
    return value if len(value) == 10 else None


def write_marker(hour_dir, day):
    atomic_write(os.path.join(hour_dir, DAY_MARKER), day + "\n")


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


def hide_folder(kind_dir, hour, recreate=True):
    """Rename ``<kind_dir>/<hour>`` (an hour, or an unsynced folder's name) to a hidden trash name
    and recreate it empty unless ``recreate`` is False: for readers the hour is gone at the rename.
    Returns the trash path, or None if the folder was already gone."""
    src = os.path.join(kind_dir, str(hour))
    trash = os.path.join(kind_dir, f"{TRASH_PREFIX}{hour}-{uuid.uuid4().hex[:12]}")
    try:
        os.rename(src, trash)
    except FileNotFoundError:
        trash = None
    if recreate:
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
ASIDE = "aside"  # the folder's recent content was set aside to unsynced-<day>-<HH>, the file goes in
UNSYNCED = "unsynced"  # the file goes to unsynced-<day>-<HH>: the folder's recent content stays


def prepare_hour_folder(kind_dir, hour, day, tz, log=None):
    """Make ``<kind_dir>/<hour>`` ready to receive files of ``day`` by the wall clock alone: the
    module doc without the real-time rule. Returns OK, CLEARED (it held another, older day and was
    emptied) or OLDER (``day`` is older than the folder's day: the file must not go in)."""
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


def set_aside(kind_dir, hour, day):
    """Rename ``<kind_dir>/<hour>`` (holding ``day``) to a free ``unsynced-<day>-<HH>[~k]`` name (without
    the hour's index files) and recreate it empty. Returns (the new path, the media files it holds)."""
    src = os.path.join(kind_dir, str(hour))
    k = 0
    while os.path.exists(dst := os.path.join(kind_dir, unsynced_name(day, hour, k))):
        k += 1
    os.rename(src, dst)
    os.mkdir(src, 0o755)
    for derived in (INDEX_JSON, ARCHIVE_PLAYLIST):  # their URLs name the hour folder, which now holds another day
        unlink_quiet(os.path.join(dst, derived))
    return dst, sum(1 for n in os.listdir(dst) if kind_of(n)[0] is not None)


def unsynced_dir(kind_dir, key, boot):
    """Given a kind folder, an HourKey and the Boot of now: ``<kind_dir>/unsynced-<day>-<HH>``,
    created with its ``.day`` if missing, ``.written`` refreshed. Returns its path."""
    udir = os.path.join(kind_dir, unsynced_name(key.day, key.hour))
    os.makedirs(udir, 0o755, exist_ok=True)
    if read_marker(udir) is None:
        write_marker(udir, key.day)
    write_written(udir, boot)
    return udir


class HourFolders:
    """The archive hour folders of one device as the archiver writes into them: the module doc's
    check once per (kind, hour) and day, cached by the folder's inode (a folder retired and
    recreated by cleanup or another day is checked again), made under the device's HourFoldersLock
    (cleanup holds it from reading a folder's day to renaming the folder away); ``.written``
    refreshed every WRITTEN_EVERY s of real time. ``counters["unsynced"]`` counts the files set aside."""

    def __init__(self, layout, config, clock, counters, log):
        self.layout = layout
        self.tz = config.tz
        self.retention = {k: h * 3600.0 for k, h in config.retention_hours.items()}
        self.clock = clock
        self.counters = counters
        self.log = log
        self.cache = {}  # (kind, hour) -> (st_ino, day, boottime of the last .written)

    def prepare(self, kind, key, mtime):
        """Given a kind, the HourKey of a file and its mtime, make the folder ready; return (status,
        folder the file goes to): (OK | CLEARED | ASIDE, the hour folder), (UNSYNCED, the unsynced
        folder) or (OLDER, None): past retention, the caller deletes it."""
        hdir = self.layout.hour_dir(kind, key.hour)
        boot = Boot.now(self.clock)
        cached = self.cache.get((kind, key.hour))
        if cached is not None and cached[1] == key.day and _same_inode(hdir, cached[0]):
            if boot.boottime - cached[2] >= WRITTEN_EVERY:
                self._mark(kind, key, hdir, boot)
            return OK, hdir
        with HourFoldersLock(self.layout):  # cleanup must not take the folder away while it gets a new day
            status, where = self._check(kind, key, mtime, boot)
            if status in (OK, CLEARED, ASIDE):
                self._mark(kind, key, hdir, boot)  # fresh .written: cleanup's next look sees it written now
        return status, where

    def _mark(self, kind, key, hdir, boot):
        write_written(hdir, boot)
        self.cache[(kind, key.hour)] = (os.stat(hdir).st_ino, key.day, boot.boottime)

    def _check(self, kind, key, mtime, boot):
        """The uncached check of the module doc; returns (status, folder)."""
        kdir = self.layout.kind_dir(kind)
        hdir = self.layout.hour_dir(kind, key.hour)
        os.makedirs(hdir, 0o755, exist_ok=True)
        current = folder_day(hdir, self.tz)
        age = real_age(hdir, boot)
        recent = age is not None and age < min(self.retention.get(kind, RING_AGE), RING_AGE)
        if current in (None, key.day) or not recent:
            status = prepare_hour_folder(kdir, key.hour, key.day, self.tz, self.log)
            return status, (None if status == OLDER else hdir)
        folder_mid = hour_start(HourKey(current, key.hour), self.tz) + 1800.0
        if abs(mtime - boot.wall) < abs(folder_mid - boot.wall):
            dst, n = set_aside(kdir, key.hour, current)
            write_marker(hdir, key.day)
            self.counters["unsynced"] += n
            self.log.warning("%s/%d held %s, written %.0f s ago: a clock step; its %d file(s) set aside to %s, "
                             "kept for their retention", kind, key.hour, current, age, n, dst)
            return ASIDE, hdir
        return UNSYNCED, unsynced_dir(kdir, key, boot)


def _same_inode(path, ino):
    try:
        return os.stat(path).st_ino == ino
    except FileNotFoundError:
        return False
