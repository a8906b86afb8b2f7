"""inotify on the hot folders (python3-pyinotify).

FFmpeg writes ``x.tmp`` and renames it into place (HLS ``temp_file``, image2 ``-atomic_writing``),
so the interesting event is IN_MOVED_TO; IN_CLOSE_WRITE covers writers that write in place. Names
that are not ours (``*.tmp``...) are skipped. Events only say "look at this device soon": the
archiver then scans, so a lost or coalesced event costs nothing but time (the periodic rescan is
the safety net, and a queue overflow marks every device).
"""

import logging
import os
import select
import warnings

with warnings.catch_warnings():  # pyinotify imports asyncore, deprecated in 3.11
    warnings.simplefilter("ignore", DeprecationWarning)
    import pyinotify

from hotcold.hotmount import is_mount_point
from hotcold.layout import HOT_KINDS, LIVE_PLAYLIST, kind_of

log = logging.getLogger("hotcold.watcher")

MASK = pyinotify.IN_MOVED_TO | pyinotify.IN_CLOSE_WRITE
ALL = "*"  # device marker for "rescan everything"


class _Handler(pyinotify.ProcessEvent):
    def my_init(self, sink=None):
        self.sink = sink

    def process_default(self, event):
        self.sink(event)


class Watcher:
    """Watches ``hot/{captures,thumbnails,segments}`` of every device."""

    def __init__(self, layouts):
        self.layouts = layouts  # device -> DeviceLayout
        self.wm = pyinotify.WatchManager()
        self.notifier = pyinotify.Notifier(self.wm, default_proc_fun=_Handler(sink=self._on_event))
        self.paths = {}  # watched path -> (device, kind, wd, (st_dev, st_ino))
        self.events = []

    def fileno(self):
        return self.wm.get_fd()

    def ensure(self):
        """(Re)add watches: folders that appeared, or were replaced (a tmpfs mounted over them). A hot folder
        that is no mount point is the SD underneath an unmounted tmpfs: it is not watched."""
        for dev, lay in self.layouts.items():
            mounted = is_mount_point(lay.hot)
            for kind in HOT_KINDS:
                p = lay.hot_dir(kind)
                try:
                    st = os.stat(p)
                    if not mounted:
                        raise FileNotFoundError(p)
                except OSError:
                    if p in self.paths:
                        self._drop(p)
                    continue
                ident = (st.st_dev, st.st_ino)
                cur = self.paths.get(p)
                if cur and cur[3] == ident:
                    continue
                if cur:
                    self._drop(p)
                res = self.wm.add_watch(p, MASK, quiet=True)
                wd = res.get(p, -1)
                if wd is None or wd < 0:
                    log.warning("cannot watch %s (falling back to periodic rescans)", p)
                    continue
                self.paths[p] = (dev, kind, wd, ident)
                log.debug("watching %s", p)

    def _drop(self, p):
        dev, kind, wd, ident = self.paths.pop(p)
        try:
            self.wm.rm_watch(wd, quiet=True)
        except Exception:  # the watch may be gone already (folder removed)
            pass

    def _on_event(self, event):
        if event.mask & pyinotify.IN_Q_OVERFLOW:
            self.events.append((ALL, None, None))
            return
        info = self.paths.get(event.path)
        if info is None or not event.name:
            return
        dev, kind, _, _ = info
        name = event.name
        if kind == "segments" and name == LIVE_PLAYLIST:
            self.events.append((dev, "playlist", name))
            return
        k, _ = kind_of(name)
        if k == kind:
            self.events.append((dev, kind, name))

    def poll(self, timeout, extra_fds=()):
        """Wait up to ``timeout`` s for events; return [(device, kind, name)] (device ALL = all)."""
        p = select.poll()
        p.register(self.fileno(), select.POLLIN)
        for fd in extra_fds:
            p.register(fd, select.POLLIN)
        try:
            ready = p.poll(max(0, int(timeout * 1000)))
        except InterruptedError:
            ready = []
        if any(fd == self.fileno() for fd, _ in ready):
            self.notifier.read_events()
            self.notifier.process_events()
        out, self.events = self.events, []
        return out

    def close(self):
        try:
            self.notifier.stop()
        except Exception:
            pass
