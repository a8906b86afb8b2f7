"""The SD card of the block-layer tests: ext4 image -> recording FUSE layer -> loop device -> ext4 mount,
and plain loop mounts of crash-state images. Everything is undone in ``close()`` (fixtures call it)."""

import dataclasses
import fcntl
import os
import re
import struct
import subprocess
import sys
import time

from testsupport.mounts import LoopSD, Tmpfs, make_ext4, run

HERE = os.path.dirname(os.path.abspath(__file__))
RECFS = os.path.join(HERE, "pc_recfs.py")


def make_image(path, size_mb):
    """Given a path, make a sparse ext4 image of size_mb there (testsupport.mounts.make_ext4: no root
    reserve, inode tables and journal written now, so no lazy-init thread writes behind the recorder's back)."""
    make_ext4(path, size_mb)


def journal_range(image):
    """[first byte, end byte] of the ext4 journal (inode 8) in ``image`` (debugfs, dumpe2fs)."""
    bs = int(re.search(r"Block size:\s+(\d+)", run("dumpe2fs", "-h", image)).group(1))
    ext = re.findall(r"\(\d+-\d+\):(\d+)-(\d+)", run("debugfs", "-R", "stat <8>", image))
    if not ext:
        raise RuntimeError(f"{image}: no journal extents from debugfs")
    return [min(int(a) for a, _ in ext) * bs, (max(int(b) for _, b in ext) + 1) * bs]


class Mounts:
    """Mounts, loop devices and FUSE processes made by a test, undone in reverse order by close()."""

    def __init__(self):
        self.undo = []  # ("mount", (path, LoopSD or Tmpfs)) or ("fuse", (mountpoint, process))

    def mount_loop(self, image, path, opts=None):
        """Loop-mount an ext4 image at path (its journal replays, as at boot); returns the loop device."""
        sd = LoopSD(image, path, opts=opts)
        self.undo.append(("mount", (path, sd)))
        return sd.dev

    def tmpfs(self, path, size="64M"):
        """Mount a tmpfs of size at path; returns path."""
        self.undo.append(("mount", (path, Tmpfs(path, size))))
        return path

    def recorder(self, image, mountpoint, log_path, counter_path, faults_path=None, python=sys.executable):
        """Start the recording FUSE layer over ``image``; returns the path of the file it exposes."""
        os.makedirs(mountpoint, exist_ok=True)
        with open(counter_path, "wb") as f:
            f.write(b"\0" * 8)
        cmd = [python, RECFS, image, mountpoint, log_path, counter_path] + ([faults_path] if faults_path else [])
        err = open(log_path + ".stderr", "wb")
        proc = subprocess.Popen(cmd, stderr=err, stdout=err)
        err.close()
        self.undo.append(("fuse", (mountpoint, proc)))
        exposed = os.path.join(mountpoint, "sd.img")
        end = time.monotonic() + 20
        while not os.path.ismount(mountpoint):
            if proc.poll() is not None or time.monotonic() > end:
                with open(log_path + ".stderr") as f:
                    raise RuntimeError(f"recording FUSE layer did not mount: {f.read()[-2000:]}")
            time.sleep(0.02)
        return exposed

    def recorded_sd(self, workdir, size_mb=64, opts=None):
        """A fresh ext4 image on the recording layer (with a FAULTS file), loop-mounted at
        ``workdir/sd`` (with mount options ``opts``); returns its RecordedSD."""
        back, pristine = os.path.join(workdir, "back.img"), os.path.join(workdir, "pristine.img")
        make_image(back, size_mb)
        subprocess.run(["cp", "--sparse=always", back, pristine], check=True)
        log, faults = os.path.join(workdir, "writes.log"), os.path.join(workdir, "faults.json")
        exposed = self.recorder(back, os.path.join(workdir, "fuse"), log, os.path.join(workdir, "counter"), faults)
        sd = os.path.join(workdir, "sd")
        self.mount_loop(exposed, sd, opts=opts)
        return RecordedSD(sd, pristine, log, faults)

    def durable_state(self, workdir, sd):
        """Mount, at ``workdir/durable``, the image of RecordedSD ``sd`` as of its last successful flush (what a
        power cut right then leaves); returns the mount point."""
        from pc_recfs import WriteLog
        wl = WriteLog(sd.log)
        img = os.path.join(workdir, "durable.img")
        subprocess.run(["cp", "--sparse=always", sd.pristine, img], check=True)
        fd = os.open(img, os.O_RDWR)
        try:
            last = wl.barriers[wl.flushes] if wl.flushes else 0
            wl.apply(fd, [i for i in range(last) if wl.entries[i][0] == "W" and wl.entries[i][4]])
        finally:
            os.close(fd)
        path = os.path.join(workdir, "durable")
        self.mount_loop(img, path)
        return path

    def unmount(self, path):
        """Unmount one mount made here (and forget it)."""
        for u in [u for u in self.undo if u[0] == "mount" and u[1][0] == path]:
            self.undo.remove(u)
            u[1][1].close()

    def close(self):
        """Undo everything, newest first; a busy mount is detached lazily rather than left behind."""
        errors = []
        while self.undo:
            kind, what = self.undo.pop()
            try:
                if kind == "mount":
                    what[1].close()
                elif kind == "fuse":
                    mountpoint, proc = what
                    if os.path.ismount(mountpoint):
                        subprocess.run(["fusermount", "-u", mountpoint], capture_output=True)
                    try:
                        proc.wait(timeout=30)
                    except subprocess.TimeoutExpired:
                        proc.kill()
                        proc.wait(timeout=10)
            except Exception as e:  # keep undoing the rest
                errors.append(f"{kind} {what}: {e}")
        if errors:
            raise RuntimeError("teardown: " + "; ".join(errors))



@dataclasses.dataclass
class RecordedSD:
    """An ext4 "SD" on the recording layer (see Mounts.recorded_sd)."""
    path: str  # its mount point
    pristine: str  # the image as made, before any logged write
    log: str  # the recorder's write log
    faults: str  # the FAULTS file (pc_faults.set_faults)


def physical_ranges(path, sync=True):
    """[[first byte, end byte], ...] of a file's extents on its device (FIEMAP, synced first unless ``sync`` is
    False): what a FAULTS ``only`` entry needs to fail this one file's writes (the loop device's offsets are the
    image's)."""
    count = 32
    buf = bytearray(struct.pack("=QQIIII", 0, 2**64 - 1, int(sync), 0, count, 0) + b"\0" * (56 * count))  # FLAG_SYNC
    with open(path, "rb") as f:
        fcntl.ioctl(f.fileno(), 0xC020660B, buf)  # FS_IOC_FIEMAP
    mapped = struct.unpack_from("=I", buf, 20)[0]
    out = []
    for i in range(mapped):
        _logical, physical, length = struct.unpack_from("=QQQ", buf, 32 + 56 * i)
        out.append([physical, physical + length])
    return out
