"""The latest capture: ``hot/captures/latest.jpg``, a symlink to the newest ``capture_<N>.jpg``.

The archiver swaps it atomically (symlink to a temp name, then rename over) whenever a newer
capture lands, so a reader needs one readlink + one stat: O(1), no glob-and-sort. If the link is
missing, dangling or too old, the reader falls back to one scandir of the (<= ~100) hot captures.
"""

import os

from hotcold.fsutil import unlink_quiet
from hotcold.layout import LATEST_LINK, number_of, temp_name


class NoFreshCaptureError(Exception):
    pass


def swap_link(captures_dir, target_name):
    link = os.path.join(captures_dir, LATEST_LINK)
    tmp = os.path.join(captures_dir, temp_name(LATEST_LINK))
    unlink_quiet(tmp)
    os.symlink(target_name, tmp)
    try:
        os.rename(tmp, link)
    except OSError:
        unlink_quiet(tmp)
        raise


class LatestLink:
    """The archiver's side of one device's latest.jpg: the number it points at, kept newest."""

    def __init__(self, layout, log):
        self.layout = layout
        self.log = log
        self.number = None  # capture number latest.jpg points at, as far as we know

    def offer(self, name):
        """Fast path from inotify: given a new capture's name, point latest.jpg at it if it is newer."""
        n = number_of("captures", name)
        if n is None:
            return
        if self.number is None or n > self.number:
            try:
                swap_link(self.layout.hot_dir("captures"), name)
                self.number = n
            except OSError as e:
                self.log.debug("%s: cannot swap latest.jpg: %s", self.layout.device, e)

    def follow(self, captures):
        """Given the captures in RAM (oldest first), point latest.jpg at the newest if it does not."""
        if not captures:
            return
        newest = captures[-1]
        try:
            cur = os.readlink(self.layout.latest_link)
        except OSError:
            cur = None
        if cur != newest.name:
            try:
                swap_link(self.layout.hot_dir("captures"), newest.name)
            except OSError as e:
                self.log.debug("%s: cannot swap latest.jpg: %s", self.layout.device, e)
                return
        self.number = newest.number


def newest_by_scan(captures_dir):
    """(path, mtime) of the newest capture by (mtime, number), or None."""
    best = None
    try:
        with os.scandir(captures_dir) as it:
            for e in it:
                n = number_of("captures", e.name)
                if n is None:
                    continue
                try:
                    m = e.stat(follow_symlinks=False).st_mtime
                except FileNotFoundError:
                    continue
                if best is None or (m, n) > best[0]:
                    best = ((m, n), e.path)
    except FileNotFoundError:
        return None
    return None if best is None else (best[1], best[0][0])


def via_link(captures_dir):
    """(path, mtime) through latest.jpg, or None if the link is missing or dangling."""
    link = os.path.join(captures_dir, LATEST_LINK)
    try:
        target = os.readlink(link)
    except OSError:
        return None
    path = os.path.join(captures_dir, target)
    if number_of("captures", os.path.basename(target)) is None:
        return None
    try:
        return path, os.stat(path).st_mtime
    except OSError:
        return None


def find_latest(captures_dir, now, max_age):
    """Path of the newest capture if it is at most ``max_age`` s old; else NoFreshCaptureError(reason)."""
    found = via_link(captures_dir)
    how = "latest.jpg"
    if found is None or now - found[1] > max_age:
        scanned = newest_by_scan(captures_dir)
        if scanned is not None and (found is None or scanned[1] > found[1]):
            found = scanned
            how = "scan"
    if found is None:
        if not os.path.isdir(captures_dir):
            raise NoFreshCaptureError(f"no capture folder {captures_dir}")
        raise NoFreshCaptureError(f"no capture in {captures_dir}")
    path, mtime = found
    age = now - mtime
    if age > max_age:
        raise NoFreshCaptureError(
            f"newest capture {os.path.basename(path)} is {age:.1f} s old (limit {max_age:g} s): is FFmpeg running?")
    return path, age, how
