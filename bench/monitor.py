#!/usr/bin/env python3
"""Watches a stream tree with inotify and records, until SIGTERM:

* per SD root: files created on the SD file system, by class of name (IN_CREATE);
* when each media file arrived complete on the SD (IN_MOVED_TO = renamed into place, IN_CLOSE_WRITE =
  written in place, e.g. by shutil.move), keyed by device/kind/number;
* the largest number of media files in each hot folder (IN_MOVED_TO +1, IN_DELETE/IN_MOVED_FROM -1);
* when hotcold released each file's RAM copy from its outbox (``<device>/hot/.outbox/<kind>/``,
  IN_DELETE of ``<hour>@<name>``), i.e. when a checkpoint had made the SD copy durable. The outbox
  folders must exist when the monitor starts (bench 2 creates them).

    monitor.py OUT.json READY_FILE SD_ROOT...

SD_ROOT is a base path holding <device>/ folders. ``<device>/hot`` counts as RAM when it is a different
file system than the root (a tmpfs), otherwise (FFmpeg writing straight to the SD) as SD.
"""
import json
import os
import re
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import IN_CLOSE_WRITE, IN_CREATE, IN_DELETE, IN_ISDIR, IN_MOVED_FROM, IN_MOVED_TO, Inotify  # noqa: E402

PATTERNS = {
    "captures": re.compile(r"^capture_(\d+)\.jpg$"),
    "thumbnails": re.compile(r"^capture_(\d+)_thumbnail\.jpg$"),
    "segments": re.compile(r"^segment_(\d+)\.ts$"),
}
HOT_KINDS = tuple(PATTERNS)
SD_MASK = IN_CREATE | IN_MOVED_TO | IN_CLOSE_WRITE
HOT_MASK = IN_MOVED_TO | IN_DELETE | IN_MOVED_FROM | IN_CREATE


def classify(name):
    """Class of a file name created on the SD."""
    for pat in PATTERNS.values():
        if pat.match(name):
            return "media"
    if name.endswith(".hctmp"):
        # hotcold's hidden temp names: an archive copy (.capture_N.jpg.<pid>.hctmp) or an index/marker
        inner = name[1:].rsplit(".", 2)[0]
        for pat in PATTERNS.values():
            if pat.match(inner):
                return "media (hotcold temp name, renamed into place)"
        return "hotcold index/marker temp"
    if name.endswith(".tmp"):
        inner = name[:-4]
        if any(p.match(inner) for p in PATTERNS.values()):
            return "media (ffmpeg temp name, renamed into place)"
        if inner.startswith("output.m3u8"):
            return "live playlist (ffmpeg temp name, renamed over output.m3u8)"
        return "other ffmpeg temp (*.tmp)"
    if name.startswith("output.m3u8"):
        return "live playlist"
    if name == "archive.jsonl":
        return "metadata"
    if name in (".day",):
        return "day marker"
    if name.endswith((".json", ".m3u8")):
        return "index/playlist"
    return "other"


