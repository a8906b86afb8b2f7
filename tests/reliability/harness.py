"""What the system-level reliability tests share: an FFmpeg-like writer, the archiver daemon as a
process, and the accounting that proves nothing was lost.

The daemon is the real one (``python3 -m hotcold archive`` under Debian's python3), the hot folders
are real tmpfs mounts and the SD card is a real ext4 filesystem in a loop-mounted image file
(``env.sd_ext4``), so ENOSPC, EROFS and syncfs behave as on a host.
"""

import hashlib
import os
import random
import re
import signal
import subprocess
import threading
import time

from hchelpers import name_for

KINDS = ("captures", "thumbnails", "segments")
# The plan's rates (files per second) and realistic sizes (bytes): 2 fps full-size JPEG captures,
# 5 fps thumbnails, 1 s HLS segments (~500 KB at the plan's bit rate).
PLAN_RATES = {"captures": 2.0, "thumbnails": 5.0, "segments": 1.0}
PLAN_SIZES = {"captures": 100_000, "thumbnails": 6_000, "segments": 500_000}


class Writer(threading.Thread):
    """Writes files as FFmpeg does (``<name>.tmp``, then rename into place) for each device at
    ``factor`` x the plan's rates, plus the live playlist (the newest ``live`` segments).

    ``clock()`` gives the mtime files get (a jumped wall clock in the clock test). Every produced
    file's sha256 is kept; a write error (ENOSPC on the tmpfs...) is kept in ``errors`` and the
    file counts as not produced."""

    def __init__(self, env, devices, factor=1.0, sizes=None, live=6, clock=None, seed=7, first=1):
        super().__init__(daemon=True)
        self.env = env
        self.devices = list(devices)
        self.sizes = dict(PLAN_SIZES, **(sizes or {}))
        self.live = live
        self.clock = clock
        self.rng = random.Random(seed)
        self.produced = {}  # (device, name) -> sha256
        self.errors = []
        self.lock = threading.Lock()
        self.stop_flag = threading.Event()
        self.numbers = {(d, k): first for d in self.devices for k in KINDS}
        self.set_factor(factor)

    def set_factor(self, factor):
        self.factor = factor

    def _write(self, dev, kind):
        n = self.numbers[(dev, kind)]
        size = self.sizes[kind]
        data = self.rng.randbytes(self.rng.randint(size // 2, size + size // 2))
        d = self.env.hot(dev, kind)
        name = name_for(kind, n)
        tmp = os.path.join(d, name + ".tmp")
        try:
            with open(tmp, "wb") as f:
                f.write(data)
            if self.clock is not None:
                t = self.clock()
                os.utime(tmp, (t, t))
            os.rename(tmp, os.path.join(d, name))
        except OSError as e:
            self.errors.append(f"{dev}/{kind}/{name}: {e}")
            try:
                os.unlink(tmp)
            except OSError:
                pass
            return
        self.numbers[(dev, kind)] = n + 1
        with self.lock:
            self.produced[(dev, name)] = hashlib.sha256(data).hexdigest()
        if kind == "segments":
            first = max(1, n - self.live + 1)  # (numbers below a restarted writer's first are gone)
            body = ["#EXTM3U", "#EXT-X-VERSION:3", "#EXT-X-TARGETDURATION:1", f"#EXT-X-MEDIA-SEQUENCE:{first}"]
            for i in range(first, n + 1):
                body += ["#EXTINF:1.000000,", name_for("segments", i)]
            tmp = os.path.join(d, "output.m3u8.tmp")
            try:
                with open(tmp, "w") as f:
                    f.write("\n".join(body) + "\n")
                os.rename(tmp, os.path.join(d, "output.m3u8"))
            except OSError as e:
                self.errors.append(f"{dev}/output.m3u8: {e}")

    def run(self):
        # A due time per (device, kind): at 10x the plan's rate that is 80 files/s per device.
        start = time.monotonic()
        due = {(d, k): start for d in self.devices for k in KINDS}
        while not self.stop_flag.is_set():
            now = time.monotonic()
            for key, t in due.items():
                if t <= now:
                    self._write(*key)
                    due[key] = max(t + 1.0 / (PLAN_RATES[key[1]] * self.factor), now - 1.0)
            time.sleep(max(0.0, min(due.values()) - time.monotonic()))

    def stop(self):
        self.stop_flag.set()
        self.join(timeout=30)
        assert not self.is_alive(), "writer did not stop"

    def snapshot(self):
        with self.lock:
            return dict(self.produced)


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
