"""The SD wear budget (``archive.budget``): when today's archived bytes run ahead of the budget's pace,
thin the stills in a configured order; back under the pace, archive at the full rate again.

Pace. ``gb_per_day`` is for the whole card (the devices share it). At a moment of the local day (the
config's ``timezone``) the pace is ``budget x (elapsed fraction of the day) + allowance``, where the
allowance is ALLOWANCE_SECONDS of the budget (15 min: the first files after midnight are never thinned,
and short bursts pass). The archiver is *ahead* when the bytes it archived today exceed the pace.

Thinning. Ahead by less than one allowance, the first kind of ``order`` (default: captures) is thinned;
ahead by one more allowance, the first two (then thumbnails), and so on. A thinned kind keeps one file
per ``min_interval_seconds[kind]`` window of its capture time (mtime); the rest is deleted from RAM and
counted (``thinned_<kind>``, kept across restarts by counterfile). Kinds not in ``order`` (default:
segments) are never thinned. Under the pace nothing is thinned, from the next pass on.

Clock steps. Today's bytes start again at 0 only when the local day changes *and* real time (the
clock's CLOCK_BOOTTIME, which no step moves) agrees that time passed: a step of the wall clock (boot at
1970 or at fake-hwclock's time, then NTP; an operator) keeps the bytes already counted, so a step can
neither hand out a second day's budget nor lose the count. The ledger (day, bytes, boot id, boottime)
lives in ``<run_dir>/budget.json``, written at most every SAVE_SECONDS: it survives an archiver restart,
not a reboot (run_dir is RAM), as the other kept counters do.

``Budget`` holds the state; the functions above it are pure (numbers and lists in, numbers and lists out).
"""

import json
import os
from dataclasses import dataclass
from datetime import datetime, timedelta

from hotcold.fsutil import atomic_write

FILE = "budget.json"
ALLOWANCE_SECONDS = 900.0  # the pace's allowance: this many seconds' worth of the budget
STEP_TOLERANCE = 60.0  # wall and real time may drift apart by this much between two passes without a step
SAVE_SECONDS = 5.0  # the ledger is written at most this often (a restart forgets at most this much)
DAY_SECONDS = 86400.0


@dataclass(frozen=True)
class Ledger:
    """Today's archived bytes and when they were last counted (wall clock, boot id, boottime)."""

    day: str | None = None  # the local day (YYYY-MM-DD) the bytes belong to; None: nothing counted yet
    spent: int = 0
    wall: float = 0.0
    boot_id: str = ""
    boot: float = 0.0


# ---------------------------------------------------------------- pure rules


def day_span(now, tz):
    """Given a time and a zone, return (local day as YYYY-MM-DD, its start, its end) in epoch seconds
    (a DST day is 23 or 25 hours long)."""
    d = datetime.fromtimestamp(now, tz).date()
    start = datetime(d.year, d.month, d.day, tzinfo=tz).timestamp()
    n = d + timedelta(days=1)
    return d.isoformat(), start, datetime(n.year, n.month, n.day, tzinfo=tz).timestamp()


def allowance(budget_bytes):
    """Given the budget in bytes per day, return the pace's allowance in bytes."""
    return budget_bytes * ALLOWANCE_SECONDS / DAY_SECONDS


def pace(budget_bytes, fraction):
    """Given the budget in bytes per day and the elapsed fraction of the day (0..1), return the bytes
    the archiver may have archived today by now."""
    return budget_bytes * min(max(fraction, 0.0), 1.0) + allowance(budget_bytes)


