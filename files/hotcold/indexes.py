"""Per-hour derived indexes: thumbnail index JSON and the archive HLS playlist.

While an hour is open (the current hour, or a past hour whose files are still leaving RAM) its
indexes live in the device's tmpfs (``hot/index/``, see docs/DESIGN.md "Why the current-hour indexes
live in RAM") and are rewritten there atomically, at most about once a second. When the hour closes,
and on flush / clean stop, they are written once to the SD hour folders:

    thumbnails/<h>/index.json   {"hour", "count", "thumbnails": [urls sorted by capture number]}
    segments/<h>/archive.m3u8   VOD + ENDLIST once the hour is closed (EVENT while it is not over)
    segments/<h>/index.json     {"hour", "manifest_url"}

The RAM copies have exactly the content the SD copies will have, so nginx can serve the RAM copy
at the SD copy's URL.

Cost in proportion to what is new: the RAM file is the store of an index's entries (growing.py); a
rewrite copies its body in the kernel and renders only the entries archived since. This holds while
entries arrive in sort order, which is the normal case (FFmpeg's numbers rise). An entry that sorts
before one already written, a RAM file that is gone or not ours, and a new HourIndex (start, an hour
reopened) all rebuild the document once from the source of truth: the SD hour folder + its metadata
records (every entry is on the SD before it is added here).
"""

import json
import os

from hotcold import metadata
from hotcold.clock import Clock
from hotcold.fsutil import atomic_write, unlink_quiet
from hotcold.growing import GrowingFile, StaleIndexError
from hotcold.hotmount import is_mount_point
from hotcold.hours import hour_end, hour_key, hour_start, read_marker
from hotcold.layout import ARCHIVE_PLAYLIST, INDEX_JSON, is_temp, number_of
from hotcold.playlist import Segment, archive_entry, archive_header, archive_tail, format_pdt, parse_pdt, target_of


class _Doc:
    """One growing index document of an hour. Subclasses load the hour's entries from the SD, give
    each entry's sort key and render head, new entries and tail."""

    def __init__(self, ram_path):
        self.file = GrowingFile(ram_path)
        self.count = 0  # entries in the RAM file's body
        self.last = None  # sort key of its last entry
        self.new = []  # entries added since the last RAM write (already on the SD)
        self.stale = True  # (re)load every entry from the SD before the next write

    @property
    def total(self):
        return self.count + len(self.new)

    def write(self, dest, ended, rename=os.rename):
        """Write the document to ``dest`` (its RAM path, or the SD copy). False if it has no entry,
        or if ``dest`` is the RAM file and nothing was added since it was written."""
        if dest == self.file.path and not self.new and not self.stale:
            return False
        self.new.sort(key=self.key)
        keys = ([self.last] if self.count else []) + [self.key(e) for e in self.new]
        if any(a >= b for a, b in zip(keys, keys[1:], strict=False)):
            self.stale = True  # out of order (or twice): rare, a full rebuild keeps it simple and right
        try:
            return self._write(dest, ended, rename)
        except StaleIndexError:  # the RAM file was lost or replaced (tmpfs remounted, someone else wrote it)
            self.stale = True
            return self._write(dest, ended, rename)

    def _write(self, dest, ended, rename):
        if self.stale:
            self.new = self.load()  # sorted, one entry per key
            self.count, self.last = 0, None
            self.file.reset()
            self.forget()
            self.stale = False
        if not self.total:
            return False
        head, extra, tail = self.render(ended)
        self.file.write(dest, head.encode(), extra.encode(), tail.encode(), rename)
        if dest == self.file.path and self.new:
            self.committed()
            self.count += len(self.new)
            self.last = self.key(self.new[-1])
            self.new = []
        return True

    def forget(self):
        """Subclasses: reset what the head is computed from (the body is about to be rebuilt)."""

    def committed(self):
        """Subclasses: fold ``new`` into what the head is computed from (it is now in the RAM file)."""


