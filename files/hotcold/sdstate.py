"""Whether a device's SD card takes files: fail, retry, drop, resume.

If the SD cannot take files (ENOSPC, EROFS, EIO...) the files beyond the hot limits are dropped
(deleted, counted, logged one by one) so the tmpfs never fills and FFmpeg never dies of ENOSPC;
the SD is retried every ``rescan_seconds`` and archiving resumes by itself. A flush always tries
the SD and never drops: what it cannot move stays in RAM.
"""

import errno

from hotcold.fsutil import unlink_quiet


class SdState:
    """The SD-failure state of one device. ``counters`` is the device's counter dict (errors and
    dropped are counted here); ``log`` is the archiver's logger."""

    def __init__(self, device, rescan_seconds, counters, log):
        self.device = device
        self.rescan_seconds = rescan_seconds
        self.counters = counters
        self.log = log
        self.ok = True
        self.error = None  # "ENOSPC: No space left on device" while not ok
        self.retry_at = 0.0

    def waiting(self, now, flush):
        """Given the time and whether this is a flush, return True if the SD failed and its retry is
        not due yet (a flush always tries the SD)."""
        return not self.ok and now < self.retry_at and not flush

    def failed(self, err, now):
        """Given the OSError of the SD side and the time, count and log it (once per new error) and
        schedule the next try."""
        self.counters["errors"] += 1
        msg = f"{errno.errorcode.get(err.errno, err.errno)}: {err.strerror or err}"
        if self.ok or self.error != msg:
            self.log.error("%s: the SD card cannot take files (%s); files beyond the hot limits are dropped "
                           "until it can; retrying every %gs", self.device, msg, self.rescan_seconds)
        self.ok = False
        self.error = msg
        self.retry_at = now + self.rescan_seconds

    def took_files(self):
        """A batch reached the SD: if it had failed, archiving resumes (logged once)."""
        if not self.ok:
            self.log.info("%s: the SD card takes files again: archiving resumed", self.device)
            self.ok = True
            self.error = None

    def drop(self, files):
        """Given hot files the SD cannot take, delete them from RAM, count and log each; return their
        paths (no longer in RAM)."""
        gone = set()
        for f in files:
            if unlink_quiet(f.path):
                self.counters["dropped"] += 1
                self.log.warning("%s: dropped %s/%s (SD not writable: %s)", self.device, f.kind, f.name, self.error)
            gone.add(f.path)
        return gone
