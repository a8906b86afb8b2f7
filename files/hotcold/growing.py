"""A growing document file: header + body + tail, where the body only grows at its end.

The open hour's indexes are such documents (docs/DESIGN.md "Why the current-hour indexes live in
RAM"): a JSON list or a playlist that gains a few entries a second while its head (a count, a target
duration) and its tail change. Rendering the whole document from Python objects every second costs
CPU and memory in proportion to the hour's length (18,000 thumbnails late in an hour, per device).
Here the previous file itself is the store of the body: a rewrite writes the new header into a temp
file, copies the old body from the previous file inside the kernel (os.sendfile: no Python object per
entry), appends the new entries and the tail, then renames the temp file over the old one, so readers
see the old or the new document, never a torn one. Python keeps only where the body lies.

The previous file is trusted only if it is still the one this process wrote (same inode, size and
mtime); otherwise ``StaleIndexError`` is raised and the caller rebuilds the document from its source.
"""

import os

from hotcold.fsutil import unlink_quiet, write_all
from hotcold.layout import temp_name


class StaleIndexError(Exception):
    """The previous file is gone or is not the one we wrote: its body cannot be reused."""


class GrowingFile:
    def __init__(self, path):
        self.path = path
        self.body_at = 0  # offset of the body in the file at ``path``
        self.body_len = 0
        self.ident = None  # (st_ino, st_size, st_mtime_ns) of the file we last wrote at ``path``

    def reset(self):
        """Forget the previous file: the next write starts from an empty body."""
        self.body_at = self.body_len = 0
        self.ident = None

    def write(self, dest, head, extra, tail, rename=os.rename):
        """Atomically write ``dest`` = head + previous body + extra + tail (bytes). With ``dest`` =
        ``path`` the written file becomes the new previous file; another ``dest`` (the SD copy) leaves
        it as it was and is put in place by ``rename`` (the checkpoint's ``stage`` on the SD)."""
        src = None
        if self.body_len:
            try:
                src = os.open(self.path, os.O_RDONLY)
            except FileNotFoundError:
                raise StaleIndexError(self.path) from None
        tmp = os.path.join(os.path.dirname(dest), temp_name(os.path.basename(dest)))
        try:
            if src is not None and _ident(os.fstat(src)) != self.ident:
                raise StaleIndexError(self.path)
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            try:
                write_all(fd, head)
                off, left = self.body_at, self.body_len
                while left:
                    n = os.sendfile(fd, src, off, left)
                    if n == 0:
                        raise StaleIndexError(self.path)  # shorter than we wrote it
                    off += n
                    left -= n
                write_all(fd, extra + tail)
                written = os.fstat(fd)
            finally:
                os.close(fd)
            rename(tmp, dest)
        except BaseException:
            unlink_quiet(tmp)
            raise
        finally:
            if src is not None:
                os.close(src)
        if dest == self.path:
            self.body_at = len(head)
            self.body_len += len(extra)
            self.ident = _ident(written)


def _ident(st):
    return (st.st_ino, st.st_size, st.st_mtime_ns)
