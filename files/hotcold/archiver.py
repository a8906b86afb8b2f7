"""The archive engine: one pass over one device moves what must leave RAM.

A pass reads as four steps:

  scan    the media files in RAM (hotfiles.scan); latest.jpg follows the newest capture (latest.LatestLink)
  decide  what stays and what goes (policy.due: hot limits, live playlist gate, NORMAL/DRAIN/FLUSH);
          the tmpfs above ``high_water_percent`` turns NORMAL into DRAIN
  commit  batched moves to ``<kind>/<hour>/`` of each file's mtime hour in ``timezone``
          (mover.move_batch: visible at once, the RAM copy parked in the outbox), after the every_nth
          SD saver and the hour folders' day check (hours.HourFolders)
  record  counters, the open hours' indexes (indexes.OpenHours), the live playlist memory
          (playlist.LiveSegments)

A full card first gives up its oldest archived hours (evict.Evictor, down to ``evict_floor_hours``).
When the SD cannot take files, they stay in RAM (sdstate.SdState retries the SD on the monotonic clock);
past the tmpfs high water the oldest are dropped, just enough. A slow card that lets the tmpfs reach
LAST_RESORT_PERCENT meets the same drop between batches. The loss counters outlive a restart
(counterfile).

Durability is the checkpoint's (checkpoint.Checkpoint): every ``checkpoint_seconds`` (the daemon's timer),
at the end of ``run_once``, before an hour's indexes go to the SD and before a batch renames into a folder
the last flushed record did not announce, ONE syncfs for all devices makes everything visible durable;
only then are the outbox RAM copies unlinked.
"""

import errno
import logging
import os
import time
import weakref

from hotcold import counterfile, hotmount, policy, sysd, wear
from hotcold.budget import Budget
from hotcold.checkpoint import Checkpoint
from hotcold.clock import Clock
from hotcold.evict import Evictor, over_mark
from hotcold.fsutil import ErrorWatch, disk_usage, syncfs, unlink_quiet
from hotcold.hotfiles import scan
from hotcold.hours import OLDER, UNSYNCED, HourFolders, hour_key, hour_start
from hotcold.indexes import OpenHours
from hotcold.latest import LatestLink
from hotcold.layout import HOT_KINDS, METADATA_FILE, layouts
from hotcold.mover import MoveItem, complete_half_done, move_batch, remove_temp_files
from hotcold.playlist import LiveSegments
from hotcold.sdstate import SdState

log = logging.getLogger("hotcold.archiver")

NORMAL, DRAIN, FLUSH = policy.NORMAL, policy.DRAIN, policy.FLUSH

# One batch holds at most this many files / bytes, so that after an SD outage or at a flush a batch
# still ends within seconds on a slow card: a batch that never finished before the next crash or
# watchdog kill would make no progress at all.
BATCH_MAX = 400
BATCH_MAX_BYTES = 16 * 1024 * 1024

# unsynced: files set aside to <kind>/unsynced-<day>-<HH>/ after a clock step (hours.HourFolders), kept
# thinned_<kind>: files the SD wear budget deleted instead of archiving (budget.py)
COUNTERS = ("archived", "archived_bytes", "dropped", "skipped", "expired", "errors", "recovered", "collisions",
            "unsynced", "evicted", *(f"thinned_{k}" for k in HOT_KINDS))

# A card that takes files, but slower than FFmpeg writes them: past this tmpfs use the oldest files
# waiting for the SD are dropped (down to the high water) so that FFmpeg never meets ENOSPC. Health
# says CRIT at the same use.
LAST_RESORT_PERCENT = 95
# The outbox (RAM copies waiting for a checkpoint) shares the tmpfs with the hot files. Past this share of
# the high water a checkpoint comes early and releases it, so a burst never pushes the tmpfs to the high
# water only because copies already visible on the SD wait for the timer (tests/reliability/test_burst.py:
# with the check at the high water itself, a 10x burst reached 83 % of a 100M tmpfs).
EARLY_CHECKPOINT_SHARE = 0.75


