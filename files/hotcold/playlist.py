"""HLS playlists: parse FFmpeg's live ``output.m3u8``; write per-hour archive playlists.

The live playlist carries each segment's EXTINF duration and EXT-X-PROGRAM-DATE-TIME; the archiver
remembers them (a segment is archived after it has left the live playlist) so the archive playlist
needs no probing of the files. DISCONTINUITY is written where the segment number jumps (FFmpeg
restart, dropped segment) or the wall-clock gap exceeds 1.5x the previous segment's duration.
"""

import math
import os
from dataclasses import dataclass
from datetime import datetime

from hotcold.layout import number_of


@dataclass
class Segment:
    name: str
    number: int
    duration: float
    program_date_time: str = None  # as FFmpeg wrote it
    start: float = None  # epoch seconds of program_date_time
    discontinuity: bool = False  # a DISCONTINUITY tag preceded it in the live playlist


@dataclass
class LivePlaylist:
    target_duration: float
    media_sequence: int
    segments: list
    ended: bool

    @property
    def first_number(self):
        nums = [s.number for s in self.segments]
        return min(nums) if nums else None


def parse_pdt(value):
    """Epoch seconds of an EXT-X-PROGRAM-DATE-TIME value, or None."""
    try:
        v = value.strip()
        if v.endswith("Z"):
            v = v[:-1] + "+00:00"
        dt = datetime.fromisoformat(v)
        if dt.tzinfo is None:
            return None
        return dt.timestamp()
    except (ValueError, AttributeError):
        return None


def format_pdt(ts, tz):
    """FFmpeg's format: 2025-01-31T13:45:07.123+0000."""
    dt = datetime.fromtimestamp(ts, tz)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}" + dt.strftime("%z")


def parse_live(text):
    """Parse an HLS media playlist (FFmpeg's output). Unknown tags are ignored."""
    target = 0.0
    seq = 0
    segments = []
    ended = False
    duration = None
    pdt = None
    disc = False
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        if line.startswith("#"):
            tag, _, value = line.partition(":")
            if tag == "#EXTINF":
                try:
                    duration = float(value.split(",", 1)[0])
                except ValueError:
                    duration = None
            elif tag == "#EXT-X-PROGRAM-DATE-TIME":
                pdt = value.strip()
            elif tag == "#EXT-X-DISCONTINUITY":
                disc = True
            elif tag == "#EXT-X-TARGETDURATION":
                try:
                    target = float(value)
                except ValueError:
                    pass
            elif tag == "#EXT-X-MEDIA-SEQUENCE":
                try:
                    seq = int(value)
                except ValueError:
                    pass
            elif tag == "#EXT-X-ENDLIST":
                ended = True
            continue
        name = os.path.basename(line.split("?", 1)[0])
        n = number_of("segments", name)
        if n is not None:
            segments.append(Segment(name, n, duration if duration is not None else target or 1.0,
                                    pdt, parse_pdt(pdt) if pdt else None, disc))
        duration = None
        pdt = None
        disc = False
    return LivePlaylist(target, seq, segments, ended)


def read_live(path):
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return parse_live(f.read())
    except FileNotFoundError:
        return None


LIVE_MEMORY = 2000  # segment durations/PDTs remembered from the live playlist
TRIM_SLACK = 10  # numbers remembered below the oldest segment in RAM (a restarted FFmpeg may reuse them)


