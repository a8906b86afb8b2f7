"""The archiver daemon's main loop (``hotcold archive``).

Startup: take the archiver lock, recover (temp files, half-done moves, RAM indexes), one full
pass, then READY=1. Loop: wait for inotify events (or a signal, or a deadline), let events gather
for ``batch_seconds``, pass over the devices that had events; every ``rescan_seconds`` a full
rescan (safety net, re-adds watches, retries a failing SD). Each loop turn pings the watchdog, so a
hung loop is caught by systemd. SIGTERM/SIGINT: flush everything to the SD, exit 0. SIGUSR1: flush
now and go on (``hotcold flush`` while the daemon runs).
"""

import logging
import os
import signal
import time

from hotcold import heartbeat, sysd
from hotcold.archiver import NORMAL, Archiver
from hotcold.layout import layouts
from hotcold.watcher import ALL, Watcher

log = logging.getLogger("hotcold.daemon")

HEARTBEAT_SECONDS = 2.0
MAX_SLEEP = 1.0  # the loop turns at least once a second
# sd_notify sends on a blocking datagram socket: a receiver that reads slowly would stall the loop,
# so watchdog pings are rate-limited (WatchdogSec=30 needs one every 15 s at the latest).
WATCHDOG_SECONDS = 1.0


class Daemon:
    def __init__(self, config, clock=None):
        self.cfg = config
        self.archiver = Archiver(config, clock)
        self.stop = False
        self.flush_requested = False
        self.rfd, self.wfd = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)

    def _signal(self, signum, frame):
        if signum == signal.SIGUSR1:
            self.flush_requested = True
        else:
            self.stop = True

    def run(self):
        cfg = self.cfg
        arch = self.archiver
        for s in (signal.SIGTERM, signal.SIGINT, signal.SIGUSR1):
            signal.signal(s, self._signal)
        signal.set_wakeup_fd(self.wfd, warn_on_full_buffer=False)
        started = arch.now()
        self._next_ping = 0.0
        arch.on_progress = self._ping_if_ready
        watcher = Watcher(layouts(cfg))
        watcher.ensure()
        arch.recover()
        arch.run_once(NORMAL)
        self._heartbeat(started)
        sysd.notify("READY=1\nSTATUS=" + arch.status_line())
        self._ready = True
        log.info("archiver ready: %d device(s) %s, base %s", len(cfg.devices), ", ".join(cfg.devices),
                 cfg.base_path)

        batch = cfg.archive.batch_seconds
        next_rescan = time.monotonic() + cfg.archive.rescan_seconds
        next_beat = time.monotonic() + HEARTBEAT_SECONDS
        pending = {}  # device -> monotonic time of its first unprocessed event
        while not self.stop:
            mono = time.monotonic()
            deadline = min(next_rescan, next_beat, mono + MAX_SLEEP)
            if pending:
                deadline = min(deadline, min(pending.values()) + batch)
            due_idx = arch.next_index_due()
            if due_idx is not None:
                deadline = min(deadline, mono + max(0.0, due_idx - arch.now()))
            events = watcher.poll(max(0.0, deadline - mono), extra_fds=(self.rfd,))
            self._drain_wakeups()
            mono = time.monotonic()
            for dev, kind, name in events:
                if dev == ALL:
                    for d in cfg.devices:
                        pending.setdefault(d, mono)
                    continue
                pending.setdefault(dev, mono)
                if kind == "captures":
                    arch.on_capture(dev, name)
            if self.stop:
                break
            if self.flush_requested:
                self.flush_requested = False
                log.info("flush requested: moving everything in RAM to the SD")
                arch.flush()
                self._heartbeat(started, flushed=True)
            due = [d for d, t in pending.items() if mono - t >= batch]
            if mono >= next_rescan:
                watcher.ensure()
                due = list(cfg.devices)
                next_rescan = mono + cfg.archive.rescan_seconds
            for d in due:
                pending.pop(d, None)
                try:
                    arch.pass_device(d)
                except Exception:  # keep serving the other devices; systemd sees the log
                    log.exception("%s: archive pass failed", d)
                    arch.states[d].counters["errors"] += 1
            arch.write_ram_indexes()
            self._ping()  # only reached while the loop really turns: a hung loop is caught
            if mono >= next_beat:
                self._heartbeat(started)
                sysd.notify("STATUS=" + arch.status_line())
                next_beat = mono + HEARTBEAT_SECONDS

        sysd.notify("STOPPING=1\nSTATUS=flushing RAM to the SD")
        log.info("stopping: flushing everything in RAM to the SD")
        ok = arch.flush()
        self._heartbeat(started, flushed=True)
        watcher.close()
        log.info("stopped (%s)", arch.status_line())
        return 0 if ok else 1

    def _ping(self):
        mono = time.monotonic()
        if mono >= self._next_ping:
            sysd.notify("WATCHDOG=1")
            self._next_ping = mono + WATCHDOG_SECONDS

    def _ping_if_ready(self):
        # a long pass (backlog after an SD outage, a flush) that completes batch after batch is
        # progress, not a hang: keep the watchdog fed between batches
        if getattr(self, "_ready", False):
            self._ping()

    def _drain_wakeups(self):
        try:
            while os.read(self.rfd, 512):
                pass
        except BlockingIOError:
            pass

    def _heartbeat(self, started, flushed=False):
        doc = self.archiver.heartbeat_doc(started)
        if flushed:
            doc["flushed_at"] = doc["time"]
            self._last_flush = doc["time"]
        elif getattr(self, "_last_flush", None):
            doc["flushed_at"] = self._last_flush
        try:
            heartbeat.write(self.cfg.run_dir, doc)
        except OSError as e:
            log.error("cannot write heartbeat %s: %s", heartbeat.path(self.cfg.run_dir), e)
