#!/usr/bin/env python3
"""Helper of benchmark 4: when does each watched hour folder leave its parent (renamed away or
removed), and when is the file system's free space back to a target?

    gone_watch.py OUT READY MOUNT TARGET_FREE_BYTES PARENT/NAME...

Records time.time() of IN_MOVED_FROM / IN_DELETE (IN_ISDIR) of NAME in PARENT, and polls statvfs
every millisecond until f_bfree*f_frsize >= TARGET. Exits when all are seen, or after 600 s.
"""
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import IN_DELETE, IN_ISDIR, IN_MOVED_FROM, Inotify  # noqa: E402


def main():
    out, ready, mnt, target = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    wanted = {}
    ino = Inotify()
    for spec in sys.argv[5:]:
        parent, name = os.path.split(spec)
        ino.add(parent, IN_MOVED_FROM | IN_DELETE)
        wanted[(parent, name)] = None
    free_at = None
    with open(ready, "w") as f:
        f.write("ready\n")
    end = time.time() + 600
    while time.time() < end and (free_at is None or None in wanted.values()):
        for parent, name, mask in ino.read(0.001):
            if mask & IN_ISDIR and (parent, name) in wanted and wanted[(parent, name)] is None:
                wanted[(parent, name)] = time.time()
        if free_at is None:
            s = os.statvfs(mnt)
            if s.f_bfree * s.f_frsize >= target:
                free_at = time.time()
    with open(out, "w") as f:
        json.dump({"gone": {f"{p}/{n}": t for (p, n), t in wanted.items()}, "free_at": free_at}, f)


if __name__ == "__main__":
    main()
