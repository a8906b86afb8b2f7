"""One recorded run of the real archiver on the recording SD stack, with ground truth taken outside the SD.

The SD is ``mkfs.ext4 image -> recording FUSE layer -> loop device -> ext4 mount`` (pc_stack); the hot
folders are tmpfs mounts inside it, as on a host. A writer produces files as FFmpeg does at the plan's
rates, with bytes that are a function of (device, name), so a torn or foreign file is recognisable on
any crash state. inotify on the tmpfs hot folders sees every unlink of a media file from RAM; the
handler reads the recorder's fsync counter first thing, so the count it records is the count at the
unlink or a little later (never earlier: a late read only weakens what the check demands, it never
makes a correct archiver fail). ``hotcold cleanup`` runs once mid-run over old hour folders seeded in
the pristine image, so cuts also land in the middle of a retention cleanup.
"""

import dataclasses
import hashlib
import mmap
import os
import random
import re
import shutil
import signal
import struct
import subprocess
import time
from zoneinfo import ZoneInfo

import hchelpers
import pc_stack
import pyinotify
from harness import KINDS, PLAN_SIZES, Daemon
from record import scaled

from hotcold.hours import HourKey, day_of, hour_start, write_marker
from hotcold.layout import kind_of
from testsupport.writer import Writer

UTC = ZoneInfo("UTC")
DEVICES = ("cam1", "cam2")
# RAM keeps this many files per kind before the archiver moves the oldest to the SD. The plan's limits
# (100/100/10) would keep a 30 s run entirely in RAM, so they are lowered: the move cycle starts within
# seconds and runs continuously at the plan's rates, which is what the cuts have to hit.
HOT_LIMITS = {"captures": 10, "thumbnails": 20, "segments": 4}
# The checkpoint interval of the recorded runs: short, so that a 30 s run has several checkpoints (cuts
# land before, during and after them), and longer than ext4's 5 s journal commit, so that renames become
# durable before their data in some states (what recovery must catch); the path is the default one.
CHECKPOINT_SECONDS = 6
FIRST_NUMBER = 1_000_000  # the writer's numbers; seeded old files are numbered below SEED_LIMIT
SEED_LIMIT = 1_000
PROBE_NUMBER = 9_000_000  # files written after recovery to see archiving resume
# The card holds the whole run: the soak's 240 s run wrote 246 MB, which filled a 256 MB card near its end, and
# every crash state cut there waited out the resume probe (a full card with nothing evictable: archiving cannot
# resume, the state counts as bad). Sparse images: a larger card costs no disk.
SD_MB = scaled(256, 4096)


