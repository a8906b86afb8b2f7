"""The synthetic FFmpeg of the tests and the bench: files written as ``<name>.tmp`` and renamed into place,
the live playlist rewritten the same way, at per-kind rates for each device.

One writer, parameterised where its users differ for a reason: where the bytes come from (random, or a
function of the name so a crash state can recompute them), what is recorded per file (sha256, a time),
which clock stamps a file, whether a late writer catches up (bench) or skips ahead (tests), per-device
phases, and program-date-times in the playlist.
"""

import hashlib
import os
import random
import threading
import time

KINDS = ("captures", "thumbnails", "segments")
# The plan's rates (files per second) and realistic sizes (bytes): 2 fps full-size JPEG captures,
# 5 fps thumbnails, 1 s HLS segments (~500 KB at the plan's bit rate).
PLAN_RATES = {"captures": 2.0, "thumbnails": 5.0, "segments": 1.0}
PLAN_SIZES = {"captures": 100_000, "thumbnails": 6_000, "segments": 500_000}
KIND_NAME = {
    "captures": "capture_{n}.jpg",
    "thumbnails": "capture_{n}_thumbnail.jpg",
    "segments": "segment_{n}.ts",
}
PLAYLIST = "output.m3u8"


def name_for(kind, n):
    """Given a kind and a number, return FFmpeg's file name for it."""
    return KIND_NAME[kind].format(n=n)


