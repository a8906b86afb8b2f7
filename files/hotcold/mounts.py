"""Which file system is mounted where: parsed from /proc/self/mountinfo."""

import os

MOUNTINFO = "/proc/self/mountinfo"


def _unescape(s):
    # mountinfo escapes space, tab, newline and backslash as \ooo
    out = []
    i = 0
    while i < len(s):
        if s[i] == "\\" and i + 3 < len(s) + 0 and s[i + 1:i + 4].isdigit():
            out.append(chr(int(s[i + 1:i + 4], 8)))
            i += 4
        else:
            out.append(s[i])
            i += 1
    return "".join(out)


def mount_table(path=MOUNTINFO):
    """{mount point: fstype}; for stacked mounts the last (visible) one wins."""
    table = {}
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                parts = line.split()
                try:
                    sep = parts.index("-")
                except ValueError:
                    continue
                if len(parts) < sep + 2 or len(parts) < 5:
                    continue
                table[_unescape(parts[4])] = parts[sep + 1]
    except OSError:
        pass
    return table


def mount_of(path, mountinfo=MOUNTINFO):
    """The mount holding ``path`` (the last-listed one with the longest mount point above it): (mount point,
    optional fields such as ``shared:N`` / ``master:N``), or None if mountinfo cannot be read."""
    best = None
    real = os.path.realpath(path)
    try:
        with open(mountinfo, encoding="utf-8", errors="replace") as f:
            for line in f:
                parts = line.split()
                if "-" not in parts or len(parts) < 7:
                    continue
                point = _unescape(parts[4])
                inside = real == point or real.startswith(point.rstrip("/") + "/")
                if inside and (best is None or len(point) >= len(best[0])):
                    best = (point, parts[6:parts.index("-")])
    except OSError:
        return None
    return best


def fstype_of_mount(path, table=None):
    """fstype if ``path`` itself is a mount point, else None."""
    table = mount_table() if table is None else table
    real = os.path.realpath(path)
    if not os.path.ismount(real) and real not in table:
        return None
    return table.get(real)
