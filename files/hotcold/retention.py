"""Retention cleanup of the SD hour folders (cron, hourly: ``hotcold cleanup``).

Per device, kind and hour folder: the folder's day comes from its ``.day`` marker (fallback: the
newest file's mtime). The folder is expired when start of (day, hour) + 1 h + retention <= now AND,
when its ``.written`` is from this boot, its last write is at least retention + REAL_MARGIN old in
real elapsed time (hours.py): a clock step forward then cannot expire fresh footage. Across a
reboot (or without ``.written``) the wall clock alone decides. The unsynced folders a clock step
left (``<kind>/unsynced-<day>-<HH>/``) are aged by real time alone within the boot, else by the wall
clock of their last write.
Deletion is instant for readers: every expired hour folder (all devices, all kinds) is first renamed
to a hidden trash name inside its kind folder and recreated empty, and only then are the trash
folders removed, so an hour disappears from view at once, not one slow rmtree at a time. A second or
concurrent run finds the folder gone (ENOENT) and moves on. Leftover trash folders are swept. ``hot/`` is never touched.
Reading a folder's day, judging it and hiding it happen under the device's HourFoldersLock, which the
archiver takes to give a folder a new day (hours.HourFolders): without it the archiver could re-mark
the folder for today and archive into it between the read and the rename, and the rename would take
today's footage away with yesterday's (issue 15, defect 8).
"""

import logging
import os
from dataclasses import dataclass

from hotcold import sysd
from hotcold.clock import Clock
from hotcold.hours import (
    WRITTEN_EVERY,
    Boot,
    HourKey,
    folder_day,
    hide_folder,
    hour_start,
    parse_unsynced,
    read_written,
    real_age,
    remove_trash,
    sweep_trash,
)
from hotcold.layout import ARCHIVE_KINDS, layouts
from hotcold.lock import HourFoldersLock

log = logging.getLogger("hotcold.cleanup")

# ``.written`` is refreshed every WRITTEN_EVERY s, before the writes it covers: the newest content
# can be that much (plus one batch) younger than it says.
REAL_MARGIN = WRITTEN_EVERY + 60.0


@dataclass
class Expired:
    device: str
    kind: str
    hour: int
    day: str
    files: int  # visible files deleted by this run (0 if another run got there first)
    removed: bool  # False: another run got there first
    folder: str = ""  # the folder's name in its kind folder ("7", "unsynced-2024-03-01-07")


def cleanup(config, now, clock=None):
    """Delete expired hour and unsynced folders; returns (list of Expired, trash folders swept).
    ``clock`` gives this boot's real elapsed time (default: the system's)."""
    tz = config.tz
    boot = Boot.now(clock or Clock())
    hidden = []  # (device, kind, hour, day, folder name, trash path): hidden first, removed after
    swept = 0
    for dev, lay in layouts(config).items():
        for kind in ARCHIVE_KINDS:
            kdir = lay.kind_dir(kind)
            if not os.path.isdir(kdir):
                continue
            swept += sweep_trash(kdir, now)
            retention = config.retention_hours[kind] * 3600.0
            for name in _candidates(kdir):
                with HourFoldersLock(lay):  # the archiver cannot give the folder a new day until it is hidden
                    found = _hide_if_expired(kdir, name, retention, now, boot, tz)
                if found is not None:
                    hidden.append((dev, kind, *found))
    out = []
    for dev, kind, h, day, name, trash in hidden:
        removed, n = remove_trash(trash)
        out.append(Expired(dev, kind, h, day, n, removed, name))
        if removed:
            log.debug("%s: %s/%s of %s expired (retention %dh): %d file(s) deleted", dev, kind, name, day,
                      config.retention_hours[kind], n, extra=sysd.device_field(dev))
    return out, swept


def _candidates(kdir):
    """Given a kind folder, the names of the folders cleanup looks at: the hours 0..23, then its
    unsynced folders."""
    with os.scandir(kdir) as it:
        unsynced = [e.name for e in it if e.is_dir(follow_symlinks=False) and parse_unsynced(e.name)]
    return [str(h) for h in range(24)] + sorted(unsynced)


def _hide_if_expired(kdir, name, retention, now, boot, tz):
    """Given a kind folder and a folder name in it (under the device's HourFoldersLock), its kind's
    retention (s), the wall time and the Boot of now: if the folder is expired, hide it (hours.hide_folder)
    and return (hour, day, name, trash path); else None."""
    parsed = parse_unsynced(name)
    hour, day = (parsed[1], parsed[0]) if parsed else (int(name), folder_day(os.path.join(kdir, name), tz))
    if day is None or not _expired(os.path.join(kdir, name), HourKey(day, hour), retention, now, boot, tz):
        return None
    return hour, day, name, hide_folder(kdir, name, recreate=parsed is None)


def _expired(folder, key, retention, now, boot, tz):
    """Given a folder holding ``key``, its kind's retention (s), the wall time and the Boot of now:
    True if its content is past retention (see the module doc)."""
    age = real_age(folder, boot)
    real_expired = age is None or age >= retention + REAL_MARGIN
    if not os.path.basename(folder).startswith("unsynced-"):
        return hour_start(key, tz) + 3600.0 + retention <= now and real_expired
    if age is not None:
        return real_expired
    last = read_written(folder)
    return last is None or last.wall + retention + REAL_MARGIN <= now
