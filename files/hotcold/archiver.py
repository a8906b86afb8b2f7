"""The archive engine: one pass over one device moves what must leave RAM.

Per kind, the newest ``hot_limits[kind]`` files (by mtime, tie-break on the number in the name)
stay in RAM; older ones go to ``<kind>/<hour>/`` of their mtime's hour in ``timezone``. A segment
is eligible only once it has left the live playlist plus ``segment_margin``: its number is below
(first number in output.m3u8) - margin, so ``margin`` segments that a player may still be fetching
stay. Modes:

  NORMAL  the rules above
  DRAIN   the tmpfs is above ``high_water_percent``: down to the limits now, ignoring the playlist
  FLUSH   everything in RAM goes to the SD (``flush``, SIGTERM)

If the SD cannot take files (ENOSPC, EROFS, EIO...) the files beyond the limits are dropped
(deleted, counted, logged one by one) so the tmpfs never fills and FFmpeg never dies of ENOSPC;
the SD is retried every ``rescan_seconds`` and archiving resumes by itself.
"""

import errno
import logging
import os
import stat
from dataclasses import dataclass

from hotcold import latest as latest_mod
from hotcold import policy
from hotcold.clock import Clock
from hotcold.fsutil import disk_usage, unlink_quiet
from hotcold.hours import OLDER, hour_key, prepare_hour_folder
from hotcold.indexes import HourIndex, repair_past_hours
from hotcold.layout import HOT_KINDS, LATEST_LINK, is_temp, layouts, number_of
from hotcold.mover import MoveItem, complete_half_done, move_batch, remove_temp_files
from hotcold.playlist import Segment, format_pdt, read_live

log = logging.getLogger("hotcold.archiver")

NORMAL, DRAIN, FLUSH = policy.NORMAL, policy.DRAIN, policy.FLUSH

# One durable batch (one syncfs) holds at most this many files / bytes, so that after an SD outage or
# at a flush a batch still ends within seconds on a slow card: a batch that never finished before
# the next crash or watchdog kill would make no progress at all.
BATCH_MAX = 400
BATCH_MAX_BYTES = 16 * 1024 * 1024
RAM_INDEX_INTERVAL = 1.0  # at most one RAM index rewrite per second per device and hour
LIVE_MEMORY = 2000  # segment durations/PDTs remembered from the live playlist


@dataclass(frozen=True)
class HotFile:
    kind: str
    name: str
    number: int
    mtime: float
    size: int
    path: str


COUNTERS = ("archived", "dropped", "skipped", "expired", "errors", "recovered")


class DeviceState:
    def __init__(self, layout):
        self.layout = layout
        self.device = layout.device
        self.counters = dict.fromkeys(COUNTERS, 0)
        self.sd_ok = True
        self.sd_error = None
        self.sd_retry_at = 0.0
        self.live = {}  # segment number -> Segment (from the live playlist)
        self.live_first = None
        self.live_ident = None
        self.target_duration = 1.0
        self.latest_number = None
        self.indexes = {}  # HourKey -> HourIndex (open hours)
        self.hot_counts = dict.fromkeys(HOT_KINDS, 0)
        self.tmpfs_percent = None
        self.draining = False
        self.missing_logged = False
        self.folder_cache = {}  # (kind, hour) -> (st_ino, day)
        self.last_pass = 0.0

    def summary(self):
        return {
            **self.counters,
            "sd_ok": self.sd_ok,
            "sd_error": self.sd_error,
            "hot": dict(self.hot_counts),
            "tmpfs_percent": None if self.tmpfs_percent is None else round(self.tmpfs_percent, 1),
            "last_pass": round(self.last_pass, 3),
            "open_hours": [str(k) for k in sorted(self.indexes)],
        }