def place(folder, name, data, mtime=None, stamp=time.monotonic):
    """Given bytes, write ``folder/name`` as FFmpeg does (``name.tmp``, then rename into place; a failed
    write leaves no temp file). Returns ``stamp()`` taken just before the rename (the file is visible
    from then on)."""
    tmp = os.path.join(folder, name + ".tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
        if mtime is not None:
            os.utime(tmp, (mtime, mtime))
        t = stamp()
        os.rename(tmp, os.path.join(folder, name))
    except OSError:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    return t


def produce(hot_dir, kind, n, data=None, mtime=None, size=2048):
    """Given a kind folder, place one file of that kind numbered n (random bytes unless given).
    Returns (path, sha256)."""
    if data is None:
        data = os.urandom(size)
    place(hot_dir, name_for(kind, n), data, mtime=mtime)
    return os.path.join(hot_dir, name_for(kind, n)), hashlib.sha256(data).hexdigest()


def pdt(t):
    """Given a wall-clock time, return it as an HLS program-date-time (milliseconds, UTC)."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t % 1 * 1000):03d}+0000"


def live_playlist(numbers, durations=None, pdts=None, ended=False):
    """Given segment numbers (oldest first), return FFmpeg's live playlist text listing them."""
    lines = ["#EXTM3U", "#EXT-X-VERSION:3", "#EXT-X-TARGETDURATION:1",
             f"#EXT-X-MEDIA-SEQUENCE:{numbers[0] if numbers else 0}"]
    for n in numbers:
        lines.append(f"#EXTINF:{(durations or {}).get(n, 1.0):.6f},")
        if pdts and n in pdts:
            lines.append(f"#EXT-X-PROGRAM-DATE-TIME:{pdts[n]}")
        lines.append(name_for("segments", n))
    if ended:
        lines.append("#EXT-X-ENDLIST")
    return "\n".join(lines) + "\n"


def write_live(seg_dir, numbers, **kw):
    """Given a segments folder, rewrite its live playlist (rename into place) listing ``numbers``."""
    place(seg_dir, PLAYLIST, live_playlist(numbers, **kw).encode())


def random_content(sizes=None, seed=7):
    """Return content(device, kind, number, name) -> random bytes of 0.5..1.5 x ``sizes[kind]``."""
    sizes = dict(PLAN_SIZES, **(sizes or {}))
    rng = random.Random(seed)

    def content(_device, kind, _number, _name):
        size = sizes[kind]
        return rng.randbytes(rng.randint(size // 2, size + size // 2))

    return content


def sha256_record(_kind, _number, data, _t):
    """The default record of a produced file: the sha256 of its bytes."""
    return hashlib.sha256(data).hexdigest()


class Writer(threading.Thread):
    """For each device, writes files of each kind at ``rates[kind] * factor`` files per second through
    ``place`` into ``hot(device, kind)``, plus the live playlist (the newest ``live`` segments).

    - ``content(device, kind, number, name)`` gives a file's bytes (``random_content`` by default).
    - ``record(kind, number, data, t)`` is kept in ``produced[(device, name)]`` (sha256 by default);
      ``t`` is ``stamp()`` just before the rename, or the file's back-dated mtime.
    - ``clock()``, if given, is the mtime files get (a jumped wall clock).
    - ``first``: the first number, one for all kinds or ``{kind: number}``.
    - ``catch_up``: a writer more than this many seconds late skips ahead (None: writes every file due).
    - ``phases``: ``{device: fraction of a period}`` its first files are shifted by.
    - ``pdt``: playlist entries carry a program-date-time (``stamp`` must then be ``time.time``).
    - ``max_backlog``: a device whose hot folders hold more files than this is not written to until
      they drain (checked every 20 writes).
    A write error (ENOSPC on the tmpfs...) is kept in ``errors``; the file counts as not produced.
    ``late`` holds how many seconds after its due time each write started."""

    def __init__(self, hot, devices, content=None, rates=None, factor=1.0, first=1, live=6, clock=None,
                 record=sha256_record, stamp=time.monotonic, catch_up=1.0, phases=None, pdt=False,
                 max_backlog=None):
        super().__init__(daemon=True)
        self.hot = hot
        self.devices = list(devices)
        self.content = content or random_content()
        self.rates = dict(rates or PLAN_RATES)
        self.live, self.clock, self.record, self.stamp = live, clock, record, stamp
        self.catch_up, self.phases, self.pdt, self.max_backlog = catch_up, phases or {}, pdt, max_backlog
        firsts = first if isinstance(first, dict) else {k: first for k in self.rates}
        self.numbers = {(d, k): firsts[k] for d in self.devices for k in self.rates}
        self.entries = {d: [] for d in self.devices}  # the live playlist: [(number, t)] per device
        self.produced = {}
        self.errors = []
        self.late = []
        self.lock = threading.Lock()
        self.stop_flag = threading.Event()
        self.writes = 0
        self.set_factor(factor)

    def set_factor(self, factor):
        """Given a factor, write at factor x the rates from the next file on."""
        self.factor = factor

    def write(self, dev, kind, number=None, mtime=None):
        """Place the next file of (dev, kind) (or file ``number``, back-dated to ``mtime``). Returns
        True if it was produced."""
        n = self.numbers[(dev, kind)] if number is None else number
        name = name_for(kind, n)
        data = self.content(dev, kind, n, name)
        if mtime is None and self.clock is not None:
            mtime = self.clock()
        try:
            t = place(self.hot(dev, kind), name, data, mtime=mtime, stamp=self.stamp)
        except OSError as e:
            self.errors.append(f"{dev}/{kind}/{name}: {e}")
            return False
        if number is None:
            self.numbers[(dev, kind)] = n + 1
        if mtime is not None and number is not None:
            t = mtime  # a back-dated history file: its time is its mtime
        with self.lock:
            self.produced[(dev, name)] = self.record(kind, n, data, t)
        if kind == "segments":
            self.entries[dev] = (self.entries[dev] + [(n, t)])[-self.live:]
            self._write_playlist(dev)
        return True

    def _write_playlist(self, dev):
        entries = self.entries[dev]
        pdts = {n: pdt(t - 1.0) for n, t in entries} if self.pdt else None
        try:
            write_live(self.hot(dev, "segments"), [n for n, _t in entries], pdts=pdts)
        except OSError as e:
            self.errors.append(f"{dev}/{PLAYLIST}: {e}")

    def _backlogged(self, dev):
        if self.max_backlog is None or self.writes % 20:
            return False
        return sum(len(os.listdir(self.hot(dev, k))) for k in self.rates) > self.max_backlog

    def run(self):
        self.run_until(None)

    def run_until(self, end):
        """Write on schedule until stopped or (``end``, monotonic) the next file is due at or after end."""
        start = time.monotonic()
        due = {(d, k): start + self.phases.get(d, 0.0) / self.rates[k] for d in self.devices for k in self.rates}
        while not self.stop_flag.is_set() and (end is None or min(due.values()) < end):
            now = time.monotonic()
            for key, t in due.items():
                if t > now or (end is not None and t >= end):
                    continue
                if self._backlogged(key[0]):
                    due[key] = now + 0.05  # let the archiver drain rather than pile up a backlog
                    continue
                self.late.append(time.monotonic() - t)
                self.write(*key)
                self.writes += 1
                nxt = t + 1.0 / (self.rates[key[1]] * self.factor)
                due[key] = nxt if self.catch_up is None else max(nxt, now - self.catch_up)
            self.stop_flag.wait(max(0.0, min(due.values()) - time.monotonic()))

    def stop(self):
        """Stop writing and wait for the thread (if it was started)."""
        self.stop_flag.set()
        if self.is_alive():
            self.join(timeout=30)
        assert not self.is_alive(), "writer did not stop"

    def snapshot(self):
        """A copy of ``produced``."""
        with self.lock:
            return dict(self.produced)
