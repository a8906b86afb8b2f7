"""Locks between hotcold processes (flock: the kernel drops them when a holder dies).

One archiver at a time: an flock on ``<run_dir>/archiver.lock``. The daemon, ``archive --once`` and
``flush`` all take it; the lock file holds the owner's pid so ``flush`` can ask a running daemon to
flush (SIGUSR1) instead of racing it.

One actor on a device's hour folders at a time: HourFoldersLock, taken by cleanup from reading a
folder's day to renaming it away, and by the archiver from reading a folder's day to marking it for
a new day, so that cleanup can never take away a folder the archiver has just given to a new day.
"""

import fcntl
import os


class LockBusyError(Exception):
    def __init__(self, pid):
        super().__init__(f"held by pid {pid}")
        self.pid = pid


class ArchiverLock:
    def __init__(self, run_dir):
        self.path = os.path.join(run_dir, "archiver.lock")
        self.fd = None

    def acquire(self, blocking=False):
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
        except BlockingIOError:
            try:
                pid = int(os.pread(fd, 32, 0).decode().strip() or 0)
            except ValueError:
                pid = 0
            os.close(fd)
            raise LockBusyError(pid) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self.fd = fd
        return self

    def release(self):
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *exc):
        self.release()


class HourFoldersLock:
    """Given a device layout: a blocking, exclusive flock on its ``.hours.lock`` for a ``with`` block.
    Held for a few file-system calls only (never across a copy or a sync), so waiting is short."""

    def __init__(self, layout):
        self.path = layout.hours_lock
        self.fd = None

    def __enter__(self):
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        fd = os.open(self.path, os.O_RDONLY | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
        except BaseException:
            os.close(fd)
            raise
        self.fd = fd
        return self

    def __exit__(self, *exc):
        os.close(self.fd)  # closing the only descriptor releases the flock
        self.fd = None
