"""What the system-level reliability tests share: an FFmpeg-like writer, the archiver daemon as a
process, and the accounting that proves nothing was lost.

The daemon is the real one (``python3 -m hotcold archive`` under Debian's python3), the hot folders
are real tmpfs mounts and the SD card is a real ext4 filesystem in a loop-mounted image file
(``env.sd_ext4``), so ENOSPC, EROFS and syncfs behave as on a host.
"""

import hashlib
import os
import re
import signal
import subprocess
import threading
import time

from testsupport import writer
from testsupport.writer import KINDS, PLAN_RATES, PLAN_SIZES  # noqa: F401  (the tests import them here)


class Writer(writer.Writer):
    """testsupport's FFmpeg-like writer on an Env's hot folders: random bytes around the plan's sizes
    (``sizes`` overrides), at ``factor`` x the plan's rates, the sha256 of every produced file kept;
    ``clock()`` gives the mtime files get (a jumped wall clock in the clock test)."""

    def __init__(self, env, devices, factor=1.0, sizes=None, live=6, clock=None, seed=7, first=1):
        super().__init__(env.hot, devices, writer.random_content(sizes, seed), factor=factor, first=first,
                         live=live, clock=clock)


class Daemon:
    """``python3 -m hotcold archive`` as a child process, stderr to ``<tmp>/daemon.log``."""

    def __init__(self, env):
        self.env = env
        self.log_path = os.path.join(env.tmp, "daemon.log")
        self.proc = None

    def start(self, wait_for=None):
        with open(self.log_path, "ab") as err:
            self.proc = self.env.popen("archive", stdout=subprocess.DEVNULL, stderr=err)
        if wait_for is not None:
            beat = os.path.join(self.env.run_dir, "archiver.json")
            want = f'"pid": {self.proc.pid},'

            def ready():
                assert self.proc.poll() is None, f"archiver exited {self.proc.returncode}:\n{self.log()[-3000:]}"
                try:
                    with open(beat) as f:
                        return want in f.read()
                except FileNotFoundError:
                    return False

            wait_for(ready, timeout=60, what="archiver ready (heartbeat with its pid)")
        return self

    def stop(self, timeout=120):
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=timeout)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def log(self):
        try:
            with open(self.log_path) as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def dropped_in_log(self):
        """(device, name) of every file the log says was dropped."""
        return {(m.group(1), m.group(2)) for m in re.finditer(r"(\S+): dropped \w+/(\S+) \(", self.log())}


def heartbeat(env):
    import json

    try:
        with open(os.path.join(env.run_dir, "archiver.json")) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def hot_media(env, dev):
    """{name: path} of the media files in a device's RAM."""
    out = {}
    for kind in KINDS:
        d = env.hot(dev, kind)
        for n in os.listdir(d):
            if n.startswith(("capture_", "segment_")) and not n.endswith(".tmp"):
                out[n] = os.path.join(d, n)
    return out


def sha(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def account(env, produced, dropped=frozenset()):
    """Where every produced file is now. Returns a dict of counts: produced, in_ram, on_sd, dropped,
    lost (produced, nowhere, not a logged drop), torn (on the SD or in RAM with other bytes),
    duplicated (in RAM and on the SD), unknown (on the SD but never produced)."""
    out = {"produced": len(produced), "in_ram": 0, "on_sd": 0, "dropped": 0, "lost": [], "torn": [],
           "duplicated": [], "unknown": []}
    devices = sorted({d for d, _ in produced} | set(env.devices))
    for dev in devices:
        ram, sd = hot_media(env, dev), env.archived_files(dev)
        out["in_ram"] += len(ram)
        out["on_sd"] += len(sd)
        out["duplicated"] += [(dev, n) for n in set(ram) & set(sd)]
        out["unknown"] += [(dev, n) for n in sd if (dev, n) not in produced]
        for name, path in {**ram, **sd}.items():
            want = produced.get((dev, name))
            if want is not None and sha(path) != want:
                out["torn"].append((dev, name))
        for (d, name) in produced:
            if d == dev and name not in ram and name not in sd:
                if (d, name) in dropped:
                    out["dropped"] += 1
                else:
                    out["lost"].append((d, name))
    return out


def remount(path, opts):
    subprocess.run(["mount", "-o", f"remount,{opts}", path], check=True)


def free_bytes(path):
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


def tmpfs_percent(path):
    st = os.statvfs(path)
    return 100.0 * (st.f_blocks - st.f_bfree) / st.f_blocks if st.f_blocks else 0.0


class Sampler(threading.Thread):
    """Samples every ``period`` s: each device's tmpfs use % and media count per kind (the maxima)."""

    def __init__(self, env, devices, period=0.05):
        super().__init__(daemon=True)
        self.env, self.devices, self.period = env, list(devices), period
        self.max_percent = 0.0
        self.max_count = {k: 0 for k in KINDS}
        self.samples = 0
        self.stop_flag = threading.Event()

    def run(self):
        while not self.stop_flag.is_set():
            for dev in self.devices:
                self.max_percent = max(self.max_percent, tmpfs_percent(self.env.hot(dev)))
                for kind in KINDS:
                    n = sum(1 for x in os.listdir(self.env.hot(dev, kind))
                            if x.startswith(("capture_", "segment_")) and not x.endswith(".tmp"))
                    self.max_count[kind] = max(self.max_count[kind], n)
            self.samples += 1
            time.sleep(self.period)

    def stop(self):
        self.stop_flag.set()
        self.join(timeout=10)
