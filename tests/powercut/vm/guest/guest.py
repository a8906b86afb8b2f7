"""Guest side of the VM power-cut harness: the archiver, an FFmpeg-like writer and the ground truth.

Run by guest-init.sh as ``python3 guest.py RUN_JSON BASE`` under the guest's plain python3. It
writes the hotcold config, starts the real archiver daemon (``python3 -m hotcold archive``, code
from the payload disk), and when it is ready starts
- a writer that renames files into place as FFmpeg does, at the plan's rates on every device, with
  content the host can recompute from the name (content.py), plus the live playlist;
- a watcher (inotify IN_DELETE on the hot folders and on the outbox folders, where the archiver parks
  a RAM copy as ``<hour>@<name>`` until its checkpoint) that reports every media file whose last RAM
  copy the archiver unlinks.
Every event goes to the host as one JSON line over the virtio-serial port ``hotcold.events``, which
touches no disk; the archiver's log goes to the port ``hotcold.log``. The host ends it all with
SIGKILL on qemu: the power cut.
"""

import fcntl
import glob
import json
import os
import struct
import subprocess
import sys
import threading
import time

import pyinotify

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from content import KINDS, RATES, content, kind_of, name_for  # noqa: E402

PAYLOAD = os.path.dirname(os.path.abspath(__file__))
RUN = "/run/hotcold"
SD_DEVICE = "/dev/vdb"
BLKZEROOUT = 0x127F  # _IO(0x12, 127): zero a byte range of a block device


def port_path(name):
    """Given a virtio-serial port name, return its /dev node (no udev here, so read sysfs)."""
    for p in glob.glob("/sys/class/virtio-ports/*/name"):
        with open(p) as f:
            if f.read().strip() == name:
                return "/dev/" + os.path.basename(os.path.dirname(p))
    raise SystemExit(f"guest.py: no virtio-serial port named {name!r}")


class Events:
    """One JSON line per event to the host; a lock keeps lines whole across threads."""

    def __init__(self, path):
        self.fd = os.open(path, os.O_WRONLY)
        self.lock = threading.Lock()

    def send(self, ev, **fields):
        line = (json.dumps(dict(fields, ev=ev, t=round(time.time(), 6))) + "\n").encode()
        with self.lock:
            os.write(self.fd, line)


def write_config(run, base):
    """Given the run parameters and the SD mount, write the hotcold config; return its path."""
    cfg = {
        "base_path": base,
        "run_dir": os.path.join(RUN, "run"),
        "timezone": "UTC",
        "devices": run["devices"],
        "hot_limits": run["hot_limits"],
        "archive": run["archive"],
        "health": {"textfile_path": os.path.join(RUN, "prom", "hotcold.prom")},
    }
    path = os.path.join(RUN, "hotcold.json")
    with open(path, "w") as f:
        json.dump(cfg, f)
    return path


def start_archiver(cfg, log_fd):
    """Start the archiver daemon; return the process once its heartbeat names its pid (ready)."""
    env = dict(os.environ, PYTHONPATH=PAYLOAD, PYTHONDONTWRITEBYTECODE="1")
    proc = subprocess.Popen([sys.executable, "-m", "hotcold", "--config", cfg, "archive"], env=env,
                            stdout=log_fd, stderr=log_fd)
    beat = os.path.join(RUN, "run", "archiver.json")
    want = f'"pid": {proc.pid},'
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"guest.py: the archiver exited {proc.returncode} before it was ready")
        try:
            with open(beat) as f:
                if want in f.read():
                    return proc
        except FileNotFoundError:
            pass
        time.sleep(0.05)
    raise SystemExit("guest.py: the archiver was not ready within 300 s")


class Watcher(pyinotify.ProcessEvent):
    """Reports each media file unlinked from a device's hot folder or outbox (``<hour>@<name>``)."""

    def my_init(self, events, device):
        self.events = events
        self.device = device

    def process_IN_DELETE(self, event):  # noqa: N802 (the name pyinotify dispatches to)
        name = event.name.rpartition("@")[2]
        if kind_of(name):
            self.events.send("unlinked", dev=self.device, name=name)


