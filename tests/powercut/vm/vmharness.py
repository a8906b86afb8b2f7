"""Host side of the VM power-cut harness: build the per-run disks, boot the guest under qemu (TCG),
read its events, cut its power (SIGKILL on qemu), and check a copy of its SD card on the host.

The guest (build-guest.sh, cached) runs the real archiver on an ext4 "SD" disk with tmpfs hot
folders, an FFmpeg-like writer and an inotify watcher that reports every media file unlinked from
RAM over virtio-serial (guest/guest.py). SIGKILL on qemu loses exactly the guest's page cache: what
the guest had not yet written to its virtual disk is gone, as in a power cut. The host page cache
keeps what qemu wrote, so a copy of the image file is the SD card as found after the cut.
"""

import glob
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
GUEST_SRC = os.path.join(HERE, "guest")
REPO = os.path.dirname(os.path.dirname(os.path.dirname(HERE)))
RUNTIME = os.path.join(REPO, "files", "hotcold")
sys.path.insert(0, GUEST_SRC)
from content import KINDS, PATTERNS, content, name_for  # noqa: E402

from testsupport.writer import place  # noqa: E402  (repo root: pytest.ini pythonpath)

# A production-shaped run: 2 devices at the plan's rates and sizes; hot limits small enough that a
# cut a few seconds after start already lands in the archiving cycle; checkpoints every 5 s (not 30), so
# cuts land before and after many of them.
RUN = {
    "devices": ["cam1", "cam2"],
    "sizes": {"captures": 100_000, "thumbnails": 6_000, "segments": 500_000},
    "hot_limits": {"captures": 10, "thumbnails": 20, "segments": 4},
    "archive": {"batch_seconds": 0.25, "rescan_seconds": 2, "segment_margin": 2, "checkpoint_seconds": 5},
    "live": 6,
    "fault_after_s": None,  # seconds after ready at which the guest arms the blkdebug fault, or None
}
SD_MB = 512
SPARE_MB = 1  # past the end of the SD's file system: the guest's fault trigger writes zeroes there


def sh(*cmd, **kw):
    """Run a command; raise with its stderr if it fails."""
    r = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {r.returncode}: {r.stderr.strip()[-2000:]}")
    return r.stdout


def build_guest():
    """Build (or find cached) the guest; return (directory, seconds it took)."""
    t0 = time.monotonic()
    out = sh(os.path.join(HERE, "build-guest.sh"), timeout=1800).strip().splitlines()[-1]
    return out, time.monotonic() - t0


def make_payload(work, runtime=RUNTIME, run=RUN):
    """Given a work dir and the hotcold package to ship, write payload.img (ext4, read-only in the
    guest) with the runtime, the guest scripts and run.json; return its path."""
    tree = os.path.join(work, "payload")
    shutil.copytree(runtime, os.path.join(tree, "hotcold"), ignore=shutil.ignore_patterns("__pycache__"))
    for f in ("guest-init.sh", "guest.py", "content.py"):
        shutil.copy2(os.path.join(GUEST_SRC, f), tree)
    with open(os.path.join(tree, "run.json"), "w") as f:
        json.dump(run, f)
    img = os.path.join(work, "payload.img")
    sh("mkfs.ext4", "-q", "-F", "-d", tree, img, "32M")
    return img


def make_sd(work, size_mb=SD_MB):
    """A fresh ext4 SD card image (sparse file) with SPARE_MB unused at its end; returns its path.
    Inode tables and journal are initialised now, so the guest kernel never writes zeroes itself."""
    img = os.path.join(work, "sd.img")
    with open(img, "wb") as f:
        f.truncate((size_mb + SPARE_MB) * 1024 * 1024)
    sh("mkfs.ext4", "-q", "-F", "-m", "0", "-L", "hotcold-sd", "-E", "lazy_itable_init=0,lazy_journal_init=0",
       img, f"{size_mb}M")
    return img


