"""The audit trail: ``metadata/<hour>/archive.jsonl``, one JSON object per archived file.

Each record: ``{"name", "kind", "size", "mtime", "archived_at"}`` plus ``duration`` and
``program_date_time`` for segments. Appends are one write() per batch and file; readers skip a torn
last line (a kill during the write) and recovery cuts it off.
"""

import json
import os

from hotcold.fsutil import write_all


def encode(records):
    return "".join(json.dumps(r, separators=(",", ":"), sort_keys=True) + "\n" for r in records).encode()


def append_records(path, records, fsync=True):
    """Append ``records`` to the metadata file at ``path`` in one write. Returns (inode, offset, bytes) of
    what was written, or None for no records: the checkpoint keeps them until a flush made them durable."""
    if not records:
        return None
    data = encode(records)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        st = os.fstat(fd)  # the archiver is the file's only writer: the append lands at this size
        write_all(fd, data)
        if fsync:
            os.fsync(fd)
    finally:
        os.close(fd)
    return st.st_ino, st.st_size, data


def read_records(path, kind=None):
    """All well-formed records of a metadata file ([] if missing). With ``kind``, lines that do not
    mention it are skipped unparsed (a cheap pre-filter; the caller still checks ``kind``): an hour
    holds ~29,000 records and an index rebuild wants only its 3,600 segments."""
    out = []
    needle = json.dumps(kind).encode() if kind else None
    try:
        with open(path, "rb") as f:
            for line in f:
                if not line.endswith(b"\n"):
                    break  # torn tail
                if needle is not None and needle not in line:
                    continue
                try:
                    rec = json.loads(line)
                except ValueError:
                    continue
                if isinstance(rec, dict) and "name" in rec:
                    out.append(rec)
    except FileNotFoundError:
        pass
    return out


def repair_tail(path):
    """Cut a torn last line (no trailing newline) left by a kill in the middle of an append."""
    try:
        fd = os.open(path, os.O_RDWR)
    except FileNotFoundError:
        return False
    try:
        size = os.fstat(fd).st_size
        if size == 0:
            return False
        if os.pread(fd, 1, size - 1) == b"\n":
            return False
        # find the last newline
        pos = size
        keep = 0
        while pos > 0:
            start = max(0, pos - 65536)
            chunk = os.pread(fd, pos - start, start)
            i = chunk.rfind(b"\n")
            if i >= 0:
                keep = start + i + 1
                break
            pos = start
        os.ftruncate(fd, keep)
        os.fsync(fd)
        return True
    finally:
        os.close(fd)