class _Thumbnails(_Doc):
    """{"hour","count","thumbnails":[urls]}, byte for byte what json.dumps(separators=(",", ":"))
    + newline gives; entries are (number, name), sorted by number then name."""

    def __init__(self, layout, key, url_prefix):
        super().__init__(layout.ram_thumbnail_index(key))
        self.layout = layout
        self.hour_key = key
        # the JSON string of every url up to the name; names match layout.PATTERNS: nothing to escape
        self.url_head = json.dumps(f"{url_prefix}/{layout.device}/thumbnails/{key.hour}/")[:-1]

    @staticmethod
    def key(entry):
        return entry

    def load(self):
        d = self.layout.hour_dir("thumbnails", self.hour_key.hour)
        if read_marker(d) != self.hour_key.day:
            return []
        return sorted((n, name) for name in _names(d) if (n := number_of("thumbnails", name)) is not None)

    def render(self, ended):
        head = f'{{"hour":{self.hour_key.hour},"count":{self.total},"thumbnails":['
        urls = ",".join(f'{self.url_head}{name}"' for _, name in self.new)
        return head, ("," if self.count and urls else "") + urls, "]}\n"


class _Playlist(_Doc):
    """The archive playlist (playlist.render_archive's output); entries are Segments by number."""

    def __init__(self, layout, key, tz):
        super().__init__(layout.ram_segment_playlist(key))
        self.layout = layout
        self.hour_key = key
        self.tz = tz
        self.forget()  # first (MEDIA-SEQUENCE), target (TARGETDURATION), prev: the last segment written

    @staticmethod
    def key(seg):
        return seg.number

    def load(self):
        lay, key = self.layout, self.hour_key
        sdir = lay.hour_dir("segments", key.hour)
        if read_marker(sdir) != key.day:
            return []
        names = {n: name for name in _names(sdir) if (n := number_of("segments", name)) is not None}
        recs = {}
        if names and read_marker(lay.hour_dir("metadata", key.hour)) == key.day:
            for r in metadata.read_records(lay.metadata_file(key.hour), kind="segments"):
                if r.get("kind") == "segments":
                    recs[r.get("name")] = r
        return [segment_from_record(names[n], n, recs.get(names[n]), os.path.join(sdir, names[n]), self.tz)
                for n in sorted(names)]

    def _head_state(self):
        first = self.first if self.count else self.new[0].number
        return first, max([self.target] + [target_of(s) for s in self.new])

    def render(self, ended):
        first, target = self._head_state()
        parts = []
        prev = self.prev if self.count else None
        for s in self.new:
            parts.append(archive_entry(prev, s, self.tz))
            prev = s
        return archive_header(first, target, ended), "".join(parts), archive_tail(ended)

    def forget(self):
        self.first, self.target, self.prev = None, 1, None

    def committed(self):
        self.first, self.target = self._head_state()
        self.prev = self.new[-1]


