"""A recording FUSE layer over one image file: the "SD card" of the block-layer crash tests.

    python3 pc_recfs.py IMAGE MOUNTPOINT LOG COUNTER [FAULTS]

exposes IMAGE as ``MOUNTPOINT/sd.img`` (fusepy over Debian's libfuse2, single-threaded so the log
order is the order the kernel's requests arrived in). The loop device backed by that file turns every
block write into a ``write`` here and every flush (REQ_PREFLUSH, and FUA, which loop emulates with a
flush) into an ``fsync``. Each one is appended to LOG, in order, as a record (see ``WriteLog``), with
CLOCK_MONOTONIC time so the test process can line it up with its own events. The number of fsyncs
done so far is kept in the 8-byte file COUNTER (mmap'd): the test reads it at the moment the archiver
unlinks a file from RAM.

FAULTS (optional, a JSON file re-read when its mtime changes) makes chosen operations fail with EIO:
``{"write_eio_p": 0.1, "fsync_eio_p": 0.2, "write_eio": true, "fsync_eio": true}`` (probability,
or every time). ``"protect": [[first byte, end byte], ...]`` and ``"min_len": n`` spare writes that
touch a protected range (the journal) or are shorter than n bytes (metadata blocks), so file data
fails while ext4's journal keeps working; ``"only": [[first byte, end byte], ...]`` fails only writes
that touch one of these ranges (one file's blocks). A failed write is not applied and is logged as such; a
failed fsync is no barrier.
"""

import errno
import json
import mmap
import os
import random
import stat
import struct
import sys
import time

from fuse import FUSE, FuseOSError, Operations

NAME = "sd.img"
# Record headers: a write (offset, length, time, applied) followed by its bytes; an fsync (its
# number, time, ok); a close-time flush (time), which is no durability barrier.
W = struct.Struct("<cQIdB")
F = struct.Struct("<cQdB")
C = struct.Struct("<cd")


class Recorder(Operations):
    """Given the image, the log and counter paths, serve the image and record every write and fsync."""

    def __init__(self, image, log_path, counter_path, faults_path=None):
        self.image = image
        self.fd = os.open(image, os.O_RDWR)
        self.log = open(log_path, "ab", buffering=1 << 20)
        with open(counter_path, "r+b") as f:
            self.counter = mmap.mmap(f.fileno(), 8)
        self.fsyncs = 0
        self.faults_path = faults_path
        self.faults = {}
        self.faults_mtime = None
        self.rng = random.Random(os.getpid())

    def _fault(self, op, offset=0, length=0):
        """True if ``op`` ("write" or "fsync") must fail now (FAULTS file, re-read on change)."""
        if not self.faults_path:
            return False
        try:
            m = os.stat(self.faults_path).st_mtime_ns
        except FileNotFoundError:
            self.faults, self.faults_mtime = {}, None
            return False
        if m != self.faults_mtime:
            try:
                with open(self.faults_path) as f:
                    self.faults = json.load(f)
                self.faults_mtime = m
            except (OSError, ValueError):
                return False  # being rewritten: read it next time
        if op == "write" and (length < self.faults.get("min_len", 0) or any(
                offset < hi and lo < offset + length for lo, hi in self.faults.get("protect", ()))):
            return False
        only = self.faults.get("only")
        if op == "write" and only and not any(offset < hi and lo < offset + length for lo, hi in only):
            return False
        if self.faults.get(f"{op}_eio"):
            return True
        p = self.faults.get(f"{op}_eio_p", 0)
        return p > 0 and self.rng.random() < p

    def getattr(self, path, fh=None):
        if path == "/":
            return {"st_mode": stat.S_IFDIR | 0o755, "st_nlink": 2}
        if path != "/" + NAME:
            raise FuseOSError(errno.ENOENT)
        st = os.fstat(self.fd)
        return {"st_mode": stat.S_IFREG | 0o644, "st_nlink": 1, "st_size": st.st_size,
                "st_mtime": st.st_mtime, "st_atime": st.st_atime, "st_ctime": st.st_ctime}

    def readdir(self, path, fh):
        return [".", "..", NAME]

    def open(self, path, flags):
        if path != "/" + NAME:
            raise FuseOSError(errno.ENOENT)
        return 0

    def read(self, path, size, offset, fh):
        return os.pread(self.fd, size, offset)

    def write(self, path, data, offset, fh):
        if self._fault("write", offset, len(data)):
            self.log.write(W.pack(b"W", offset, len(data), time.monotonic(), 0))
            self.log.write(data)
            raise FuseOSError(errno.EIO)
        os.pwrite(self.fd, data, offset)
        self.log.write(W.pack(b"W", offset, len(data), time.monotonic(), 1))
        self.log.write(data)
        return len(data)

    def truncate(self, path, length, fh=None):
        raise FuseOSError(errno.EPERM)  # the image never changes size under the loop device

    def fsync(self, path, datasync, fh):
        if self._fault("fsync"):
            self.log.write(F.pack(b"F", self.fsyncs, time.monotonic(), 0))
            raise FuseOSError(errno.EIO)
        self.fsyncs += 1
        self.log.write(F.pack(b"F", self.fsyncs, time.monotonic(), 1))
        self.log.flush()
        self.counter[:8] = struct.pack("<Q", self.fsyncs)
        return 0

    def flush(self, path, fh):
        self.log.write(C.pack(b"C", time.monotonic()))
        return 0

    def release(self, path, fh):
        return 0

    def statfs(self, path):
        return {"f_bsize": 4096, "f_frsize": 4096, "f_blocks": 1, "f_bavail": 0, "f_bfree": 0, "f_namemax": 255}

    def destroy(self, path):
        self.log.flush()
        self.log.close()
        os.close(self.fd)


