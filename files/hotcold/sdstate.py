"""Whether a device's SD card takes files: fail, hold, retry, resume; and the drops, one by one.

If the SD cannot take files (ENOSPC once nothing is left to evict, EROFS, EIO...) the files that must
leave RAM stay there: the archiver drops (deletes, counts, logs by name) only the oldest of them, just
enough to keep the tmpfs under its high water, so FFmpeg never dies of ENOSPC. The SD is retried every
``rescan_seconds`` of the monotonic clock (a wall-clock step neither hastens nor stalls a retry) and
archiving resumes by itself. A flush always tries the SD and never drops: what it cannot move stays in
RAM.
"""

import errno

from hotcold.fsutil import unlink_quiet


class SdState:
    """The SD-failure state of one device. ``counters`` is the device's counter dict (errors and
    dropped are counted here); ``log`` is the archiver's logger. Times are monotonic seconds."""

    def __init__(self, device, rescan_seconds, counters, log):
        self.device = device
        self.rescan_seconds = rescan_seconds
        self.counters = counters
        self.log = log
        self.ok = True
        self.error = None  # "ENOSPC: No space left on device" while not ok
        self.retry_at = 0.0

    def waiting(self, mono, flush):
        """Given the monotonic time and whether this is a flush, return True if the SD failed and its
        retry is not due yet (a flush always tries the SD)."""
        return not self.ok and mono < self.retry_at and not flush

    def failed(self, err, mono):
        """Given the OSError of the SD side and the monotonic time, count and log it (once per new
        error) and schedule the next try."""
        self.counters["errors"] += 1
        msg = f"{errno.errorcode.get(err.errno, err.errno)}: {err.strerror or err}"
        if self.ok or self.error != msg:
            self.log.error("%s: the SD card cannot take files (%s); they stay in RAM up to its high water "
                           "(beyond it the oldest are dropped); retrying every %gs", self.device, msg,
                           self.rescan_seconds)
        self.ok = False
        self.error = msg
        self.retry_at = mono + self.rescan_seconds

    def took_files(self):
        """A batch reached the SD: if it had failed, archiving resumes (logged once)."""
        if not self.ok:
            self.log.info("%s: the SD card takes files again: archiving resumed", self.device)
            self.ok = True
            self.error = None

    def drop(self, files, why=None):
        """Given hot files to give up and why (default: the SD's error), delete them from RAM, count and
        log each by name; return their paths (no longer in RAM)."""
        why = why or f"SD not writable: {self.error}"
        gone = set()
        for f in files:
            if unlink_quiet(f.path):
                self.counters["dropped"] += 1
                self.log.warning("%s: dropped %s/%s (%s)", self.device, f.kind, f.name, why)
            gone.add(f.path)
        return gone