class Archiver:
    def __init__(self, config, clock=None):
        self.cfg = config
        self.tz = config.tz
        self.clock = clock or Clock()
        self.states = {d: DeviceState(lay) for d, lay in layouts(config).items()}
        self.on_progress = None  # called after each batch (the daemon pings the watchdog)

    def now(self):
        return self.clock.time()

    # ------------------------------------------------------------ startup
    def recover(self):
        """Finish or undo what a killed archiver left half done; rebuild the open hour's indexes."""
        now = self.now()
        cur = hour_key(now, self.tz)
        for st in self.states.values():
            lay = st.layout
            try:
                removed = remove_temp_files(lay, now)
                done = complete_half_done(lay, self.tz, now)
            except OSError as e:
                log.error("%s: recovery failed: %s", st.device, e)
                st.counters["errors"] += 1
                continue
            st.counters["recovered"] += done
            if removed or done:
                log.info("%s: recovery removed %d temp file(s), completed %d half-done move(s)",
                         st.device, removed, done)
            # RAM indexes are derived data: drop them and rebuild the current hour from the SD
            _clear_dir(lay.index_dir)
            in_ram = {hour_key(f.mtime, self.tz) for lst in self.scan(st).values() for f in lst}
            try:
                repair_past_hours(lay, self.cfg.url_prefix, self.tz, cur, in_ram, log)
            except OSError as e:
                log.error("%s: cannot write past hours' indexes: %s", st.device, e)
            idx = HourIndex(lay, cur, self.cfg.url_prefix, self.tz)
            st.indexes[cur] = idx
            if idx.dirty and os.path.isdir(lay.hot):
                try:
                    idx.write_ram(now)
                except OSError as e:
                    log.error("%s: cannot write RAM index: %s", st.device, e)

    # ------------------------------------------------------------ scanning
    def scan(self, st):
        out = {}
        for kind in HOT_KINDS:
            files = []
            d = st.layout.hot_dir(kind)
            try:
                with os.scandir(d) as it:
                    for e in it:
                        n = number_of(kind, e.name)
                        if n is None:
                            continue
                        try:
                            s = e.stat(follow_symlinks=False)
                        except FileNotFoundError:
                            continue
                        if stat.S_ISREG(s.st_mode):
                            files.append(HotFile(kind, e.name, n, s.st_mtime, s.st_size, e.path))
            except FileNotFoundError:
                pass
            files.sort(key=lambda f: (f.mtime, f.number))
            out[kind] = files
        return out

    def refresh_live(self, st):
        path = st.layout.live_playlist
        try:
            s = os.stat(path)
        except FileNotFoundError:
            st.live_first = None
            st.live_ident = None
            return
        ident = (s.st_ino, s.st_mtime_ns, s.st_size)
        if ident == st.live_ident:
            return
        pl = read_live(path)
        st.live_ident = ident
        if pl is None:
            st.live_first = None
            return
        for seg in pl.segments:
            st.live[seg.number] = seg
        if pl.target_duration:
            st.target_duration = pl.target_duration
        st.live_first = pl.first_number
        if len(st.live) > LIVE_MEMORY:
            for n in sorted(st.live)[: len(st.live) - LIVE_MEMORY]:
                del st.live[n]

    def on_capture(self, device, name):
        """Fast path from inotify: point latest.jpg at a newer capture at once."""
        st = self.states.get(device)
        n = number_of("captures", name)
        if st is None or n is None:
            return
        if st.latest_number is None or n > st.latest_number:
            try:
                latest_mod.swap_link(st.layout.hot_dir("captures"), name)
                st.latest_number = n
            except OSError as e:
                log.debug("%s: cannot swap latest.jpg: %s", device, e)

    def _update_latest(self, st, captures):
        if not captures:
            return
        newest = captures[-1]
        link = os.path.join(st.layout.hot_dir("captures"), LATEST_LINK)
        try:
            cur = os.readlink(link)
        except OSError:
            cur = None
        if cur != newest.name:
            try:
                latest_mod.swap_link(st.layout.hot_dir("captures"), newest.name)
            except OSError as e:
                log.debug("%s: cannot swap latest.jpg: %s", st.device, e)
                return
        st.latest_number = newest.number

    # ------------------------------------------------------------ one pass
    def pass_device(self, device, mode=NORMAL):
        """Archive what must leave RAM for one device. Returns the files still in RAM (by kind)."""
        st = self.states[device]
        lay = st.layout
        now = self.now()
        if not os.path.isdir(lay.hot):
            if not st.missing_logged:
                log.warning("%s: hot folder %s is missing", device, lay.hot)
                st.missing_logged = True
            return {}
        st.missing_logged = False
        files = self.scan(st)
        self._update_latest(st, files["captures"])
        usage = disk_usage(lay.hot)
        st.tmpfs_percent = usage[2] if usage else None
        if mode == NORMAL and usage and usage[2] >= self.cfg.archive.high_water_percent:
            mode = DRAIN
            if not st.draining:
                log.warning("%s: tmpfs %.0f%% full (high water %d%%): draining to the limits now",
                            device, usage[2], self.cfg.archive.high_water_percent)
            st.draining = True
        elif mode == NORMAL:
            st.draining = False
        self.refresh_live(st)

        verdict = policy.due(files, self.cfg.hot_limits, mode, st.live_first, self.cfg.archive.segment_margin)

        to_move = []
        gone = set()
        for f in verdict.go:
            nth = self.cfg.archive.every_nth.get(f.kind, 1)
            if nth > 1 and f.number % nth:
                if unlink_quiet(f.path):
                    st.counters["skipped"] += 1
                gone.add(f.path)
            else:
                to_move.append(f)
        gone |= self._archive(st, to_move, mode, now)

        remaining = {k: [f for f in files[k] if f.path not in gone] for k in HOT_KINDS}
        st.hot_counts = {k: len(v) for k, v in remaining.items()}
        if files["segments"]:
            lowest = files["segments"][0].number
            for n in [n for n in st.live if n < lowest - 10]:
                del st.live[n]
        self._close_hours(st, remaining, now, flush=(mode == FLUSH))
        st.last_pass = now
        return remaining

    def _prepare(self, st, kind, key):
        """Day-marker check for an archive hour folder, cached by the folder's inode."""
        lay = st.layout
        hdir = lay.hour_dir(kind, key.hour)
        ck = (kind, key.hour)
        cached = st.folder_cache.get(ck)
        if cached is not None and cached[1] == key.day:
            try:
                if os.stat(hdir).st_ino == cached[0]:
                    return "ok"
            except FileNotFoundError:
                pass
        status = prepare_hour_folder(lay.kind_dir(kind), key.hour, key.day, self.tz, log)
        if status != OLDER:
            st.folder_cache[ck] = (os.stat(hdir).st_ino, key.day)
        return status

    def _segment(self, st, f):
        seg = st.live.get(f.number)
        if seg is not None:
            return Segment(f.name, f.number, seg.duration, seg.program_date_time, seg.start)
        dur = st.target_duration or 1.0
        # Not seen in a live playlist (it had already left it when the archiver started). Count back
        # from the nearest later segment the playlist did date: numbers rise by one per segment.
        later = [n for n in st.live if f.number < n <= f.number + 100 and st.live[n].start is not None]
        if later:
            m = min(later)
            start = st.live[m].start - (m - f.number) * dur
        else:
            start = f.mtime - dur  # FFmpeg renames a segment into place when it has finished it
        return Segment(f.name, f.number, dur, format_pdt(start, self.tz), start)

    def _archive(self, st, files, mode, now):
        """Move ``files`` (oldest first); returns the set of source paths no longer in RAM."""
        gone = set()
        if not files:
            return gone
        if not st.sd_ok and now < st.sd_retry_at and mode != FLUSH:  # a flush always tries the SD
            gone |= self._drop(st, files)
            return gone
        for start, chunk in _chunks(files):
            items = []
            segs = {}
            try:
                for f in chunk:
                    key = hour_key(f.mtime, self.tz)
                    if self._prepare(st, f.kind, key) == OLDER:
                        if unlink_quiet(f.path):
                            st.counters["expired"] += 1
                            log.warning("%s: %s is from %s, older than the day its hour folder %s/%d "
                                        "now holds: past retention, deleted", st.device, f.name, key.day,
                                        f.kind, key.hour)
                        gone.add(f.path)
                        continue
                    meta = None
                    if self._prepare(st, "metadata", key) != OLDER:
                        meta = st.layout.metadata_file(key.hour)
                    record = {"archived_at": round(now, 3)}
                    if f.kind == "segments":
                        seg = self._segment(st, f)
                        segs[f.path] = seg
                        record["duration"] = seg.duration
                        record["program_date_time"] = seg.program_date_time
                    items.append(MoveItem(kind=f.kind, name=f.name, src=f.path,
                                          dst_dir=st.layout.hour_dir(f.kind, key.hour), meta_path=meta,
                                          record=record, key=key, number=f.number))
            except OSError as e:
                self._sd_failed(st, e, now)
                if mode != FLUSH:
                    gone |= self._drop(st, [f for f in files[start:] if f.path not in gone])
                return gone
            res = move_batch(items, now)
            for it in res.moved:
                gone.add(it.src)
                st.counters["archived"] += 1
                if it.kind == "thumbnails":
                    self._index(st, it.key).add_thumbnail(it.name, it.number)
                elif it.kind == "segments":
                    self._index(st, it.key).add_segment(segs[it.src])
            for it in res.vanished:
                gone.add(it.src)
            if res.meta_error is not None:
                st.counters["errors"] += 1
            if res.sd_error is not None:
                self._sd_failed(st, res.sd_error, now)
                if mode != FLUSH:
                    rest = [f for f in files[start:] if f.path not in gone]
                    gone |= self._drop(st, rest)
                return gone
            if res.failed:
                st.counters["errors"] += len(res.failed)
                log.warning("%s: %d file(s) not archived this time (will retry): %s", st.device,
                            len(res.failed), ", ".join(i.name for i in res.failed[:5]))
            if not st.sd_ok and res.moved:
                log.info("%s: the SD card takes files again: archiving resumed", st.device)
                st.sd_ok = True
                st.sd_error = None
            if self.on_progress is not None:
                self.on_progress()
        return gone

    def _sd_failed(self, st, err, now):
        st.counters["errors"] += 1
        msg = f"{errno.errorcode.get(err.errno, err.errno)}: {err.strerror or err}"
        if st.sd_ok or st.sd_error != msg:
            log.error("%s: the SD card cannot take files (%s); files beyond the hot limits are dropped "
                      "until it can; retrying every %gs", st.device, msg, self.cfg.archive.rescan_seconds)
        st.sd_ok = False
        st.sd_error = msg
        st.sd_retry_at = now + self.cfg.archive.rescan_seconds

    def _drop(self, st, files):
        gone = set()
        for f in files:
            if unlink_quiet(f.path):
                st.counters["dropped"] += 1
                log.warning("%s: dropped %s/%s (SD not writable: %s)", st.device, f.kind, f.name, st.sd_error)
            gone.add(f.path)
        return gone

    # ------------------------------------------------------------ indexes
    def _index(self, st, key):
        idx = st.indexes.get(key)
        if idx is None:
            idx = HourIndex(st.layout, key, self.cfg.url_prefix, self.tz)
            st.indexes[key] = idx
        return idx

    def _close_hours(self, st, remaining, now, flush=False):
        cur = hour_key(now, self.tz)
        pending = None
        for lst in remaining.values():
            for f in lst:
                k = hour_key(f.mtime, self.tz)
                if pending is None or k < pending:
                    pending = k
        for key in sorted(st.indexes):
            idx = st.indexes[key]
            if key < cur and (pending is None or pending > key):
                try:
                    idx.write_sd(ended=True)
                    idx.remove_ram()
                except OSError as e:
                    log.error("%s: cannot write the closed hour %s indexes: %s", st.device, key, e)
                    st.counters["errors"] += 1
                    continue
                if idx.thumbnails.total or idx.segments.total:
                    log.info("%s: hour %s closed: %d thumbnails, %d segments", st.device, key,
                             idx.thumbnails.total, idx.segments.total)
                del st.indexes[key]
            elif flush:
                try:
                    idx.write_sd(ended=False)
                except OSError as e:
                    log.error("%s: cannot write hour %s indexes to the SD: %s", st.device, key, e)
                    st.counters["errors"] += 1
        if cur not in st.indexes:
            st.indexes[cur] = HourIndex(st.layout, cur, self.cfg.url_prefix, self.tz)

    def write_ram_indexes(self, force=False):
        now = self.now()
        for st in self.states.values():
            if not os.path.isdir(st.layout.hot):
                continue
            for idx in st.indexes.values():
                if idx.dirty and (force or now - idx.ram_written_at >= RAM_INDEX_INTERVAL):
                    try:
                        idx.write_ram(now)
                    except OSError as e:
                        log.warning("%s: cannot write RAM index: %s", st.device, e)
                    except Exception:  # derived data: a bug here must not stop the archiving
                        log.exception("%s: RAM index of hour %s failed; rebuilding it from the SD", st.device,
                                      idx.key)
                        st.counters["errors"] += 1
                        idx.thumbnails.stale = idx.segments.stale = True

    def next_index_due(self):
        due = None
        for st in self.states.values():
            for idx in st.indexes.values():
                if idx.dirty:
                    t = idx.ram_written_at + RAM_INDEX_INTERVAL
                    due = t if due is None else min(due, t)
        return due

    # ------------------------------------------------------------ whole runs
    def run_once(self, mode=NORMAL):
        left = {}
        for dev in self.states:
            left[dev] = self.pass_device(dev, mode)
        self.write_ram_indexes(force=True)
        return left

    def flush(self):
        """Everything in RAM to the SD, incl. the open hours' indexes. True if RAM is empty."""
        left = self.run_once(FLUSH)
        ok = True
        for dev, rem in left.items():
            n = sum(len(v) for v in rem.values())
            if n:
                ok = False
                log.error("%s: flush left %d file(s) in RAM (SD: %s)", dev, n, self.states[dev].sd_error)
        return ok

    def heartbeat_doc(self, started):
        return {
            "pid": os.getpid(),
            "time": round(self.now(), 3),
            "started": round(started, 3),
            "devices": {d: st.summary() for d, st in self.states.items()},
        }

    def status_line(self):
        parts = []
        for d, st in self.states.items():
            c = st.counters
            s = f"{d}: {c['archived']} archived, {c['dropped']} dropped"
            if not st.sd_ok:
                s += " (SD FAILING)"
            parts.append(s)
        return "; ".join(parts)


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


def _clear_dir(d):
    try:
        with os.scandir(d) as it:
            names = [e.path for e in it if e.is_file(follow_symlinks=False) or is_temp(e.name)]
    except FileNotFoundError:
        return
    for p in names:
        unlink_quiet(p)
