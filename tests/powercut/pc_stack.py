"""The SD card of the block-layer tests: ext4 image -> recording FUSE layer -> loop device -> ext4 mount,
and plain loop mounts of crash-state images. Everything is undone in ``close()`` (fixtures call it)."""

import os
import re
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

