"""Is each device's hot folder its tmpfs, and still the same one? Mount events, one device at a time.

The archiver runs in its own mount namespace (ProtectSystem=strict and friends), which systemd makes a slave
of the host's: a tmpfs stopped, unmounted, mounted again or lazily detached on the host is seen here too, as
long as the host's ``/`` is a shared mount (systemd makes it one at boot on every host that is not a
container; docs/DESIGN.md "Mount events"). A device's tmpfs is known by its device number (``st_dev``: a new
tmpfs is a new number) and must be a tmpfs mount point (``/proc/self/mountinfo``); anything else is the SD
card underneath the mount point, where nothing of the device may be read or written.

The daemon asks ``HotMounts.check`` about once a second, and so follows each device's tmpfs on its own:
one device's mount event never stops the archiving of the others.
"""

import logging
import os
import secrets

from hotcold import sysd
from hotcold.checkpoint import ensure_outbox
from hotcold.layout import HOT_KINDS
from hotcold.mounts import mount_of, mount_table

log = logging.getLogger("hotcold.hotmount")

TMPFS = "tmpfs"
# What a tmpfs needs for FFmpeg and the archiver: the media folders and the RAM indexes' folder.
HOT_SUBDIRS = (*HOT_KINDS, "index")
# A token the archiver leaves in each tmpfs it follows: a tmpfs mounted anew has none. The device number
# alone cannot tell: the kernel hands a freed one to the next tmpfs (test_hotmount shows it).
MARKER = ".hotcold-tmpfs"


def is_mount_point(hot):
    """Given a hot folder, return True if a file system is mounted on it (two stats: cheap enough for every
    write into it)."""
    return os.path.ismount(hot)


def problem(hot, table=None):
    """Given a hot folder (and optionally the mount table), return None if it is a tmpfs mount point, else
    what it is instead ("is missing", "is not a mount point", "is a <type> mount, not a tmpfs")."""
    if not os.path.isdir(hot):
        return "is missing"
    fstype = (mount_table() if table is None else table).get(os.path.realpath(hot))
    if fstype is None:
        return "is not a mount point (its tmpfs is not mounted)"
    if fstype != TMPFS:
        return f"is a {fstype} mount, not a {TMPFS}"
    return None


def identity(hot, table=None):
    """Given a hot folder, return (st_dev, marker) of the tmpfs mounted on it (marker: the token an archiver
    left in it, None if none has yet), or None if it is not a tmpfs mount point."""
    if problem(hot, table) is not None:
        return None
    try:
        dev = os.stat(hot).st_dev
    except OSError:  # unmounted between the two looks: missing, the next check sees it
        return None
    try:
        with open(os.path.join(hot, MARKER), encoding="ascii") as f:
            return dev, f.read().strip() or None
    except (OSError, UnicodeDecodeError):
        return dev, None


def hears_the_host(hot, mountinfo=None):
    """Given a hot folder, return False if mount events of the host do not reach this mount namespace at it
    (the mount holding it is no ``master:`` slave of the host's, as in a container whose ``/`` is private),
    True if they do, None if mountinfo cannot be read. Meaningful only in a namespace of its own."""
    found = mount_of(os.path.dirname(hot), **({"mountinfo": mountinfo} if mountinfo else {}))
    if found is None:
        return None
    return any(field.startswith("master:") for field in found[1])


def adopt(hot):
    """Given a tmpfs hot folder, create its subfolders (a tmpfs mounted anew is empty, mode 0750) and leave a
    marker in it if it has none; return its identity (as ``identity``)."""
    for sub in HOT_SUBDIRS:
        os.makedirs(os.path.join(hot, sub), mode=0o750, exist_ok=True)
    ident = identity(hot)
    if ident is not None and ident[1] is None:
        with open(os.path.join(hot, MARKER), "w", encoding="ascii") as f:
            f.write(secrets.token_hex(8) + "\n")
        ident = identity(hot)
    return ident


class HotMounts:
    """The tmpfs identity of every device, as last seen."""

    UNKNOWN = object()

    def __init__(self, layouts):
        self.layouts = layouts  # device -> DeviceLayout
        self.seen = dict.fromkeys(layouts, self.UNKNOWN)  # device -> st_dev of its tmpfs, or None

    def missing(self):
        """The devices whose tmpfs is not mounted, as last checked."""
        return sorted(d for d, ident in self.seen.items() if ident is None)

    def check(self):
        """Look at every device's hot folder. Return (lost, found): devices whose tmpfs went away, and devices
        whose tmpfs is new (first check, mounted again, replaced); the found ones get their folders."""
        table = mount_table()
        lost, found = [], []
        for dev, lay in self.layouts.items():
            before = self.seen[dev]
            ident = identity(lay.hot, table)
            if ident is not None and ident != before:
                ident = self._adopt(dev, lay.hot)
            if ident == before:
                continue
            self.seen[dev] = ident
            if ident is None:
                if before is not None:  # UNKNOWN (start) or a tmpfs that went away
                    log.warning("%s: hot folder %s %s: nothing of %s is archived until it is back", dev, lay.hot,
                                problem(lay.hot, table) or "went away", dev, extra=sysd.device_field(dev))
                    lost.append(dev)
                continue
            if before is not self.UNKNOWN:
                log.warning("%s: tmpfs at %s %s: following it", dev, lay.hot,
                            "mounted again" if before is None else "replaced by another", extra=sysd.device_field(dev))
            found.append(dev)
        return lost, found

    def warn_if_deaf(self):
        """Log once, at start, each hot folder that mount events of the host do not reach (see hears_the_host):
        a tmpfs mounted there again is not seen until the archiver restarts."""
        for dev, lay in self.layouts.items():
            if hears_the_host(lay.hot) is False:
                log.warning("%s: mount events of the host do not reach this archiver at %s (its mount namespace "
                            "is no slave of the host's: is / a private mount, as in a container? `mount "
                            "--make-rshared /` fixes it): a tmpfs mounted there again is not seen until the "
                            "archiver restarts", dev, lay.hot, extra=sysd.device_field(dev))

    def _adopt(self, dev, hot):
        """Make a new tmpfs's folders (its outbox too) and marker; return its identity, None (logged) if that
        fails."""
        try:
            ident = adopt(hot)
            if ident is not None:
                ensure_outbox(self.layouts[dev])
            return ident
        except OSError as e:
            log.error("%s: cannot prepare its tmpfs %s: %s", dev, hot, e, extra=sysd.device_field(dev))
            return None
