"""The archiver daemon's main loop (``hotcold archive``).

Startup: take the archiver lock, recover (temp files, half-done moves, RAM indexes), one full
pass, then READY=1. Loop: wait for inotify events (or a signal, or a deadline), let events gather
for ``batch_seconds``, pass over the devices that had events; every ``rescan_seconds`` a full
rescan (safety net, re-adds watches, retries a failing SD); every ``checkpoint_seconds`` a checkpoint
(one flush for the whole SD: what the passes made visible becomes durable, the outbox RAM copies are
released). Each loop turn pings the watchdog, so a hung loop is caught by systemd. About once a second each
device's tmpfs is looked at (hotmount): a device whose tmpfs went away is left alone until it is back, one
mounted again is followed at once, and the other devices never notice. SIGTERM/SIGINT: flush everything to
the SD (ending with a checkpoint), exit 0. SIGUSR1: flush
now and go on (``hotcold flush`` while the daemon runs).
"""

import logging
import os
import signal
import time

from hotcold import flushreq, heartbeat, sysd
from hotcold.archiver import NORMAL, Archiver
from hotcold.hotmount import HotMounts
from hotcold.layout import layouts
from hotcold.watcher import ALL, Watcher

log = logging.getLogger("hotcold.daemon")

HEARTBEAT_SECONDS = 2.0
MAX_SLEEP = 1.0  # the loop turns at least once a second
# sd_notify sends on a blocking datagram socket: a receiver that reads slowly would stall the loop,
# so watchdog pings are rate-limited (WatchdogSec=30 needs one every 15 s at the latest).
WATCHDOG_SECONDS = 1.0
MOUNT_CHECK_SECONDS = 1.0  # a device's tmpfs mounted again is followed within about this


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
        """Start, serve until SIGTERM/SIGINT, flush everything to the SD and stop; return the exit code."""
        watcher, started = self._start()
        self._serve(watcher, started)
        return self._finish(watcher, started)

    def _start(self):
        """Install the signal handlers, watch the hot folders, recover, pass once, say READY=1.
        Return (the Watcher, the start time)."""
        cfg = self.cfg
        arch = self.archiver
        for s in (signal.SIGTERM, signal.SIGINT, signal.SIGUSR1):
            signal.signal(s, self._signal)
        signal.set_wakeup_fd(self.wfd, warn_on_full_buffer=False)
        for d in cfg.devices:  # left by an archiver that died before it flushed: a plain flush would read them
            flushreq.done(cfg.run_dir, d)
        started = arch.now()
        self._next_ping = 0.0
        arch.on_progress = self._ping_if_ready
        self.mounts = HotMounts(layouts(cfg))
        self.mounts.check()  # logs the missing tmpfs, makes the folders in the others (empty after a reboot)
        if sysd.under_systemd():
            self.mounts.warn_if_deaf()
        watcher = Watcher(layouts(cfg))
        watcher.ensure()
        arch.recover()
        arch.run_once(NORMAL)
        self._heartbeat(started)
        sysd.notify("READY=1\nSTATUS=" + arch.status_line())
        self._ready = True
        log.info("archiver ready: %d device(s) %s, base %s", len(cfg.devices), ", ".join(cfg.devices),
                 cfg.base_path)
        for dev, lay in layouts(cfg).items():  # one record per device: `journalctl DEVICE=<dev>` starts here
            log.info("%s: archiving %s to %s", dev, lay.hot, lay.root, extra=sysd.device_field(dev))
        return watcher, started

    def _serve(self, watcher, started):
        """The loop until a stop signal: wait for events, a signal or a deadline; pass over the devices
        whose events have gathered for batch_seconds (all of them every rescan_seconds); keep the RAM
        indexes, the watchdog and the heartbeat fresh."""
        cfg = self.cfg
        arch = self.archiver
        next_rescan = time.monotonic() + cfg.archive.rescan_seconds
        next_beat = time.monotonic() + HEARTBEAT_SECONDS
        next_mounts = time.monotonic() + MOUNT_CHECK_SECONDS
        pending = {}  # device -> monotonic time of its first unprocessed event
        while not self.stop:
            mono = time.monotonic()
            deadline = self._deadline(mono, min(next_rescan, next_beat), pending)
            events = watcher.poll(max(0.0, deadline - mono), extra_fds=(self.rfd,))
            self._drain_wakeups()
            mono = time.monotonic()
            self._note_events(events, pending, mono)
            if self.stop:
                break
            if self.flush_requested:
                self.flush_requested = False
                self._flush_requested(started)
            if mono >= next_mounts:
                self._follow_mounts(watcher, pending, mono)
                next_mounts = mono + MOUNT_CHECK_SECONDS
            due = [d for d, t in pending.items() if mono - t >= cfg.archive.batch_seconds]
            if mono >= next_rescan:
                watcher.ensure()
                due = list(cfg.devices)
                next_rescan = mono + cfg.archive.rescan_seconds
            self._pass(due, pending)
            arch.write_ram_indexes()
            if arch.checkpoint_due():
                arch.checkpoint()
            self._ping()  # only reached while the loop really turns: a hung loop is caught
            if mono >= next_beat:
                self._heartbeat(started)
                sysd.notify("STATUS=" + arch.status_line())
                next_beat = mono + HEARTBEAT_SECONDS

    def _flush_requested(self, started):
        """Flush what ``hotcold flush`` asked for: the devices with a request file (each file removed once its
        device is flushed), or every device when there is none."""
        arch = self.archiver
        asked = flushreq.pending(self.cfg.run_dir, self.cfg.devices)
        if not asked:
            log.info("flush requested: moving everything in RAM to the SD")
            arch.flush()
        else:
            log.info("flush of %s requested: its RAM to the SD, then a checkpoint", ", ".join(asked))
            try:
                arch.flush_devices(asked)
            except Exception:  # keep serving; the caller reads what is left from the heartbeat
                log.exception("flush of %s failed", ", ".join(asked))
        self._heartbeat(started, flushed=True)
        for d in asked:
            flushreq.done(self.cfg.run_dir, d)

    def _deadline(self, mono, next_timer, pending):
        """Given the monotonic time, the next rescan or heartbeat and the pending devices, return the
        monotonic time the loop must wake up at the latest."""
        arch = self.archiver
        deadline = min(next_timer, mono + MAX_SLEEP)
        if pending:
            deadline = min(deadline, min(pending.values()) + self.cfg.archive.batch_seconds)
        if arch.cp.due():
            deadline = min(deadline, max(mono, arch.next_checkpoint))
        due_idx = arch.next_index_due()
        if due_idx is not None:
            deadline = min(deadline, mono + max(0.0, due_idx - arch.now()))
        return deadline

    def _follow_mounts(self, watcher, pending, mono):
        """Given the watcher, the pending devices and the monotonic time: after a device's tmpfs went away,
        drop its pending pass; after one came (back), watch it and pass over that device now."""
        lost, found = self.mounts.check()
        if not lost and not found:
            return
        watcher.ensure()  # drops the watches of the lost ones, adds the new tmpfs's
        for d in lost:
            pending.pop(d, None)
        for d in found:
            pending[d] = mono - self.cfg.archive.batch_seconds

    def _note_events(self, events, pending, mono):
        """Given inotify events, mark their devices pending (since ``mono`` if not already) and point
        latest.jpg at new captures at once."""
        for dev, kind, name in events:
            if dev == ALL:
                for d in self.cfg.devices:
                    pending.setdefault(d, mono)
                continue
            pending.setdefault(dev, mono)
            if kind == "captures":
                self.archiver.on_capture(dev, name)

    def _pass(self, due, pending):
        """Pass over the ``due`` devices; a failing pass is logged and counted, the others go on."""
        for d in due:
            pending.pop(d, None)
            try:
                self.archiver.pass_device(d)
            except Exception:  # keep serving the other devices; systemd sees the log
                log.exception("%s: archive pass failed", d, extra=sysd.device_field(d))
                self.archiver.states[d].counters["errors"] += 1

    def _finish(self, watcher, started):
        """Flush everything in RAM to the SD and say so; return 0 if RAM is empty, else 1."""
        arch = self.archiver
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
