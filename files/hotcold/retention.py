"""Retention cleanup of the SD hour folders (cron, hourly: ``hotcold cleanup``).

Per device, kind and hour folder: the folder's day comes from its ``.day`` marker (fallback: the
newest file's mtime). The folder is expired when start of (day, hour) + 1 h + retention <= now.
Deletion is instant for readers: every expired hour folder (all devices, all kinds) is first renamed
to a hidden trash name inside its kind folder and recreated empty, and only then are the trash
folders removed, so an hour disappears from view at once, not one slow rmtree at a time. A second or
concurrent run finds the folder gone (ENOENT) and moves on. Leftover trash folders are swept. ``hot/`` is never touched.
"""

import logging
import os
from dataclasses import dataclass

from hotcold import sysd
from hotcold.hours import HourKey, folder_day, hide_folder, hour_start, remove_trash, sweep_trash
from hotcold.layout import ARCHIVE_KINDS, layouts

log = logging.getLogger("hotcold.cleanup")


@dataclass
class Expired:
    device: str
    kind: str
    hour: int
    day: str
    files: int  # visible files deleted by this run (0 if another run got there first)
    removed: bool  # False: another run got there first


def cleanup(config, now):
    """Delete expired hour folders; returns (list of Expired, trash folders swept)."""
    tz = config.tz
    hidden = []  # (device, kind, hour, day, trash path): hidden first, removed after
    swept = 0
    for dev, lay in layouts(config).items():
        for kind in ARCHIVE_KINDS:
            kdir = lay.kind_dir(kind)
            if not os.path.isdir(kdir):
                continue
            swept += sweep_trash(kdir, now)
            retention = config.retention_hours[kind] * 3600.0
            for h in range(24):
                hdir = os.path.join(kdir, str(h))
                day = folder_day(hdir, tz)
                if day is None:
                    continue
                end = hour_start(HourKey(day, h), tz) + 3600.0
                if end + retention > now:
                    continue
                hidden.append((dev, kind, h, day, hide_folder(kdir, h)))
    out = []
    for dev, kind, h, day, trash in hidden:
        removed, n = remove_trash(trash)
        out.append(Expired(dev, kind, h, day, n, removed))
        if removed:
            log.debug("%s: %s/%d of %s expired (retention %dh): %d file(s) deleted", dev, kind, h, day,
                      config.retention_hours[kind], n, extra=sysd.device_field(dev))
    return out, swept