class DeviceState:
    """What the archiver knows of one device between passes."""

    def __init__(self, layout, config, clock):
        self.layout = layout
        self.device = layout.device
        self.counters = dict.fromkeys(COUNTERS, 0)
        self.log = sysd.device_logger(log, self.device)  # its records carry DEVICE= in the journal
        self.sd = SdState(self.device, config.archive.rescan_seconds, self.counters, self.log)
        self.live = LiveSegments(layout.live_playlist)
        self.hours = OpenHours(layout, config.url_prefix, config.tz, self.counters, self.log, clock)
        self.latest = LatestLink(layout, self.log)
        self.folders = HourFolders(layout, config, clock, self.counters, self.log)
        self.hot_counts = dict.fromkeys(HOT_KINDS, 0)
        self.tmpfs_percent = None
        self.held = 0  # files that must leave RAM but stay, as the SD cannot take them now
        self.draining = False
        self.missing_logged = False
        self.last_pass = 0.0

    @property
    def sd_ok(self):  # what `archive --once` and the tests read
        return self.sd.ok

    @property
    def sd_error(self):
        return self.sd.error

    def summary(self):
        """The device's part of the heartbeat document."""
        return {
            **self.counters,
            "sd_ok": self.sd.ok,
            "sd_error": self.sd.error,
            "hot": dict(self.hot_counts),
            "tmpfs_percent": None if self.tmpfs_percent is None else round(self.tmpfs_percent, 1),
            "held": self.held,
            "last_pass": round(self.last_pass, 3),
            "open_hours": [str(k) for k in self.hours.keys()],
        }