class HourIndex:
    """The indexes of one hour. A new one holds nothing in memory: its first write loads the hour
    from the SD (at start, or when an hour is reopened), later writes add what was archived since."""

    def __init__(self, layout, key, url_prefix, tz):
        self.layout = layout
        self.key = key
        self.url_prefix = url_prefix.rstrip("/")
        self.tz = tz
        self.thumbnails = _Thumbnails(layout, key, self.url_prefix)
        self.segments = _Playlist(layout, key, tz)
        self.dirty = True  # the first write loads from the SD
        self.ram_written_at = 0.0
        self.on_sd = False  # its SD copies were written while it was open (a day ended before it closed)
        self.over_since = None  # boottime of the first pass that found the hour over

    # ------------------------------------------------------------ content
    def add_thumbnail(self, name, number):
        self.thumbnails.new.append((number, name))
        self.dirty = True

    def add_segment(self, seg):
        self.segments.new.append(seg)
        self.dirty = True

    def segment_doc(self):
        h = self.key.hour
        return {"hour": h, "manifest_url": f"{self.url_prefix}/{self.layout.device}/segments/{h}/{ARCHIVE_PLAYLIST}"}

    # ------------------------------------------------------------ writing
    def write_ram(self, now):
        lay, key = self.layout, self.key
        os.makedirs(lay.index_dir, exist_ok=True)
        wrote = self.thumbnails.write(lay.ram_thumbnail_index(key), ended=False)
        if self.segments.write(lay.ram_segment_playlist(key), ended=False):
            wrote = True
            if not os.path.exists(lay.ram_segment_index(key)):
                atomic_write(lay.ram_segment_index(key), _dumps(self.segment_doc()))  # constant: once
        self.dirty = False
        if wrote:  # the once-a-second limit is on rewrites: an hour's first entry shows at once
            self.ram_written_at = now

    def remove_ram(self):
        lay, key = self.layout, self.key
        for p in (lay.ram_thumbnail_index(key), lay.ram_segment_playlist(key), lay.ram_segment_index(key)):
            unlink_quiet(p)

    def write_sd(self, ended, stage=os.rename):
        """Write the SD copies under temp names and hand each to ``stage`` (temp, final path), the
        checkpoint's: it renames them into place after its flush (no flush of their own; without a
        checkpoint, a plain rename). Skips a folder that now holds another day."""
        lay = self.layout
        h = self.key.hour
        tdir = lay.hour_dir("thumbnails", h)
        if read_marker(tdir) in (None, self.key.day) and os.path.isdir(tdir):
            self.thumbnails.write(os.path.join(tdir, INDEX_JSON), ended, stage)
        sdir = lay.hour_dir("segments", h)
        if read_marker(sdir) in (None, self.key.day) and os.path.isdir(sdir):
            if self.segments.write(os.path.join(sdir, ARCHIVE_PLAYLIST), ended, stage):
                atomic_write(os.path.join(sdir, INDEX_JSON), _dumps(self.segment_doc()), rename=stage)


def segment_from_record(name, number, rec, path, tz, default_duration=1.0):
    """A Segment from its metadata record; without one, from the file's mtime (end of writing)."""
    dur = None
    pdt = None
    if rec:
        dur = rec.get("duration")
        pdt = rec.get("program_date_time")
    if not isinstance(dur, (int, float)) or dur <= 0:
        dur = default_duration
    start = parse_pdt(pdt) if pdt else None
    if start is None:
        mtime = rec.get("mtime") if rec else None
        if not isinstance(mtime, (int, float)):
            try:
                mtime = os.stat(path).st_mtime
            except OSError:
                mtime = None
        if mtime is not None:
            start = mtime - dur
            pdt = format_pdt(start, tz)
    return Segment(name, number, float(dur), pdt, start)


def _names(d):
    try:
        with os.scandir(d) as it:
            return [e.name for e in it if not e.name.startswith(".")]
    except FileNotFoundError:
        return []


def _dumps(doc):
    return json.dumps(doc, separators=(",", ":")) + "\n"


def repair_past_hours(layout, url_prefix, tz, now_key, skip_keys=(), log=None, stage=os.rename):
    """At start: give every past hour folder its SD indexes if it lacks them or its playlist was left
    as EVENT (a flush during its hour then a stop, or a crash that lost the RAM copies). Hours that
    still have files in RAM (``skip_keys``) are left for the archiver to close. Returns the keys fixed."""
    from hotcold.hours import HourKey
    from hotcold.playlist import is_ended

    fixed = []
    for h in range(24):
        keys = set()
        for kind in ("thumbnails", "segments"):
            d = layout.hour_dir(kind, h)
            day = read_marker(d)
            if day is None:
                continue
            key = HourKey(day, h)
            if key >= now_key or key in skip_keys:
                continue
            if kind == "segments":
                ended = is_ended(os.path.join(d, ARCHIVE_PLAYLIST))
                if ended is True:
                    continue
            elif os.path.exists(os.path.join(d, INDEX_JSON)):
                continue
            if any(number_of(kind, n) is not None for n in _names(d)):
                keys.add(key)
        for key in sorted(keys):
            idx = HourIndex(layout, key, url_prefix, tz)
            idx.write_sd(ended=True, stage=stage)
            fixed.append(key)
            if log:
                log.info("%s: hour %s indexes written to the SD (%d thumbnails, %d segments, VOD + ENDLIST)",
                         layout.device, key, idx.thumbnails.total, idx.segments.total)
    return fixed


