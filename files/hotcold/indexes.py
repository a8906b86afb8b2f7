"""Per-hour derived indexes: thumbnail index JSON and the archive HLS playlist.

While an hour is open (the current hour, or a past hour whose files are still leaving RAM) its
indexes live in the device's tmpfs (``hot/index/``, see docs/DESIGN.md "Why the current-hour indexes
live in RAM") and are rewritten there atomically, at most about once a second. When the hour closes,
and on flush / clean stop, they are written once to the SD hour folders:

    thumbnails/<h>/index.json   {"hour", "count", "thumbnails": [urls sorted by capture number]}
    segments/<h>/archive.m3u8   VOD + ENDLIST once the hour is closed (EVENT while it is not over)
    segments/<h>/index.json     {"hour", "manifest_url"}

The RAM copies have exactly the content the SD copies will have, so nginx can serve the RAM copy
at the SD copy's URL. On start the open hour is rebuilt from the SD folders + metadata records.
"""

import json
import os

from hotcold import metadata
from hotcold.fsutil import atomic_write, unlink_quiet
from hotcold.hours import hour_start, read_marker
from hotcold.layout import ARCHIVE_PLAYLIST, INDEX_JSON, number_of
from hotcold.playlist import Segment, format_pdt, parse_pdt, render_archive


class HourIndex:
    def __init__(self, layout, key, url_prefix, tz):
        self.layout = layout
        self.key = key
        self.url_prefix = url_prefix.rstrip("/")
        self.tz = tz
        self.thumbnails = {}  # name -> number
        self.segments = {}  # number -> Segment
        self.dirty = False
        self.ram_written_at = 0.0

    # ------------------------------------------------------------ content
    def add_thumbnail(self, name, number):
        if self.thumbnails.get(name) != number:
            self.thumbnails[name] = number
            self.dirty = True

    def add_segment(self, seg):
        self.segments[seg.number] = seg
        self.dirty = True

    def thumbnail_doc(self):
        h = self.key.hour
        base = f"{self.url_prefix}/{self.layout.device}/thumbnails/{h}"
        names = sorted(self.thumbnails, key=lambda n: (self.thumbnails[n], n))
        return {"hour": h, "count": len(names), "thumbnails": [f"{base}/{n}" for n in names]}

    def segment_doc(self):
        h = self.key.hour
        return {"hour": h, "manifest_url": f"{self.url_prefix}/{self.layout.device}/segments/{h}/{ARCHIVE_PLAYLIST}"}

    def playlist(self, ended):
        return render_archive(self.segments.values(), self.tz, ended)

    # ------------------------------------------------------------ writing
    def write_ram(self, now):
        lay = self.layout
        h = self.key.hour
        os.makedirs(lay.index_dir, exist_ok=True)
        if self.thumbnails:
            atomic_write(lay.ram_thumbnail_index(h), _dumps(self.thumbnail_doc()))
        if self.segments:
            atomic_write(lay.ram_segment_playlist(h), self.playlist(ended=False))
            atomic_write(lay.ram_segment_index(h), _dumps(self.segment_doc()))
        self.dirty = False
        self.ram_written_at = now

    def remove_ram(self):
        lay = self.layout
        h = self.key.hour
        for p in (lay.ram_thumbnail_index(h), lay.ram_segment_playlist(h), lay.ram_segment_index(h)):
            unlink_quiet(p)

    def write_sd(self, ended):
        """Write the SD copies (durable). Skips a folder that now holds another day."""
        lay = self.layout
        h = self.key.hour
        tdir = lay.hour_dir("thumbnails", h)
        if self.thumbnails and read_marker(tdir) in (None, self.key.day) and os.path.isdir(tdir):
            atomic_write(os.path.join(tdir, INDEX_JSON), _dumps(self.thumbnail_doc()), durable=True)
        sdir = lay.hour_dir("segments", h)
        if self.segments and read_marker(sdir) in (None, self.key.day) and os.path.isdir(sdir):
            atomic_write(os.path.join(sdir, ARCHIVE_PLAYLIST), self.playlist(ended), durable=True)
            atomic_write(os.path.join(sdir, INDEX_JSON), _dumps(self.segment_doc()), durable=True)

    # ------------------------------------------------------------ rebuilding
    @classmethod
    def rebuild(cls, layout, key, url_prefix, tz):
        """Rebuild an hour's index from the SD folders and ``metadata/<h>/archive.jsonl``."""
        idx = cls(layout, key, url_prefix, tz)
        h = key.hour
        tdir = layout.hour_dir("thumbnails", h)
        if read_marker(tdir) == key.day:
            for name in _names(tdir):
                n = number_of("thumbnails", name)
                if n is not None:
                    idx.thumbnails[name] = n
        sdir = layout.hour_dir("segments", h)
        if read_marker(sdir) == key.day:
            names = {}
            for name in _names(sdir):
                n = number_of("segments", name)
                if n is not None:
                    names[name] = n
            recs = {}
            mdir = layout.hour_dir("metadata", h)
            if read_marker(mdir) == key.day:
                for r in metadata.read_records(layout.metadata_file(h)):
                    if r.get("kind") == "segments":
                        recs[r.get("name")] = r
            for name, n in names.items():
                idx.segments[n] = segment_from_record(name, n, recs.get(name), os.path.join(sdir, name), tz)
        idx.dirty = bool(idx.thumbnails or idx.segments)
        return idx


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


def repair_past_hours(layout, url_prefix, tz, now_key, skip_keys=(), log=None):
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
            idx = HourIndex.rebuild(layout, key, url_prefix, tz)
            idx.write_sd(ended=True)
            fixed.append(key)
            if log:
                log.info("%s: hour %s indexes written to the SD (%d thumbnails, %d segments, VOD + ENDLIST)",
                         layout.device, key, len(idx.thumbnails), len(idx.segments))
    return fixed


__all__ = ["HourIndex", "repair_past_hours", "segment_from_record", "hour_start"]