class VM:
    """One qemu guest: root (read-only), SD (read-write, optionally behind blkdebug) and payload
    disks; two virtio-serial ports written to files on the host."""

    def __init__(self, guest, work, payload, sd, blkdebug=None):
        self.work = work
        self.events_path = os.path.join(work, "events.jsonl")
        self.log_path = os.path.join(work, "guest-hotcold.log")
        self.console_path = os.path.join(work, "console.log")
        sd_drive = f"file={sd},if=virtio,format=raw,cache=writeback"
        if blkdebug:
            sd_drive = (f"file.driver=blkdebug,file.config={blkdebug},file.image.filename={sd},"
                        "if=virtio,format=raw,cache=writeback")
        self.cmd = [
            "qemu-system-x86_64", "-accel", "tcg", "-m", "512", "-smp", "1",
            "-display", "none", "-monitor", "none", "-no-reboot", "-nic", "none",
            "-serial", f"file:{self.console_path}",
            "-kernel", os.path.join(guest, "vmlinuz"), "-initrd", os.path.join(guest, "initrd.img"),
            "-append", "console=ttyS0 root=/dev/vda ro init=/sbin/hotcold-vm-init panic=-1 quiet",
            "-drive", f"file={os.path.join(guest, 'root.img')},if=virtio,format=raw,readonly=on",
            "-drive", sd_drive,
            "-drive", f"file={payload},if=virtio,format=raw,readonly=on",
            "-device", "virtio-rng-pci",
            "-device", "virtio-serial-pci",
            "-chardev", f"file,id=ev,path={self.events_path}",
            "-device", "virtserialport,chardev=ev,name=hotcold.events",
            "-chardev", f"file,id=lg,path={self.log_path}",
            "-device", "virtserialport,chardev=lg,name=hotcold.log",
        ]
        self.proc = None

    def start(self):
        self.started = time.monotonic()
        self.proc = subprocess.Popen(self.cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=open(os.path.join(self.work, "qemu.err"), "wb"))
        return self

    def events(self):
        """Every whole event line received so far (a line torn by the cut is left out)."""
        out = []
        try:
            with open(self.events_path, "rb") as f:
                data = f.read()
        except FileNotFoundError:
            return out
        for line in data.split(b"\n")[:-1]:
            try:
                out.append(json.loads(line))
            except ValueError:
                continue
        return out

    def wait_event(self, ev, timeout):
        """Wait until the guest reports ``ev``; return that event. Fails if qemu exits first."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for e in self.events():
                if e["ev"] == ev:
                    return e
                if e["ev"] == "archiver-exit":
                    raise AssertionError(f"guest archiver exited {e['rc']}:\n{self.tail()}")
            if self.proc.poll() is not None:
                raise AssertionError(f"qemu exited {self.proc.returncode} before {ev!r}:\n{self.tail()}")
            time.sleep(0.1)
        raise AssertionError(f"no {ev!r} from the guest within {timeout} s:\n{self.tail()}")

    def tail(self, n=3000):
        parts = []
        for p in (self.console_path, self.log_path, os.path.join(self.work, "qemu.err")):
            try:
                with open(p, errors="replace") as f:
                    parts.append(f"--- {os.path.basename(p)}\n{f.read()[-n:]}")
            except FileNotFoundError:
                pass
        return "\n".join(parts)

    def cut(self):
        """The power cut: SIGKILL qemu, wait for it to be gone."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=30)

    def guest_log(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""


class Mounted:
    """A COPY of the SD image loop-mounted on the host (the journal replays as at boot), with fresh
    empty tmpfs hot folders per device (RAM did not survive). Unmounted (loop detached) on exit."""

    def __init__(self, work, sd, devices):
        self.work, self.sd, self.devices = work, sd, devices
        self.image = os.path.join(work, "sd-after-cut.img")
        self.base = os.path.join(work, "base")
        self.mounts = []

    def __enter__(self):
        sh("cp", "--sparse=always", self.sd, self.image)
        os.makedirs(self.base, exist_ok=True)
        self.t_mount = time.monotonic()
        sh("mount", "-o", "loop,noatime", self.image, self.base)
        self.mounts.append(self.base)
        for dev in self.devices:
            hot = os.path.join(self.base, dev, "hot")
            os.makedirs(hot, exist_ok=True)
            sh("mount", "-t", "tmpfs", "-o", "size=64m,mode=0755", "tmpfs", hot)
            self.mounts.append(hot)
            for kind in KINDS:
                os.makedirs(os.path.join(hot, kind), exist_ok=True)
        return self

    def __exit__(self, *exc):
        for p in reversed(self.mounts):
            if subprocess.run(["umount", p], capture_output=True).returncode != 0:
                subprocess.run(["umount", "-l", p], capture_output=True)
        self.mounts = []
        if os.path.exists(self.image):
            os.unlink(self.image)


def host_python():
    """Debian's python3 when it has the runtime's modules (as on hosts), else this interpreter."""
    r = subprocess.run(["/usr/bin/python3", "-c", "import yaml, jsonschema, pyinotify"], capture_output=True)
    return "/usr/bin/python3" if r.returncode == 0 else sys.executable


def recover(mnt, runtime=RUNTIME, run=RUN, timeout=120):
    """Start the archiver daemon on the mounted copy with empty RAM; wait until it is ready.
    Returns (process, seconds from mount to ready, config path, log path)."""
    work = mnt.work
    cfg = {
        "base_path": mnt.base, "run_dir": os.path.join(work, "run"), "timezone": "UTC",
        "devices": run["devices"], "hot_limits": run["hot_limits"], "archive": run["archive"],
        "health": {"textfile_path": os.path.join(work, "prom", "hotcold.prom")},
    }
    cfg_path = os.path.join(work, "host-hotcold.json")
    with open(cfg_path, "w") as f:
        json.dump(cfg, f)
    env = dict(os.environ, PYTHONPATH=os.path.dirname(runtime), PYTHONDONTWRITEBYTECODE="1")
    for k in ("NOTIFY_SOCKET", "JOURNAL_STREAM", "INVOCATION_ID"):
        env.pop(k, None)
    log_path = os.path.join(work, "host-recovery.log")
    proc = subprocess.Popen([host_python(), "-m", "hotcold", "--config", cfg_path, "archive"], env=env,
                            stdout=subprocess.DEVNULL, stderr=open(log_path, "wb"))
    beat, want = os.path.join(work, "run", "archiver.json"), f'"pid": {proc.pid},'
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"recovery archiver exited {proc.returncode}:\n{read(log_path)[-3000:]}")
        try:
            with open(beat) as f:
                if want in f.read():
                    return proc, time.monotonic() - mnt.t_mount, cfg_path, log_path
        except FileNotFoundError:
            pass
        time.sleep(0.02)
    proc.kill()
    proc.wait()
    raise AssertionError(f"recovery archiver not ready within {timeout} s:\n{read(log_path)[-3000:]}")


