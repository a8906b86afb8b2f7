"""The SD card and RAM of the tests and the bench: ext4 in an image file on a loop device, and tmpfs mounts.
Needs root. Every maker returns something whose ``close()`` undoes it; the caller's registry calls it."""

import ctypes
import os
import subprocess
import time


def run(*cmd):
    """Run a command; raise naming it and its stderr when it fails. Returns its stdout."""
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({r.returncode}): {r.stderr.strip()[-800:]}")
    return r.stdout


def umount(path):
    """Unmount path, retrying a busy mount for 5 s, then detaching it lazily rather than leaving it.
    A path that is no longer a mount point (the test unmounted or removed it) is done: nothing to retry."""
    for _attempt in range(20):
        if not os.path.ismount(path):
            return
        r = subprocess.run(["umount", path], capture_output=True, text=True)
        if r.returncode == 0:
            return
        time.sleep(0.25)
    subprocess.run(["umount", "-l", path], capture_output=True)


def make_ext4(image, size_mb, reserved_percent=0, inodes=None):
    """Given a path, make a sparse ext4 image of size_mb there. Inode tables and journal are written now,
    so no ext4lazyinit thread writes behind a measurement or a recorder. ``reserved_percent=None`` keeps
    mkfs's default root reserve (5 %); 0 lets a test fill the card to the last block."""
    with open(image, "wb") as f:
        f.truncate(size_mb * 1024 * 1024)
    run("mkfs.ext4", "-q", "-F", *(["-m", str(reserved_percent)] if reserved_percent is not None else []),
        *(["-N", str(inodes)] if inodes else []), "-E", "lazy_itable_init=0,lazy_journal_init=0", image)
    return image


class LoopSD:
    """The "SD card": an ext4 image (made here if ``size_mb`` is given) on a loop device, mounted at
    ``mnt`` (its journal replays, as at boot). Write counters from /sys/block/loopN/stat."""

    def __init__(self, image, mnt, size_mb=None, reserved_percent=0, inodes=None, opts=None):
        self.image, self.mnt = image, mnt
        if size_mb is not None:
            make_ext4(image, size_mb, reserved_percent, inodes)
        self.dev = run("losetup", "--find", "--show", image).strip()
        self.name = os.path.basename(self.dev)
        try:
            os.makedirs(mnt, exist_ok=True)
            run("mount", "-t", "ext4", *(["-o", opts] if opts else []), self.dev, mnt)
        except Exception:
            run("losetup", "-d", self.dev)
            raise
        self.mounted = True

    def stat(self):
        """(write I/Os, sectors written) of the block device so far."""
        with open(f"/sys/block/{self.name}/stat") as f:
            v = f.read().split()
        return int(v[4]), int(v[6])

    def sync(self):
        """syncfs of this filesystem only (sync(2) of everything if syncfs fails)."""
        fd = os.open(self.mnt, os.O_RDONLY | os.O_DIRECTORY)
        try:
            if ctypes.CDLL(None, use_errno=True).syncfs(fd) != 0:
                os.sync()
        finally:
            os.close(fd)

    def free_bytes(self):
        s = os.statvfs(self.mnt)
        return s.f_bfree * s.f_frsize

    def close(self):
        """Unmount and detach the loop device (once; a second call does nothing)."""
        if self.mounted:
            self.mounted = False
            umount(self.mnt)
            subprocess.run(["losetup", "-d", self.dev], capture_output=True)


class Tmpfs:
    """A tmpfs of ``size`` mounted at path (made if missing): a device's RAM, or a small SD that fills up."""

    def __init__(self, path, size="64M", opts="mode=0755"):
        self.path = str(path)
        os.makedirs(self.path, exist_ok=True)
        run("mount", "-t", "tmpfs", "-o", f"size={size},{opts}", "tmpfs", self.path)
        self.mounted = True

    def close(self):
        if self.mounted:
            self.mounted = False
            umount(self.path)