def start_watchers(events, base, devices):
    """Given the devices, watch every hot kind folder and outbox folder (the ready archiver made them) for
    IN_DELETE; return the notifiers."""
    notifiers = []
    for dev in devices:
        wm = pyinotify.WatchManager()
        for kind in KINDS:
            wm.add_watch(os.path.join(base, dev, "hot", kind), pyinotify.IN_DELETE)
            outbox = os.path.join(base, dev, "hot", ".outbox", kind)
            os.makedirs(outbox, exist_ok=True)
            wm.add_watch(outbox, pyinotify.IN_DELETE)
        n = pyinotify.ThreadedNotifier(wm, Watcher(events=events, device=dev))
        n.daemon = True
        n.start()
        notifiers.append(n)
    return notifiers


def write_file(events, base, dev, kind, n, sizes, live):
    """Write one media file as FFmpeg does (temp name, then rename), then the live playlist for a
    segment; report it written."""
    d = os.path.join(base, dev, "hot", kind)
    name = name_for(kind, n)
    tmp = os.path.join(d, name + ".tmp")
    with open(tmp, "wb") as f:
        f.write(content(dev, name, sizes))
    os.rename(tmp, os.path.join(d, name))
    events.send("written", dev=dev, name=name)
    if kind == "segments":
        first = max(1, n - live + 1)
        body = ["#EXTM3U", "#EXT-X-VERSION:3", "#EXT-X-TARGETDURATION:1", f"#EXT-X-MEDIA-SEQUENCE:{first}"]
        for i in range(first, n + 1):
            body += ["#EXTINF:1.000000,", name_for("segments", i)]
        with open(os.path.join(d, "output.m3u8.tmp"), "w") as f:
            f.write("\n".join(body) + "\n")
        os.rename(os.path.join(d, "output.m3u8.tmp"), os.path.join(d, "output.m3u8"))


def run_writer(events, base, run):
    """Write every kind on every device at the plan's rates, forever (a due time per stream)."""
    numbers = {(d, k): 1 for d in run["devices"] for k in KINDS}
    start = time.monotonic()
    due = {key: start for key in numbers}
    while True:
        now = time.monotonic()
        for key, t in due.items():
            if t <= now:
                write_file(events, base, key[0], key[1], numbers[key], run["sizes"], run["live"])
                numbers[key] += 1
                due[key] = max(t + 1.0 / RATES[key[1]], now - 1.0)
        time.sleep(max(0.0, min(due.values()) - time.monotonic()))


def arm_fault(events, delay):
    """After ``delay`` s, send one write-zeroes request to the SD disk's spare tail (past the end of
    its file system): the host's blkdebug rules turn the SD faulty from that request on."""
    time.sleep(delay)
    fd = os.open(SD_DEVICE, os.O_WRONLY)
    try:
        size = os.lseek(fd, 0, os.SEEK_END)
        fcntl.ioctl(fd, BLKZEROOUT, struct.pack("QQ", size - 65536, 65536))
    finally:
        os.close(fd)
    events.send("fault")


def main(run_json, base):
    with open(run_json) as f:
        run = json.load(f)
    os.makedirs(os.path.join(RUN, "run"), exist_ok=True)
    events = Events(port_path("hotcold.events"))
    log_fd = os.open(port_path("hotcold.log"), os.O_WRONLY)
    events.send("boot", uptime=float(open("/proc/uptime").read().split()[0]))
    for dev in run["devices"]:
        for kind in KINDS:
            os.makedirs(os.path.join(base, dev, "hot", kind), exist_ok=True)
    archiver = start_archiver(write_config(run, base), log_fd)
    start_watchers(events, base, run["devices"])
    events.send("ready", pid=archiver.pid)
    threading.Thread(target=run_writer, args=(events, base, run), daemon=True).start()
    if run.get("fault_after_s") is not None:
        threading.Thread(target=arm_fault, args=(events, run["fault_after_s"]), daemon=True).start()
    rc = archiver.wait()
    events.send("archiver-exit", rc=rc)
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