def read(path):
    try:
        with open(path, errors="replace") as f:
            return f.read()
    except FileNotFoundError:
        return ""


def resume_check(mnt, proc, run=RUN, timeout=30):
    """Archiving resumes: write hot limit + 2 fresh captures into cam RAM; the 2 oldest must reach
    the SD byte-identical. Returns a problem string or None. The files are named above every number
    the guest used, on a device of their own name space ("resume-" content seed)."""
    dev = run["devices"][0]
    hot = os.path.join(mnt.base, dev, "hot", "captures")
    n0 = 10_000_000
    want = {}
    for i in range(run["hot_limits"]["captures"] + 2):
        name = name_for("captures", n0 + i)
        data = content("resume-" + dev, name, run["sizes"])
        place(hot, name, data)
        want[name] = hashlib.sha256(data).hexdigest()
    oldest = [name_for("captures", n0), name_for("captures", n0 + 1)]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return f"recovery archiver exited {proc.returncode} while resuming"
        found = {n: p for n, ps in sd_files(mnt.base, dev).items() for p in ps if n in oldest}
        if len(found) == 2:
            bad = [n for n, p in found.items() if sha256_file(p) != want[n]]
            return f"resumed archive copies differ: {bad}" if bad else None
        time.sleep(0.1)
    return f"archiving did not resume within {timeout} s (the 2 oldest of {len(want)} new captures not on the SD)"


def sha256_file(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def sd_files(base, dev):
    """{name: [paths]} of every media file in a device's SD archive (every hour folder)."""
    out = {}
    for kind in KINDS:
        for p in glob.glob(os.path.join(base, dev, kind, "*", "*")):
            name = os.path.basename(p)
            if PATTERNS[kind].match(name):
                out.setdefault(name, []).append(p)
    return out


def temp_files(base, dev):
    """hotcold temp files (``*.hctmp``) anywhere in a device's SD archive (RAM excluded)."""
    found = []
    for root, dirs, files in os.walk(os.path.join(base, dev)):
        if root == os.path.join(base, dev):
            dirs[:] = [d for d in dirs if d != "hot"]
        found += [os.path.join(root, f) for f in files if f.endswith(".hctmp")]
    return found