class Archiver:
    """The archive engine for every configured device; the daemon and the CLI drive it."""

    def __init__(self, config, clock=None):
        self.cfg = config
        self.tz = config.tz
        self.clock = clock or Clock()
        self.monotonic = time.monotonic  # the SD retry timers (a test sets its own)
        lays = layouts(config)
        self.states = {d: DeviceState(lay, config, self.clock) for d, lay in lays.items()}
        self.evictor = Evictor(lays, config.tz, config.archive.evict_floor_hours, log)
        self.budget = Budget(config.archive.budget, config.tz, self.clock, config.run_dir, log)
        self._kept = self._load_counters()
        self.on_progress = None  # called after each batch (the daemon pings the watchdog)
        self.disk_baseline = _disk_baseline(config.base_path, self.now())
        self.sd_watch = _error_watch(config.base_path)
        weakref.finalize(self, self.sd_watch.close)  # in-process users (tests) let go of the SD when done
        self.cp = Checkpoint(config.base_path, lays, config.tz, self.sd_watch.syncfs,
                             ram_present=lambda d: hotmount.problem(lays[d].hot) is None)
        self.next_checkpoint = self.monotonic() + checkpoint_period(config.archive)
        for state in self.states.values():  # an hour's SD indexes go into place with the next checkpoint
            state.hours.stage = self.cp.stage

    def now(self):
        return self.clock.time()

    # ------------------------------------------------------------ startup
    def recover(self):
        """Finish or undo what a killed archiver left half done; rebuild the open hour's indexes."""
        now = self.now()
        for state in self.states.values():
            self._recover_device(state, now)
        self.cp.dirty = True  # the first pass ends with a checkpoint: it announces the hours about to be written
        if self.cp.staged:  # the past hours' indexes the repair rebuilt go into place before the first pass
            self.checkpoint()

    def _recover_device(self, state, now):
        """Given a device state and the time: remove temp files, check what the last checkpoint did not
        cover (checkpoint.recover_device), complete half-done moves, rebuild the indexes (a failure is
        logged and counted; the archiver still starts)."""
        lay = state.layout
        ram = self._hot_present(state)  # else the SD under an unmounted tmpfs: its RAM side is left alone
        try:
            removed = remove_temp_files(lay, now, ram=ram)
            verified, dropped = self.cp.recover_device(state.device, now, ram=ram)
            done = 0 if not ram else complete_half_done(lay, self.tz, now,
                                                        lambda kind, sd: self.cp.hold(state.device, kind, sd))
        except OSError as e:
            state.log.error("%s: recovery failed: %s", state.device, e)
            state.counters["errors"] += 1
            return
        state.counters["recovered"] += done
        if removed or done or verified or dropped:
            state.log.info("%s: recovery removed %d temp file(s), completed %d half-done move(s); of the files "
                           "visible but not checkpointed %d matched their record, %d did not and were removed",
                           state.device, removed, done, verified, dropped)
        in_ram = {hour_key(f.mtime, self.tz) for lst in scan(lay).values() for f in lst} if ram else set()
        state.hours.rebuild(now, in_ram)

    def on_capture(self, device, name):
        """Fast path from inotify: point latest.jpg at a newer capture at once."""
        state = self.states.get(device)
        if state is not None:
            state.latest.offer(name)

    # ------------------------------------------------------------ one pass
    def pass_device(self, device, mode=NORMAL):
        """Given a device and a mode, archive what must leave its RAM: scan, decide, commit, record.
        Return the files still in RAM by kind ({} if the hot folder is missing)."""
        state = self.states[device]
        now = self.now()
        if not self._hot_present(state):
            return {}
        files = scan(state.layout)
        state.latest.follow(files["captures"])
        mode = self._mode(state, mode)
        state.live.refresh()
        verdict = policy.due(files, self.cfg.hot_limits, mode, state.live.first, self.cfg.archive.segment_margin)
        to_move, gone = self._thin(state, verdict.go)
        gone |= self._commit(state, to_move, mode, now)
        remaining = self._record(state, files, gone, mode, now)
        self._save_counters()
        return remaining

    def _hot_present(self, state):
        """True if the device's hot folder is its tmpfs (else it is missing, or the SD card underneath an
        unmounted tmpfs: nothing is read or written there); logged once until it is back."""
        why = hotmount.problem(state.layout.hot)
        if why:
            state.hot_counts = dict.fromkeys(HOT_KINDS, 0)  # nothing of the device is in reach in RAM
            state.tmpfs_percent = None
            if not state.missing_logged:
                state.log.warning("%s: hot folder %s %s", state.device, state.layout.hot, why)
                state.missing_logged = True
            return False
        state.missing_logged = False
        return True

    def _mode(self, state, mode):
        """Given the requested mode, return the pass's mode: NORMAL becomes DRAIN while the tmpfs is at
        or above its high water (logged when draining starts)."""
        usage = disk_usage(state.layout.hot)
        state.tmpfs_percent = usage[2] if usage else None
        high = self.cfg.archive.high_water_percent
        if usage and usage[2] >= high * EARLY_CHECKPOINT_SHARE and self.cp.pending:
            self.checkpoint()  # the outbox holds RAM too: release it before the hot files have to drain
            usage = disk_usage(state.layout.hot)
            state.tmpfs_percent = usage[2] if usage else None
        if mode == NORMAL and usage and usage[2] >= high:
            if not state.draining:
                state.log.warning("%s: tmpfs %.0f%% full (high water %d%%): draining to the limits now",
                            state.device, usage[2], high)
            state.draining = True
            return DRAIN
        if mode == NORMAL:
            state.draining = False
        return mode

    def _thin(self, state, files):
        """Given the files that leave RAM (oldest first), delete those the every_nth SD saver skips and,
        while the archive runs ahead of the SD wear budget's pace, those it thins (budget.py).
        Return (files to move, paths no longer in RAM)."""
        to_move = []
        gone = set()
        thin = self.budget.thin_now(self._archived_bytes())
        for f in files:
            nth = self.cfg.archive.every_nth.get(f.kind, 1)
            if nth > 1 and f.number % nth:
                counter = "skipped"
            elif not self.budget.keep(state.device, f, thin):
                counter = f"thinned_{f.kind}"
            else:
                to_move.append(f)
                continue
            if unlink_quiet(f.path):
                state.counters[counter] += 1
            gone.add(f.path)
        return to_move, gone

    def _archived_bytes(self):
        """The bytes all devices archived since the archiver started (the SD wear budget counts them)."""
        return sum(s.counters["archived_bytes"] for s in self.states.values())

    def _record(self, state, files, gone, mode, now):
        """Given the scanned files and the paths that left RAM, record the pass: RAM counts, the live
        playlist memory, the open hours. Return the files still in RAM by kind."""
        remaining = {k: [f for f in files[k] if f.path not in gone] for k in HOT_KINDS}
        state.hot_counts = {k: len(v) for k, v in remaining.items()}
        if files["segments"]:
            state.live.trim(files["segments"][0].number)
        state.hours.close(remaining, now, flush=(mode == FLUSH))
        state.last_pass = now
        return remaining

    # ------------------------------------------------------------ commit
    def _commit(self, state, files, mode, now):
        """Move ``files`` (oldest first) in bounded batches; return the source paths no longer in RAM.
        ENOSPC evicts old archive and retries the batch; a slow card meets the last-resort drop
        between batches; when the SD fails the rest stays in RAM up to the high water (``_hold``).
        A flush never drops: what it cannot move stays in RAM."""
        flush = mode == FLUSH
        state.held = 0
        if not files:
            return set()
        if state.sd.waiting(self.monotonic(), flush):
            return self._hold(state, files, flush)
        gone = set()
        pending = files
        while pending:
            if not flush:
                gone |= self._last_resort(state, pending)
            pending = [f for f in pending if f.path not in gone]
            if not pending:
                break
            _, chunk = next(_chunks(pending))
            sd_error = self._commit_batch(state, chunk, now, gone)
            if sd_error is not None and sd_error.errno == errno.ENOSPC and self._evict(state, now):
                continue  # room was made: the same batch again
            if sd_error is not None:
                state.sd.failed(sd_error, self.monotonic())
                return gone | self._hold(state, [f for f in pending if f.path not in gone], flush)
            pending = pending[len(chunk):]
        return gone

    def _high_water(self):
        """The tmpfs use (percent) the drops bring a device back under."""
        return min(self.cfg.archive.high_water_percent, LAST_RESORT_PERCENT)

    def _hold(self, state, files, flush):
        """Given the files the SD cannot take now (oldest first): they stay in RAM; past the high water
        the oldest are dropped, just enough to get under it (never on a flush). Return the dropped
        paths."""
        usage = None if flush else disk_usage(state.layout.hot)
        victims = [] if usage is None else over_mark(files, usage[0] * usage[2] / 100.0, usage[0], self._high_water())
        state.held = len(files) - len(victims)
        return state.sd.drop(victims) if victims else set()

    def _last_resort(self, state, pending):
        """Given the files still to move (oldest first): if the tmpfs is LAST_RESORT_PERCENT full (the
        card is slower than FFmpeg), drop the oldest down to the high water. Return the dropped paths."""
        usage = disk_usage(state.layout.hot)
        if usage is not None and usage[2] >= LAST_RESORT_PERCENT and self.cp.pending:
            self.checkpoint()  # the outbox copies go first: a checkpoint releases them without a loss
            usage = disk_usage(state.layout.hot)
        if usage is None or usage[2] < LAST_RESORT_PERCENT:
            return set()
        victims = over_mark(pending, usage[0] * usage[2] / 100.0, usage[0], self._high_water())
        why = f"tmpfs {usage[2]:.0f}% full, the SD is too slow: last-resort drop"
        return state.sd.drop(victims, why)

    def _evict(self, state, now):
        """On ENOSPC, given the device whose batch met it and the time: evict the hour folder
        evict.choose picks (of any device: they share the card), count and log it. Return True if a
        folder was evicted."""
        protected = {(d, hour_start(k, self.tz)) for d, s in self.states.items() for k in s.hours.keys()}
        try:
            f = self.evictor.evict_one(now, protected)
        except OSError as e:
            log.error("%s: SD full and eviction failed: %s", state.device, e)
            return False
        if f is None:
            return False
        self.states[f.device].counters["evicted"] += f.files
        log.warning("%s: SD full: evicted %s/%d of %s (%d file(s), %.1f MB) to make room for %s's footage "
                    "(the newest %d h are never evicted)", f.device, f.kind, f.hour, f.day, f.files,
                    f.bytes / 1e6, state.device, self.cfg.archive.evict_floor_hours)
        return True

    def _commit_batch(self, state, chunk, now, gone):
        """Given one batch of hot files, move it durably and record what moved; add the paths that left
        RAM to ``gone``. Return the OSError of the SD side, or None. After a clock step a batch can hold
        two days of one hour: it is moved in parts (see _batch_items)."""
        while chunk:
            try:
                items, segs, chunk = self._batch_items(state, chunk, now, gone)
            except OSError as e:
                return e
            err = self._announce(state, items, now)
            if err is not None:
                return err
            res = move_batch(items, now, lambda it: self.cp.hold(state.device, it.kind, it.dst))
            self.cp.note_batch(state.device, res)
            self._record_batch(state, res, segs, gone)
            if res.sd_error is not None:
                return res.sd_error
            if res.failed:
                state.counters["errors"] += len(res.failed)
                state.log.warning("%s: %d file(s) not archived this time (will retry): %s", state.device,
                                  len(res.failed), ", ".join(i.name for i in res.failed[:5]))
            if res.moved and self.cp.error is None:  # visible is not enough while checkpoints fail
                state.sd.took_files()
            if self.on_progress is not None:
                self.on_progress()
        return None

    def _announce(self, state, items, now):
        """Before a batch renames into a folder the last flushed checkpoint record did not announce, a
        checkpoint announces it (recovery checks only announced folders). Return its OSError or None."""
        pairs = [(it.dst_dir, it.meta_path) for it in items]
        if self.cp.allowed(state.device, pairs):
            return None
        return self.checkpoint(want={state.device: pairs})

    # ------------------------------------------------------------ checkpoint
    def checkpoint(self, want=None):
        """Make everything visible on the SD durable with one flush and release the outbox RAM copies
        (checkpoint.Checkpoint.run). Return None or the OSError that failed it (counted, logged)."""
        started = self.monotonic()
        err = self.cp.run(self.now(), want)
        mono = self.monotonic()
        self.next_checkpoint = started + checkpoint_period(self.cfg.archive)
        for state in self.states.values():
            # a card that cannot make files durable takes no more: they stay in RAM (up to the high water)
            # until a checkpoint succeeds again, and health says SD not writable
            if err is not None:
                state.sd.failed(err, mono)
            else:
                state.sd.took_files()
        if self.on_progress is not None:
            self.on_progress()
        return err

    def checkpoint_due(self):
        """True if the checkpoint interval is over and there is something to make durable."""
        return self.cp.due() and (self.cp.urgent or self.monotonic() >= self.next_checkpoint)

    def _batch_items(self, state, chunk, now, gone):
        """Given a batch of hot files, prepare their hour folders and return (MoveItems, {src path:
        Segment}, the files left for another part). A file older than the day its hour folder now holds
        is past retention: it is deleted and added to ``gone``; after a clock step it goes to its
        unsynced folder instead (hours.py). The part ends before a file whose hour has another day
        than an earlier file's of the part: preparing its folder may set aside or clear the folder the
        earlier ones are bound for. Raises OSError when the SD side fails."""
        items = []
        segs = {}
        days = {}  # hour -> day of this part's files
        for i, f in enumerate(chunk):
            key = hour_key(f.mtime, self.tz)
            if days.setdefault(key.hour, key.day) != key.day:
                return items, segs, chunk[i:]
            status, dst_dir = state.folders.prepare(f.kind, key, f.mtime)
            if status == OLDER:
                self._expire(state, f, key)
                gone.add(f.path)
                continue
            meta_status, meta_dir = state.folders.prepare("metadata", key, f.mtime)
            meta = None if meta_status == OLDER else os.path.join(meta_dir, METADATA_FILE)
            record = {"archived_at": round(now, 3)}
            if f.kind == "segments":
                seg = segs[f.path] = state.live.segment_for(f, self.tz)
                record["duration"] = seg.duration
                record["program_date_time"] = seg.program_date_time
            # a file set aside is in no hour's index: key None (its hour folder holds another day)
            items.append(MoveItem(kind=f.kind, name=f.name, src=f.path, dst_dir=dst_dir, meta_path=meta,
                                  record=record, key=None if status == UNSYNCED else key, number=f.number))
        return items, segs, []

    def _expire(self, state, f, key):
        if unlink_quiet(f.path):
            state.counters["expired"] += 1
            state.log.warning("%s: %s is from %s, older than the day its hour folder %s/%d "
                        "now holds: past retention, deleted", state.device, f.name, key.day,
                        f.kind, key.hour)

    def _record_batch(self, state, res, segs, gone):
        """Given a BatchResult, count what moved, add it to its open hour's indexes and add the paths
        no longer in RAM (moved, vanished) to ``gone``."""
        for it in res.moved:
            gone.add(it.src)
            state.counters["archived"] += 1
            state.counters["archived_bytes"] += it.size
            if it.key is None:  # set aside to an unsynced folder
                state.counters["unsynced"] += 1
            elif it.kind == "thumbnails":
                state.hours.get(it.key).add_thumbnail(it.name, it.number)
            elif it.kind == "segments":
                state.hours.get(it.key).add_segment(segs[it.src])
        for it in res.vanished:
            gone.add(it.src)
        state.counters["collisions"] += len(res.collisions)
        if res.meta_error is not None:
            state.counters["errors"] += 1

    # ------------------------------------------------------------ kept counters
    def _load_counters(self):
        """Carry the loss counters (counterfile.KEPT) over from the last run; return what is saved."""
        for dev, kept in counterfile.load(self.cfg.run_dir, log).items():
            if dev in self.states:
                self.states[dev].counters.update(kept)
        return counterfile.kept({d: s.counters for d, s in self.states.items()})

    def _save_counters(self):
        """Write the loss counters to the run dir if they changed since the last write."""
        doc = counterfile.kept({d: s.counters for d, s in self.states.items()})
        if doc == self._kept:
            return
        try:
            counterfile.save(self.cfg.run_dir, doc)
        except OSError as e:  # counting goes on in memory; the next change tries again
            log.error("cannot write %s: %s", counterfile.path(self.cfg.run_dir), e)
            return
        self._kept = doc

    # ------------------------------------------------------------ indexes
    def write_ram_indexes(self, force=False):
        """Rewrite the changed open hours' RAM indexes of every device (at most once a second unless ``force``)."""
        now = self.now()
        for state in self.states.values():
            state.hours.write_ram(now, force)

    def next_index_due(self):
        """When the next RAM index rewrite of any device is due (epoch seconds), or None."""
        return min((t for state in self.states.values() if (t := state.hours.next_due()) is not None), default=None)

    # ------------------------------------------------------------ whole runs
    def run_once(self, mode=NORMAL):
        """One pass over every device, then a checkpoint: what left the hot folders is durable and out
        of RAM when it returns (unless the checkpoint failed). Return the files left in RAM by device."""
        left = {}
        for dev in self.states:
            left[dev] = self.pass_device(dev, mode)
        self.write_ram_indexes(force=True)
        if self.cp.due():
            self.checkpoint()
        return left

    def flush(self):
        """Everything in RAM to the SD, incl. the open hours' indexes, and a final checkpoint. True if
        RAM (hot folders and outbox) is empty."""
        left = self.run_once(FLUSH)
        self.budget.close(self._archived_bytes())
        ok = True
        if not self.cp.pending:
            # one more (empty) checkpoint: its record covers everything, so the next start checks nothing
            self.cp.dirty = True
            self.checkpoint()
        if self.cp.pending:
            ok = False
            log.error("flush: %d file(s) wait in the outbox, the checkpoint failed (%s)", len(self.cp.pending),
                      self.cp.error)
        for dev, rem in left.items():
            n = sum(len(v) for v in rem.values())
            if n:
                ok = False
                log.error("%s: flush left %d file(s) in RAM (SD: %s)", dev, n, self.states[dev].sd.error,
                          extra=sysd.device_field(dev))
        return ok

    def flush_devices(self, devices):
        """Given some devices (a capture unit's stop, before its tmpfs may be unmounted), move their RAM to the
        SD and end with a checkpoint (one syncfs for the card), so their files are durable on the SD and their
        outbox RAM copies released before the tmpfs goes; the other devices keep their newest files in RAM.
        True if none of them has a file left in RAM (hot folders or outbox)."""
        left = {d: self.pass_device(d, FLUSH) for d in devices}
        self.write_ram_indexes(force=True)
        if self.cp.due():
            self.checkpoint()
        ok = True
        for d in devices:
            hot, waiting = sum(len(v) for v in left[d].values()), self.outbox_count(d)
            if hot or waiting:
                ok = False
                log.error("%s: flush left %d file(s) in RAM and %d in the outbox (SD: %s; checkpoint: %s)", d, hot,
                          waiting, self.states[d].sd.error, self.cp.error, extra=sysd.device_field(d))
        return ok

    def outbox_count(self, device):
        """The device's RAM copies that wait in its outbox for a checkpoint."""
        return sum(1 for p in self.cp.pending if p.device == device)

    def heartbeat_doc(self, started):
        return {
            "pid": os.getpid(),
            "time": round(self.now(), 3),
            "started": round(started, 3),
            "devices": {d: {**state.summary(), "outbox": self.outbox_count(d)} for d, state in self.states.items()},
            "sd_disk": self.disk_baseline,
            "budget": self.budget.summary(),
            "checkpoint": self.cp.summary(self.now()),
        }

    def status_line(self):
        parts = []
        for d, state in self.states.items():
            c = state.counters
            s = f"{d}: {c['archived']} archived, {c['dropped']} dropped"
            if not state.sd.ok:
                s += " (SD FAILING)"
            parts.append(s)
        return "; ".join(parts)


