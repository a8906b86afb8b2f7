"""Small file-system helpers: atomic writes, directory fsync, syncfs."""

import ctypes
import errno
import filecmp
import os

from hotcold.layout import temp_name

_libc = None


def _get_libc():
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)
    return _libc


def syncfs(path):
    """Flush every dirty page of the file system holding ``path`` to the device, in ONE call.

    Python has no os.syncfs, so it is called through ctypes from libc (glibc >= 2.14). The archiver
    copies a batch of files and then needs them on the card before it renames them into place:
    one syncfs covers the whole batch, where an fsync per file would force one ext4 journal commit
    per file (the SD card's write amplification is what this project exists to avoid). Since Linux
    5.8 syncfs reports write-back errors (EIO) of the file system, but only those recorded after the
    descriptor it is called on was opened: see ErrorWatch for the archiver's long-lived one.
    Falls back to os.sync() if libc has no syncfs.
    """
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        _syncfs_fd(fd, path)
    finally:
        os.close(fd)


def _syncfs_fd(fd, path):
    fn = getattr(_get_libc(), "syncfs", None)
    if fn is None:
        os.sync()
        return
    if fn(fd) != 0:
        e = ctypes.get_errno()
        raise OSError(e, f"syncfs: {os.strerror(e)}", path)


class ErrorWatch:
    """A descriptor kept open on the SD file system, so that syncfs reports EVERY write-back error since.

    syncfs reports the errors recorded after the descriptor it is called on was opened (errseq). A data
    write that failed in the kernel's background write-back before a freshly opened descriptor goes
    unseen, and the RAM copy of a file whose data never reached the card would be released (the
    power-cut harness's disk-error case showed it). The archiver opens one at start and syncs through it:
    each error is reported once, at the first syncfs after it."""

    def __init__(self, path):
        self.fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        self.dev = os.fstat(self.fd).st_dev

    def syncfs(self, path):
        """syncfs of the file system holding ``path``: through the watch if it is the watched one."""
        if self.fd is None or os.stat(path).st_dev != self.dev:
            syncfs(path)
            return
        _syncfs_fd(self.fd, path)

    def close(self):
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


RENAME_NOREPLACE = 1  # linux/fs.h
AT_FDCWD = -100


def rename_noreplace(src, dst):
    """Rename ``src`` to ``dst`` unless ``dst`` exists (FileExistsError then), atomically.

    os.rename replaces an existing file without a word; an archive must never lose a recording to a
    repeated name. renameat2(RENAME_NOREPLACE) (Linux 3.15, glibc 2.28) checks and renames in one step;
    where the file system refuses the flag (EINVAL), a hard link (which never replaces) plus an unlink
    of the source does the same."""
    fn = getattr(_get_libc(), "renameat2", None)
    if fn is not None:
        if fn(AT_FDCWD, os.fsencode(src), AT_FDCWD, os.fsencode(dst), RENAME_NOREPLACE) == 0:
            return
        e = ctypes.get_errno()
        if e != errno.EINVAL:
            raise OSError(e, os.strerror(e), dst) if e != errno.EEXIST else FileExistsError(e, os.strerror(e), dst)
    os.link(src, dst)
    os.unlink(src)


def same_content(a, b):
    """True if the files ``a`` and ``b`` hold the same bytes (sizes first, then the content)."""
    return filecmp.cmp(a, b, shallow=False)


def atomic_write(path, data, mode=0o644, mtime=None, rename=os.rename):
    """Write ``data`` (bytes or str) to ``path`` via a hidden temp name + rename.

    Readers see the old or the new content, never a torn one. Nothing is flushed: a document on the SD
    passes ``rename`` = its checkpoint's ``stage``, which renames the temp file into place only after the
    next flush made its content durable (checkpoint.py), so a power cut leaves the old document or none,
    never a torn one.
    """
    if isinstance(data, str):
        data = data.encode("utf-8")
    d = os.path.dirname(path) or "."
    tmp = os.path.join(d, temp_name(os.path.basename(path)))
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        write_all(fd, data)
    except BaseException:
        os.close(fd)
        unlink_quiet(tmp)
        raise
    os.close(fd)
    try:
        if mtime is not None:
            os.utime(tmp, (mtime, mtime))
        rename(tmp, path)
    except BaseException:
        unlink_quiet(tmp)
        raise


def unlink_quiet(path):
    """Unlink; a file that is already gone is fine. Returns True if this call removed it."""
    try:
        os.unlink(path)
        return True
    except FileNotFoundError:
        return False


def makedirs(path, mode=0o755):
    os.makedirs(path, mode=mode, exist_ok=True)


def disk_usage(path):
    """(total_bytes, free_bytes, used_percent) of the file system holding path, or None."""
    try:
        st = os.statvfs(path)
    except OSError:
        return None
    total = st.f_blocks * st.f_frsize
    free = st.f_bavail * st.f_frsize
    used = (st.f_blocks - st.f_bfree) * st.f_frsize
    pct = 100.0 * used / total if total else 0.0
    return total, free, pct


SD_ERRNOS = {errno.ENOSPC, errno.EROFS, errno.EIO, errno.EDQUOT, errno.EACCES, errno.EPERM}


def write_all(fd, data):
    """os.write until every byte is written (a single write may be short)."""
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]