def content(device, name):
    """The bytes of a file: a function of its device and name only (size around the plan's size)."""
    seed = hashlib.sha256(f"{device}/{name}".encode()).digest()
    rng = random.Random(seed)
    size = PLAN_SIZES[kind_of(name)[0]]
    return rng.randbytes(rng.randint(size // 2, size + size // 2))


class PcEnv(hchelpers.Env):
    """hchelpers.Env whose base is a given (SD) mount and whose runtime comes from ``files_dir``."""

    def __init__(self, tmp, tmpfs, base, files_dir):
        super().__init__(tmp, tmpfs)
        self.base = base
        self.files_dir = files_dir

    def popen(self, *args, env=None, **kw):
        return super().popen(*args, env={"PYTHONPATH": self.files_dir, **(env or {})}, **kw)

    def cli(self, *args, env=None, **kw):
        return super().cli(*args, env={"PYTHONPATH": self.files_dir, **(env or {})}, **kw)

    def setup(self, devices, ram="64M"):
        """Mount each device's RAM (an empty tmpfs) and write the production-shaped config."""
        for d in devices:
            self.add_device(d, size=ram)
        self.write_config(hot_limits=HOT_LIMITS, archive={"rescan_seconds": 5, "batch_seconds": 0.25,
                                                          "checkpoint_seconds": CHECKPOINT_SECONDS})


def make_writer(env, devices):
    """testsupport's writer at the plan's rates with bytes recomputable from (device, name) (``content``),
    numbered from FIRST_NUMBER; ``produced[(device, name)] = (monotonic time of the rename, None)``."""
    return Writer(env.hot, devices, lambda dev, _kind, _n, name: content(dev, name), first=FIRST_NUMBER,
                         record=lambda _kind, _n, _data, t: (t, None))


class FlushCounter:
    """The recorder's fsync counter, read through a shared mapping of its COUNTER file."""

    def __init__(self, path):
        with open(path, "rb") as f:
            self.map = mmap.mmap(f.fileno(), 8, access=mmap.ACCESS_READ)

    def value(self):
        return struct.unpack("<Q", self.map[:8])[0]


class Unlinks(pyinotify.ProcessEvent):
    """inotify on the hot folders and the outboxes: (device, name) -> (fsync count, monotonic time) of the
    removal of its last RAM copy: IN_DELETE of a media file in a hot folder or (``<hour>@<name>``) in the
    outbox, or IN_MOVED_FROM out of a hot folder to anywhere but the device's outbox. A move into the
    outbox (same cookie seen as IN_MOVED_TO there) keeps the file in RAM: its unlink there counts."""

    def my_init(self, counter=None, dirs=None, outboxes=None):
        self.counter = counter
        self.dirs = dirs  # watched hot folder -> device
        self.outboxes = outboxes  # watched outbox folder -> device
        self.events = {}
        self.moved_from = {}  # cookie -> ((device, name), (count, time))
        self.stashed = set()  # cookies of moves into an outbox

    def process_default(self, event):
        count = self.counter.value()  # first: the count at (or just after) the unlink
        t = time.monotonic()
        if event.path in self.outboxes:
            if event.mask & pyinotify.IN_MOVED_TO:
                self.stashed.add(event.cookie)
                return
            name = event.name.rpartition("@")[2]
            if kind_of(name)[0] is not None and event.mask & pyinotify.IN_DELETE:
                self.events.setdefault((self.outboxes[event.path], name), (count, t))
            return
        if kind_of(event.name)[0] is None:
            return
        key = (self.dirs[event.path], event.name)
        if event.mask & pyinotify.IN_MOVED_FROM:
            self.moved_from[event.cookie] = (key, (count, t))
        else:
            self.events.setdefault(key, (count, t))

    def removals(self):
        """Every (device, name) -> (count, time) of a last RAM copy's removal (call after the notifier stopped)."""
        out = dict(self.events)
        for cookie, (key, ev) in self.moved_from.items():
            if cookie not in self.stashed:
                out[key] = min(out.get(key, ev), ev)
        return out


def watch_unlinks(env, devices, counter):
    """Start inotify on every device's hot kind folders and outbox folders (made here as the archiver
    makes them: it never removes them); returns (notifier, Unlinks handler)."""
    dirs = {env.hot(d, k): d for d in devices for k in KINDS}
    outboxes = {os.path.join(env.hot(d), ".outbox", k): d for d in devices for k in KINDS}
    for d in outboxes:
        os.makedirs(d, exist_ok=True)
    handler = Unlinks(counter=counter, dirs=dirs, outboxes=outboxes)
    wm = pyinotify.WatchManager()
    notifier = pyinotify.ThreadedNotifier(wm, handler)
    for d in dirs:
        wm.add_watch(d, pyinotify.IN_DELETE | pyinotify.IN_MOVED_FROM)
    for d in outboxes:
        wm.add_watch(d, pyinotify.IN_DELETE | pyinotify.IN_MOVED_TO)
    notifier.daemon = True
    notifier.start()
    return notifier, handler


def seed_old_hours(base, devices, now):
    """Given the SD's base folder, give each device old hour folders (two days ago, far from the
    current hour) with a few files each, so the mid-run ``hotcold cleanup`` has real work. Returns
    {(device, name): (kind, hour)}."""
    day = day_of(now - 2 * 86400, UTC)
    cur = time.gmtime(now).tm_hour
    seeded = {}
    for dev in devices:
        os.makedirs(os.path.join(base, dev, "hot"), exist_ok=True)
        for i, h in enumerate(((cur + 6) % 24, (cur + 9) % 24, (cur + 12) % 24)):
            for kind in ("captures", "thumbnails", "segments", "metadata"):
                hd = os.path.join(base, dev, kind, str(h))
                os.makedirs(hd, exist_ok=True)
                write_marker(hd, day)
                if kind == "metadata":
                    continue
                for j in range(4):
                    name = hchelpers.name_for(kind, 1 + i * 10 + j)
                    with open(os.path.join(hd, name), "wb") as f:
                        f.write(content(dev, name))
                    t = hour_start(HourKey(day, h), UTC) + 60 * j
                    os.utime(os.path.join(hd, name), (t, t))
                    seeded[(dev, name)] = (kind, h)
    return seeded


@dataclasses.dataclass
class Run:
    """What one recorded run leaves for the crash states."""
    workdir: str
    pristine: str  # the image as it was before recording started
    log: str  # the recorder's write log
    produced: dict  # (device, name) -> (monotonic time it appeared in RAM, None)
    seeded: dict  # (device, name) -> (kind, hour), on the SD before the run
    unlinks: dict  # (device, name) -> (fsync count, monotonic time)
    dropped: set  # (device, name) the daemon logged as dropped
    expired: set  # (device, name) the daemon logged as past retention
    cleanup: tuple  # (start, end) monotonic times of the mid-run `hotcold cleanup`
    info: dict  # what the scenario observed
    run_end: float  # monotonic time the run stopped being a valid cut point
    writer_errors: list


@dataclasses.dataclass
class Ctx:
    """What a scenario gets: the run's env, archiver, writer, FAULTS file, rng, length and start."""
    env: PcEnv
    daemon: Daemon
    writer: Writer
    faults: str
    rng: random.Random
    seconds: float
    t0: float
    journal: list  # [first byte, end byte] of the ext4 journal in the image

    def sleep_until(self, t):
        time.sleep(max(0.0, self.t0 + t - time.monotonic()))


def cleanup_midrun(ctx):
    """Run ``hotcold cleanup`` once at a random moment of the middle of the run."""
    ctx.sleep_until(ctx.rng.uniform(0.3, 0.7) * ctx.seconds)
    c0 = time.monotonic()
    out = ctx.env.cli("cleanup", check=0).stdout
    c1 = time.monotonic()
    ctx.sleep_until(ctx.seconds)
    return {"cleanup": (c0, c1), "cleanup_out": out}


EXPIRED_RE = re.compile(r"(\S+): (\S+) is from \S+, older than the day")


def record_run(workdir, seconds, files_dir=hchelpers.FILES, devices=DEVICES, seed=1, scenario=None):
    """Given a work folder, run the archiver at the plan's rates on the recording SD stack for
    ``seconds`` while ``scenario(Ctx)`` runs (default ``cleanup_midrun``) and return a Run."""
    rng = random.Random(seed)
    os.makedirs(workdir, exist_ok=True)
    back = os.path.join(workdir, "sd-backing.img")
    pristine = os.path.join(workdir, "pristine.img")
    pc_stack.make_image(back, SD_MB)
    mounts = pc_stack.Mounts()
    try:
        base = os.path.join(workdir, "seed")
        mounts.mount_loop(back, base)
        seeded = seed_old_hours(base, devices, time.time())
    finally:
        mounts.close()
    subprocess.run(["cp", "--sparse=always", back, pristine], check=True)
    journal = pc_stack.journal_range(pristine)
    log = os.path.join(workdir, "writes.log")
    mounts = pc_stack.Mounts()
    try:
        faults = os.path.join(workdir, "faults.json")
        exposed = mounts.recorder(back, os.path.join(workdir, "fuse"), log, os.path.join(workdir, "counter"), faults)
        base = os.path.join(workdir, "base")
        mounts.mount_loop(exposed, base)
        env = PcEnv(workdir, mounts.tmpfs, base, files_dir)
        env.setup(devices)
        counter = FlushCounter(os.path.join(workdir, "counter"))
        notifier, handler = watch_unlinks(env, devices, counter)
        daemon = Daemon(env)
        writer = make_writer(env, devices)
        try:
            daemon.start(wait_for=hchelpers.wait_until)
            writer.start()
            ctx = Ctx(env, daemon, writer, faults, rng, seconds, time.monotonic(), journal)
            info = (scenario or cleanup_midrun)(ctx)
            assert daemon.alive(), f"the archiver died during the run:\n{daemon.log()[-3000:]}"
            # the last moment a cut may stand for (a scenario may end the checked part early)
            run_end = min(time.monotonic(), info.get("cut_until", float("inf")))
            # the power cut of the recorded run: nothing after run_end is a cut point
            daemon.proc.send_signal(signal.SIGKILL)
            daemon.proc.wait(timeout=30)
            writer.stop()
        finally:
            if daemon.alive():
                daemon.proc.kill()
                daemon.proc.wait(timeout=30)
            writer.stop()
            notifier.stop()
        dropped = daemon.dropped_in_log()
        expired = {(m.group(1), m.group(2)) for m in EXPIRED_RE.finditer(daemon.log())}
        shutil.copy(daemon.log_path, os.path.join(workdir, "record-daemon.log"))
    finally:
        mounts.close()
    return Run(workdir=workdir, pristine=pristine, log=log, produced=dict(writer.produced), seeded=seeded,
               unlinks=handler.removals(), dropped=dropped, expired=expired,
               cleanup=info.get("cleanup", (float("inf"), float("inf"))), info=info, run_end=run_end,
               writer_errors=list(writer.errors))


