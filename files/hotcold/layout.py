"""Paths and file names: the plan's layout, which is the API (docs/DESIGN.md "Paths and names").

    <base>/<device>/hot/{captures,thumbnails,segments,index}/   one tmpfs per device (RAM)
    <base>/<device>/{captures,thumbnails,metadata,segments}/<0..23>/   archive on the SD card
"""

import os
import re
from dataclasses import dataclass

HOT_KINDS = ("captures", "thumbnails", "segments")
ARCHIVE_KINDS = ("captures", "thumbnails", "metadata", "segments")

# Only names matching these are ever touched; FFmpeg's in-progress *.tmp files never match.
# A second recording under a name the archive already holds (a backward clock step, a numbering restart,
# two overlapping FFmpeg runs) is kept beside the first as <stem>_<number>~<k><rest>: see collision_name.
PATTERNS = {
    "captures": re.compile(r"^capture_(\d+)(?:~\d+)?\.jpg$"),
    "thumbnails": re.compile(r"^capture_(\d+)(?:~\d+)?_thumbnail\.jpg$"),
    "segments": re.compile(r"^segment_(\d+)(?:~\d+)?\.ts$"),
}
_NUMBER = re.compile(r"^((?:capture|segment)_\d+)")

LIVE_PLAYLIST = "output.m3u8"
LATEST_LINK = "latest.jpg"
DAY_MARKER = ".day"
# Every temporary file hotcold writes ends with this suffix and starts with a dot, so recovery can
# delete leftovers of a crash with one rule and FFmpeg's *.tmp names are never confused with ours.
TEMP_SUFFIX = ".hctmp"
TRASH_PREFIX = ".trash-"
# flock'd (never written) by cleanup and the archiver so that they never act on one hour folder at once
HOURS_LOCK = ".hours.lock"
ARCHIVE_PLAYLIST = "archive.m3u8"
INDEX_JSON = "index.json"
METADATA_FILE = "archive.jsonl"


def number_of(kind, name):
    """The capture/segment number in a hot file name, or None if the name is not ours."""
    m = PATTERNS[kind].match(name)
    return int(m.group(1)) if m else None


def kind_of(name):
    """(kind, number) for a name matching one of the patterns, else (None, None)."""
    for kind, pat in PATTERNS.items():
        m = pat.match(name)
        if m:
            return kind, int(m.group(1))
    return None, None


def collision_name(name, k):
    """Given an archive name and k >= 1, the name of the k-th other recording under that name:
    ``capture_7.jpg`` -> ``capture_7~1.jpg``, ``segment_7.ts`` -> ``segment_7~1.ts``."""
    return _NUMBER.sub(lambda m: f"{m.group(1)}~{k}", name, count=1)


def is_temp(name):
    return name.startswith(".") and name.endswith(TEMP_SUFFIX)


def temp_name(name):
    """Hidden temp name in the same directory, unique per process."""
    return f".{name}.{os.getpid()}{TEMP_SUFFIX}"


@dataclass(frozen=True)
class DeviceLayout:
    base_path: str
    device: str

    @property
    def root(self):
        return os.path.join(self.base_path, self.device)

    @property
    def hot(self):
        return os.path.join(self.root, "hot")

    def hot_dir(self, kind):
        return os.path.join(self.hot, kind)

    @property
    def index_dir(self):
        return os.path.join(self.hot, "index")

    @property
    def live_playlist(self):
        return os.path.join(self.hot, "segments", LIVE_PLAYLIST)

    @property
    def latest_link(self):
        return os.path.join(self.hot, "captures", LATEST_LINK)

    @property
    def hours_lock(self):
        return os.path.join(self.root, HOURS_LOCK)

    def kind_dir(self, kind):
        return os.path.join(self.root, kind)

    def hour_dir(self, kind, hour):
        return os.path.join(self.root, kind, str(int(hour)))

    # An open hour's RAM indexes are named by its day and hour: nginx looks for today's name only, so
    # one left behind (a stopped archiver) can never answer for the same hour of a later day.
    def ram_thumbnail_index(self, key):
        return os.path.join(self.index_dir, f"thumbnails_{ram_stem(key)}.json")

    def ram_segment_playlist(self, key):
        return os.path.join(self.index_dir, f"segments_{ram_stem(key)}.m3u8")

    def ram_segment_index(self, key):
        return os.path.join(self.index_dir, f"segments_{ram_stem(key)}.json")

    def metadata_file(self, hour):
        return os.path.join(self.hour_dir("metadata", hour), METADATA_FILE)


def ram_stem(key):
    """Given an HourKey (day, hour): ``<day>_<hour>`` of its RAM index names (``2024-03-01_7``)."""
    return f"{key.day}_{int(key.hour)}"


def layouts(config):
    return {d: DeviceLayout(config.base_path, d) for d in config.devices}