def kinds_to_thin(spent, pace_bytes, allowance_bytes, order):
    """Given today's bytes, the pace, the allowance and the thinning order, return the kinds to thin
    now: none at or under the pace, the first kind of ``order`` when ahead by less than one allowance,
    one more kind per further allowance ahead."""
    ahead = spent - pace_bytes
    if ahead <= 0:
        return ()
    n = 1 + int(ahead // allowance_bytes) if allowance_bytes > 0 else len(order)
    return tuple(order[:n])


def stepped(ledger, now, boot_id, boot):
    """Given the ledger, the wall clock, the boot id and the boottime now, return True if the wall clock
    moved by more than real time (STEP_TOLERANCE) since the ledger was last counted. Across a reboot
    real time is unknown: False."""
    if ledger.day is None or boot_id != ledger.boot_id:
        return False
    return abs((now - ledger.wall) - (boot - ledger.boot)) > STEP_TOLERANCE


def count(ledger, added, now, tz, boot_id, boot):
    """Given the ledger, the bytes archived since it was last counted, the time, the zone, the boot id
    and the boottime, return the new ledger: a new local day reached by real time starts at 0, a day
    changed by a clock step keeps the bytes."""
    day = day_span(now, tz)[0]
    spent = ledger.spent
    if day != ledger.day and not stepped(ledger, now, boot_id, boot):
        spent = 0
    return Ledger(day, spent + max(0, added), now, boot_id, boot)


def spaced(files, interval, last_window):
    """Given one kind's files (oldest first, with ``.mtime``), the interval in seconds and the window of
    the last file kept (None: none yet), return (files kept, files thinned, the new last window): one
    file per ``interval``-second window of capture time. Windows compare for equality, so a clock that
    steps back never stops a kind."""
    kept, thinned = [], []
    for f in files:
        w = int(f.mtime // interval)
        if w == last_window:
            thinned.append(f)
        else:
            kept.append(f)
            last_window = w
    return kept, thinned, last_window


# ---------------------------------------------------------------- the ledger file


def path(run_dir):
    return os.path.join(run_dir, FILE)


def load(run_dir, log):
    """Given the run dir and a logger, return the ledger as last saved; an empty Ledger if there is none,
    and with a warning naming the file if it is unreadable."""
    p = path(run_dir)
    try:
        with open(p, encoding="utf-8") as f:
            doc = json.load(f)
        return Ledger(day=str(doc["day"]), spent=int(doc["spent"]), wall=float(doc["wall"]),
                      boot_id=str(doc["boot_id"]), boot=float(doc["boot"]))
    except FileNotFoundError:
        return Ledger()
    except (OSError, ValueError, KeyError, TypeError) as e:
        log.warning("cannot read the SD budget ledger %s (%s): today's bytes start from 0", p, e)
        return Ledger()


def save(run_dir, ledger):
    """Given the run dir and a ledger, write it atomically (raises OSError)."""
    os.makedirs(run_dir, exist_ok=True)
    atomic_write(path(run_dir), json.dumps(ledger.__dict__, sort_keys=True) + "\n")


# ---------------------------------------------------------------- the archiver's state


class Budget:
    """The budget of one archiver (all devices: they share the card)."""

    def __init__(self, settings, tz, clock, run_dir, log):
        self.settings = settings
        self.tz = tz
        self.clock = clock
        self.run_dir = run_dir
        self.log = log
        self.on = settings.gb_per_day is not None
        self.bytes_per_day = (settings.gb_per_day or 0) * 1e9
        self.ledger = load(run_dir, log) if self.on else Ledger()
        self.seen = 0  # the archived_bytes total (all devices, since start) last counted
        self.thinning = ()
        self.pace_bytes = None
        self.windows = {}  # (device, kind) -> the window of the last file kept or moved
        self._saved_at = None

    def thin_now(self, archived_total):
        """Given the bytes all devices archived since the archiver started, count what is new in today's
        ledger and return the kinds to thin this pass (() when the budget is off or under its pace)."""
        if not self.on:
            return ()
        now = self._count(archived_total)
        _, start, end = day_span(now, self.tz)
        self.pace_bytes = pace(self.bytes_per_day, (now - start) / (end - start))
        kinds = kinds_to_thin(self.ledger.spent, self.pace_bytes, allowance(self.bytes_per_day),
                              self.settings.order)
        self._log_change(kinds)
        self.thinning = kinds
        self._save()
        return kinds

    def close(self, archived_total):
        """Given the bytes all devices archived since the archiver started, count what is new and write the
        ledger now (a clean stop: the next archiver of this boot goes on from here)."""
        if not self.on:
            return
        self._count(archived_total)
        self._saved_at = None
        self._save()

    def _count(self, archived_total):
        """Given the bytes all devices archived since the archiver started, add the new ones to today's
        ledger; return the wall-clock time they were counted at."""
        now = self.clock.time()
        self.ledger = count(self.ledger, archived_total - self.seen, now, self.tz, self.clock.boot_id(),
                            self.clock.boottime())
        self.seen = archived_total
        return now

    def keep(self, device, f, kinds):
        """Given a device, one of its files leaving RAM and the kinds thinned this pass, return False if
        the file is to be thinned (its kind is thinned and its window already has a file)."""
        key = (device, f.kind)
        if f.kind not in kinds:
            if self.on:
                self.windows[key] = int(f.mtime // self.settings.min_interval_seconds[f.kind])
            return True
        kept, _, self.windows[key] = spaced([f], self.settings.min_interval_seconds[f.kind], self.windows.get(key))
        return bool(kept)

    def summary(self):
        """The budget's part of the heartbeat document, or None when it is off."""
        if not self.on:
            return None
        return {"gb_per_day": self.settings.gb_per_day, "day": self.ledger.day, "spent_bytes": self.ledger.spent,
                "pace_bytes": None if self.pace_bytes is None else round(self.pace_bytes),
                "thinning": list(self.thinning), "order": list(self.settings.order),
                "min_interval_seconds": dict(self.settings.min_interval_seconds)}

    def _log_change(self, kinds):
        if kinds == self.thinning:
            return
        spent, p = self.ledger.spent / 1e9, (self.pace_bytes or 0) / 1e9
        if not kinds:
            self.log.info("SD budget %g GB/day: %.3f GB archived today, back under the pace (%.3f GB): full rate",
                          self.settings.gb_per_day, spent, p)
            return
        every = ", ".join(f"{k} to one per {self.settings.min_interval_seconds[k]:g} s" for k in kinds)
        self.log.warning("SD budget %g GB/day: %.3f GB archived today, ahead of the pace (%.3f GB): thinning %s",
                         self.settings.gb_per_day, spent, p, every)

    def _save(self):
        """Write the ledger when SAVE_SECONDS have passed since the last write (real time)."""
        boot = self.clock.boottime()
        if self._saved_at is not None and boot - self._saved_at < SAVE_SECONDS:
            return
        try:
            save(self.run_dir, self.ledger)
        except OSError as e:  # the count goes on in memory; the next pass tries again
            self.log.error("cannot write %s: %s", path(self.run_dir), e)
            return
        self._saved_at = boot


__all__ = ["Budget", "Ledger", "allowance", "count", "day_span", "kinds_to_thin", "pace", "spaced", "stepped"]