class WriteLog:
    """Given a LOG written by ``Recorder``, the ordered list of its writes and fsyncs.

    ``entries``: ("W", offset, length, time, applied, data position in LOG) or ("F", number, time, ok);
    ``barriers[k]`` is the index in ``entries`` of the k-th successful fsync (k >= 1)."""

    def __init__(self, path):
        self.path = path
        self.entries = []
        self.barriers = [None]
        with open(path, "rb") as f:
            self.data = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) if os.fstat(f.fileno()).st_size else b""
        pos, end = 0, len(self.data)
        while pos < end:
            tag = self.data[pos:pos + 1]
            if tag == b"W":
                _, off, n, t, applied = W.unpack_from(self.data, pos)
                pos += W.size
                self.entries.append(("W", off, n, t, applied, pos))
                pos += n
            elif tag == b"F":
                _, num, t, ok = F.unpack_from(self.data, pos)
                pos += F.size
                if ok:
                    self.barriers.append(len(self.entries))
                self.entries.append(("F", num, t, ok))
            elif tag == b"C":
                pos += C.size
            else:
                raise ValueError(f"{path}: bad record tag {tag!r} at byte {pos}")

    @property
    def flushes(self):
        return len(self.barriers) - 1

    def flush_time(self, k):
        return self.entries[self.barriers[k]][2]

    def writes_between(self, k):
        """Indexes of the applied writes after barrier k and before barrier k+1 (or the log's end)."""
        start = 0 if k == 0 else self.barriers[k] + 1
        stop = self.barriers[k + 1] if k + 1 < len(self.barriers) else len(self.entries)
        return [i for i in range(start, stop) if self.entries[i][0] == "W" and self.entries[i][4]]

    def apply(self, fd, indexes):
        """Write the logged writes ``indexes`` (in log order) into the open image ``fd``."""
        for i in sorted(indexes):
            _, off, n, _t, _a, p = self.entries[i]
            os.pwrite(fd, self.data[p:p + n], off)


def main(argv):
    image, mountpoint, log_path, counter_path = argv[1:5]
    faults = argv[5] if len(argv) > 5 else None
    # big_writes: the loop device's writes arrive whole (up to 128 KiB) instead of in 4 KiB pieces, so a
    # file's data and ext4's 1 KiB metadata blocks can be told apart by length (FAULTS min_len)
    FUSE(Recorder(image, log_path, counter_path, faults), mountpoint, foreground=True, nothreads=True,
         allow_other=True, big_writes=True, max_write=131072)


if __name__ == "__main__":
    main(sys.argv)