class LiveSegments:
    """What the archiver remembers of one device's live playlist: each segment's duration and
    program date-time (a segment is archived after it has left the playlist), the playlist's first
    number (the archive gate, see policy.due) and its target duration."""

    def __init__(self, path):
        self.path = path
        self.segments = {}  # number -> Segment
        self.first = None  # first number in the playlist as last read; None: no playlist
        self.ident = None  # (inode, mtime, size) of the playlist as last read
        self.target_duration = 1.0

    def refresh(self):
        """Re-read the playlist if it changed since the last read; remember its segments."""
        try:
            s = os.stat(self.path)
        except FileNotFoundError:
            self.first = None
            self.ident = None
            return
        ident = (s.st_ino, s.st_mtime_ns, s.st_size)
        if ident == self.ident:
            return
        pl = read_live(self.path)
        self.ident = ident
        if pl is None:
            self.first = None
            return
        for seg in pl.segments:
            self.segments[seg.number] = seg
        if pl.target_duration:
            self.target_duration = pl.target_duration
        self.first = pl.first_number
        if len(self.segments) > LIVE_MEMORY:
            for n in sorted(self.segments)[: len(self.segments) - LIVE_MEMORY]:
                del self.segments[n]

    def trim(self, oldest_in_ram):
        """Given the number of the oldest segment in RAM, forget the segments well below it (archived)."""
        for n in [n for n in self.segments if n < oldest_in_ram - TRIM_SLACK]:
            del self.segments[n]

    def segment_for(self, f, tz):
        """Given a hot segment file (name, number, mtime) and the time zone, return its Segment: as the
        live playlist gave it, else dated from the playlist's later segments or from its mtime."""
        seg = self.segments.get(f.number)
        if seg is not None:
            return Segment(f.name, f.number, seg.duration, seg.program_date_time, seg.start)
        dur = self.target_duration or 1.0
        # Not seen in a live playlist (it had already left it when the archiver started). Count back
        # from the nearest later segment the playlist did date: numbers rise by one per segment.
        later = [n for n in self.segments if f.number < n <= f.number + 100 and self.segments[n].start is not None]
        if later:
            m = min(later)
            start = self.segments[m].start - (m - f.number) * dur
        else:
            start = f.mtime - dur  # FFmpeg renames a segment into place when it has finished it
        return Segment(f.name, f.number, dur, format_pdt(start, tz), start)


def needs_discontinuity(prev, cur):
    if prev is None:
        return False
    if cur.number != prev.number + 1:
        return True
    if cur.start is not None and prev.start is not None:
        if cur.start - prev.start > 1.5 * max(prev.duration, 0.001):
            return True
        if cur.start < prev.start:  # clock went backwards
            return True
    return False


def target_of(seg):
    """The EXT-X-TARGETDURATION a segment needs (its duration rounded up, at least 1)."""
    return max(1, math.ceil(seg.duration - 1e-6))


def archive_header(first_number, target, ended):
    """The archive playlist's head: it depends only on the first segment number, the largest target
    and whether the hour is over, so a growing playlist can be rewritten from its previous body."""
    return (f"#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:{target}\n"
            f"#EXT-X-MEDIA-SEQUENCE:{first_number}\n#EXT-X-PLAYLIST-TYPE:{'VOD' if ended else 'EVENT'}\n")


def archive_entry(prev, s, tz):
    """The lines of segment ``s`` (``prev``: the segment before it in the playlist, or None)."""
    out = []
    if needs_discontinuity(prev, s):
        out.append("#EXT-X-DISCONTINUITY\n")
    pdt = s.program_date_time or (format_pdt(s.start, tz) if s.start is not None else None)
    if pdt:
        out.append(f"#EXT-X-PROGRAM-DATE-TIME:{pdt}\n")
    out.append(f"#EXTINF:{s.duration:.6f},\n{s.name}\n")
    return "".join(out)


def archive_tail(ended):
    return "#EXT-X-ENDLIST\n" if ended else ""


def render_archive(segments, tz, ended):
    """An archive playlist for one hour. ``ended``: VOD + ENDLIST (the hour is over and closed);
    else EVENT without ENDLIST (still growing). URIs are the bare segment names, relative to the
    hour folder ``segments/<h>/`` that holds both the playlist and the segments."""
    segs = sorted(segments, key=lambda s: s.number)
    target = max([1] + [target_of(s) for s in segs])
    out = [archive_header(segs[0].number if segs else 0, target, ended)]
    prev = None
    for s in segs:
        out.append(archive_entry(prev, s, tz))
        prev = s
    out.append(archive_tail(ended))
    return "".join(out)


def is_ended(path):
    """True if the playlist file has an ENDLIST tag (read only its tail)."""
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - 64))
            return b"#EXT-X-ENDLIST" in f.read()
    except FileNotFoundError:
        return None