RAM_INDEX_INTERVAL = 1.0  # at most one RAM index rewrite per second per device and hour
# How long (s of real time, from the first pass that finds it over) an hour waits for its last files
# to leave RAM before it closes anyway. The hot limits keep the newest files in RAM: at a normal rate
# they leave within a minute or two, and the hour is written to the SD once, complete. A device that
# stops keeps them there for good; without a bound its hour, and every hour after it, would stay open
# (issue 15, defect 9). Real time, so that a clock step forward does not close the hour before its
# files have gone where the step sends them. A file of a closed hour that leaves RAM later opens the
# hour again, for as long again at most.
CLOSE_GRACE = 600.0


def _past_grace(key, now, tz):
    """True if the hour ``key`` ended CLOSE_GRACE or more before the wall time ``now`` (at start,
    where the archiver has not watched it end)."""
    return now >= hour_end(key, tz) + CLOSE_GRACE


class OpenHours:
    """The open hours of one device (the current hour, and past hours whose files are still in RAM,
    for CLOSE_GRACE at most after their end), each with its HourIndex: opened as files are archived,
    rewritten in RAM, closed onto the SD. So at most a few hours are open, whatever the device does.
    ``counters`` is the device's counter dict (errors are counted here); ``log`` the archiver's logger."""

    def __init__(self, layout, url_prefix, tz, counters, log, clock=None):
        self.layout = layout
        self.device = layout.device
        self.url_prefix = url_prefix
        self.tz = tz
        self.clock = clock or Clock()  # its boottime measures CLOSE_GRACE
        self.counters = counters
        self.log = log
        self.hours = {}  # HourKey -> HourIndex
        # (temp, final path, then) -> None: the archiver's checkpoint renames an SD index into place after
        # its next flush (so it names only durable files and is never torn), then calls ``then``
        self.stage = None

    def keys(self):
        return sorted(self.hours)

    def get(self, key):
        """Given an HourKey, return its HourIndex, opening the hour if it is not open."""
        idx = self.hours.get(key)
        if idx is None:
            idx = self.hours[key] = HourIndex(self.layout, key, self.url_prefix, self.tz)
        return idx

    def rebuild(self, now, in_ram):
        """At start, given the time and the HourKeys of the files still in RAM: drop the RAM indexes
        (derived data), give past hours their SD indexes (but those whose files may still leave RAM
        within CLOSE_GRACE: they are opened, for close() to close), open the current hour and write it
        to RAM."""
        cur = hour_key(now, self.tz)
        waiting = {k for k in in_ram if k < cur and not _past_grace(k, now, self.tz)}
        _clear_dir(self.layout.index_dir)
        try:
            repair_past_hours(self.layout, self.url_prefix, self.tz, cur, waiting, self.log, self._stager(None))
        except OSError as e:
            self.log.error("%s: cannot write past hours' indexes: %s", self.device, e)
        for key in waiting:
            self.get(key)
        idx = self.hours[cur] = HourIndex(self.layout, cur, self.url_prefix, self.tz)
        if idx.dirty and is_mount_point(self.layout.hot):
            try:
                idx.write_ram(now)
            except OSError as e:
                self.log.error("%s: cannot write RAM index: %s", self.device, e)

    def close(self, remaining, now, flush=False):
        """Given the files still in RAM (by kind) and the time: close every past hour none of whose files
        is left in RAM, and every hour found over CLOSE_GRACE ago (real time) whatever is left there (a
        stopped device keeps its newest files in RAM for good): write it to the SD for good (VOD), drop
        its RAM copies, forget it. A past hour of an earlier day that still waits gets its SD copies (EVENT) once, at
        once: nginx looks for today's RAM names only. On a flush the open hours' SD copies are written
        too (EVENT)."""
        cur = hour_key(now, self.tz)
        real = self.clock.boottime()
        pending = {hour_key(f.mtime, self.tz) for lst in remaining.values() for f in lst}
        for key in sorted(self.hours):
            idx = self.hours[key]
            if key < cur and idx.over_since is None:
                idx.over_since = real
            if key < cur and (key not in pending or real - idx.over_since >= CLOSE_GRACE):
                self._close_hour(key)
            elif flush or (key.day < cur.day and not idx.on_sd):
                written = self._write_sd(key, urgent=key.day < cur.day)
                if key.day < cur.day:
                    idx.on_sd = idx.on_sd or written
        self.get(cur)

    def _close_hour(self, key):
        idx = self.hours.pop(key)
        try:  # its RAM copies stay (nginx serves them) until its SD copies are in place
            idx.write_sd(ended=True, stage=self._stager(lambda: self._drop_ram(key, idx)))
        except OSError as e:
            self.hours[key] = idx
            self.log.error("%s: cannot write the closed hour %s indexes: %s", self.device, key, e)
            self.counters["errors"] += 1
            return
        if idx.thumbnails.total or idx.segments.total:
            self.log.info("%s: hour %s closed: %d thumbnails, %d segments", self.device, key,
                          idx.thumbnails.total, idx.segments.total)
        if self.stage is None:
            idx.remove_ram()

    def _stager(self, then, urgent=False):
        """The rename that puts an SD index in place: the archiver's checkpoint stage (after its next
        flush; then ``then``), or at once where no checkpoint is set (tools, tests)."""
        if self.stage is None:
            return os.rename
        return lambda tmp, dest: self.stage(tmp, dest, then, urgent)

    def _drop_ram(self, key, idx):
        """Once a closed hour's SD copies are in place: drop its RAM copies, unless the hour opened again."""
        if self.hours.get(key) is None:
            idx.remove_ram()

    def _write_sd(self, key, urgent=False):
        """Write an open hour's SD copies (EVENT); True if done. ``urgent``: nginx has no other copy (an
        earlier day's hour), they go into place at once."""
        try:
            self.hours[key].write_sd(ended=False, stage=self._stager(None, urgent))
        except OSError as e:
            self.log.error("%s: cannot write hour %s indexes to the SD: %s", self.device, key, e)
            self.counters["errors"] += 1
            return False
        return True

    def write_ram(self, now, force=False):
        """Rewrite the RAM copies of the hours that changed, at most once a RAM_INDEX_INTERVAL unless
        ``force``. A failure is logged; it never stops the archiving."""
        if not is_mount_point(self.layout.hot):
            return
        for idx in self.hours.values():
            if idx.dirty and (force or now - idx.ram_written_at >= RAM_INDEX_INTERVAL):
                try:
                    idx.write_ram(now)
                except OSError as e:
                    self.log.warning("%s: cannot write RAM index: %s", self.device, e)
                except Exception:  # derived data: a bug here must not stop the archiving
                    self.log.exception("%s: RAM index of hour %s failed; rebuilding it from the SD", self.device,
                                       idx.key)
                    self.counters["errors"] += 1
                    idx.thumbnails.stale = idx.segments.stale = True

    def next_due(self):
        """When the next RAM rewrite is due (epoch seconds), or None if no hour changed."""
        return min((idx.ram_written_at + RAM_INDEX_INTERVAL for idx in self.hours.values() if idx.dirty),
                   default=None)


def _clear_dir(d):
    try:
        with os.scandir(d) as it:
            names = [e.path for e in it if e.is_file(follow_symlinks=False) or is_temp(e.name)]
    except FileNotFoundError:
        return
    for p in names:
        unlink_quiet(p)


__all__ = ["HourIndex", "OpenHours", "repair_past_hours", "segment_from_record", "hour_start"]