class Monitor:
    def __init__(self, roots):
        self.ino = Inotify()
        self.roots = roots
        self.info = {}  # watched dir -> ("sd"|"hot", root index, device, kind)
        self.created = [dict() for _ in roots]
        self.arrived = {}  # "dev/kind/number" -> time
        self.released = {}  # "dev/kind/number" -> time its outbox copy was unlinked (durable)
        self.hot = {}  # "root:dev/kind" -> current count
        self.hot_max = {}
        self.root_dev = [os.stat(r).st_dev for r in roots]

    def setup(self):
        for ri, root in enumerate(self.roots):
            self._watch_tree(ri, root)
            for dev in os.listdir(root):
                for kind in HOT_KINDS:
                    outbox = os.path.join(root, dev, "hot", ".outbox", kind)
                    if os.path.isdir(outbox):
                        self.ino.add(outbox, IN_DELETE)
                        self.info[outbox] = ("outbox", ri, dev, kind, False)

    def _where(self, ri, path):
        rel = os.path.relpath(path, self.roots[ri]).split(os.sep)
        dev = rel[0] if rel and rel[0] != "." else None
        kind = None
        if len(rel) >= 2:
            kind = rel[2] if rel[1] == "hot" and len(rel) >= 3 else rel[1]
        return dev, kind

    def _watch_tree(self, ri, top):
        for dirpath, dirnames, _filenames in os.walk(top):
            self._watch_dir(ri, dirpath, scan=False)
            dirnames[:] = [d for d in dirnames if not d.startswith(".")]

    def _watch_dir(self, ri, path, scan=True):
        dev, kind = self._where(ri, path)
        on_sd = os.stat(path).st_dev == self.root_dev[ri]
        rel = os.path.relpath(path, self.roots[ri]).split(os.sep)
        is_hot_kind = len(rel) == 3 and rel[1] == "hot" and rel[2] in HOT_KINDS
        if not on_sd and not is_hot_kind:
            return  # the tmpfs root, hot/index...: not interesting
        mask = SD_MASK | (HOT_MASK if is_hot_kind else 0)
        self.ino.add(path, mask)
        self.info[path] = ("sd" if on_sd else "hot", ri, dev, kind, is_hot_kind)
        if is_hot_kind:
            k = f"{ri}:{dev}/{kind}"
            n = sum(1 for e in os.scandir(path) if PATTERNS[kind].match(e.name))
            self.hot[k] = n
            self.hot_max[k] = max(self.hot_max.get(k, 0), n)
        if scan and on_sd:  # files that landed before the watch existed
            now = time.time()
            for e in os.scandir(path):
                if e.is_dir(follow_symlinks=False):
                    if not e.name.startswith("."):
                        self._watch_dir(ri, e.path)
                    continue
                self._count_create(ri, e.name)
                self._arrive(dev, kind, e.name, now, is_hot_kind)

    def _count_create(self, ri, name):
        c = classify(name)
        self.created[ri][c] = self.created[ri].get(c, 0) + 1

    def _arrive(self, dev, kind, name, t, is_hot_kind):
        if is_hot_kind or kind not in PATTERNS:
            return
        m = PATTERNS[kind].match(name)
        if m:
            self.arrived.setdefault(f"{dev}/{kind}/{int(m.group(1))}", t)

    def handle(self, events):
        now = time.time()
        for path, name, mask in events:
            info = self.info.get(path)
            if info is None:
                continue
            fs, ri, dev, kind, is_hot_kind = info
            if fs == "outbox":
                m = PATTERNS[kind].match(name.split("@", 1)[-1])
                if m and mask & IN_DELETE:
                    self.released.setdefault(f"{dev}/{kind}/{int(m.group(1))}", now)
                continue
            if mask & IN_ISDIR:
                if mask & (IN_CREATE | IN_MOVED_TO) and fs == "sd" and not name.startswith("."):
                    try:
                        self._watch_dir(ri, os.path.join(path, name))
                    except FileNotFoundError:
                        pass
                continue
            if fs == "sd" and mask & IN_CREATE:
                self._count_create(ri, name)
            if fs == "sd" and mask & (IN_MOVED_TO | IN_CLOSE_WRITE):
                self._arrive(dev, kind, name, now, is_hot_kind)
            if is_hot_kind and PATTERNS[kind].match(name):
                k = f"{ri}:{dev}/{kind}"
                if mask & IN_MOVED_TO:
                    self.hot[k] = self.hot.get(k, 0) + 1
                    if self.hot[k] > self.hot_max.get(k, 0):
                        self.hot_max[k] = self.hot[k]
                elif mask & (IN_DELETE | IN_MOVED_FROM):
                    self.hot[k] = self.hot.get(k, 0) - 1


def main():
    out, ready = sys.argv[1], sys.argv[2]
    roots = sys.argv[3:]
    stop = []
    signal.signal(signal.SIGTERM, lambda *a: stop.append(1))
    signal.signal(signal.SIGINT, lambda *a: stop.append(1))
    m = Monitor(roots)
    m.setup()
    with open(ready, "w") as f:
        f.write("ready\n")
    while not stop:
        m.handle(m.ino.read(0.2))
    m.handle(m.ino.read(0))
    doc = {"created": m.created, "arrived": m.arrived, "released": m.released, "hot_max": m.hot_max,
           "overflows": m.ino.overflows}
    tmp = out + ".tmp"
    with open(tmp, "w") as f:
        json.dump(doc, f)
    os.rename(tmp, out)


if __name__ == "__main__":
    main()