def checkpoint_period(archive):
    """Seconds from one checkpoint's start to the next: ``checkpoint_seconds`` bounds how long a file waits
    from leaving the hot set to durable, and it spends up to ``batch_seconds`` of that before it is even
    visible, so the timer runs that much shorter (half the interval at least)."""
    return max(archive.checkpoint_seconds - archive.batch_seconds, archive.checkpoint_seconds / 2)


def _chunks(files):
    """Yield (start index, files) batches bounded by BATCH_MAX files and BATCH_MAX_BYTES."""
    start = 0
    while start < len(files):
        end = start
        size = 0
        while (end < len(files) and end - start < BATCH_MAX
               and (end == start or size + files[end].size <= BATCH_MAX_BYTES)):
            size += files[end].size
            end += 1
        yield start, files[start:end]
        start = end


def _disk_baseline(base_path, now):
    """The SD's write counters when the archiver started (card wear is paced from them), or None."""
    try:
        return wear.snapshot(base_path, now)
    except OSError as e:  # no base path yet, an exotic /sys: no wear figures, archiving goes on
        log.info("no card wear figures for %s: %s", base_path, e)
        return None


class _NoWatch:
    """Where the base path cannot be opened at start: every syncfs opens its own descriptor."""

    syncfs = staticmethod(syncfs)

    def close(self):
        pass


def _error_watch(base_path):
    """An ErrorWatch on the SD from the archiver's start, so that no write-back error goes unseen."""
    try:
        return ErrorWatch(base_path)
    except OSError as e:
        log.warning("cannot watch %s for write errors from the start: %s", base_path, e)
        return _NoWatch()
