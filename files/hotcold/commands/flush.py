"""``hotcold flush [--device NAME ...]``: move everything in RAM (all kinds, incl. the open hours' indexes)
of every device, or of the named ones, to the SD.

If the archiver daemon runs, it is asked to do it (SIGUSR1; per device through a request file, flushreq) and
this waits for it; otherwise the flush runs here. The capture unit flushes its own device this way when it is
stopped, so that a tmpfs unmounted on purpose takes no footage with it.
"""

import logging
import os
import signal
import sys
import time

from hotcold import flushreq, heartbeat
from hotcold.archiver import Archiver
from hotcold.errors import EXIT_USAGE
from hotcold.lock import ArchiverLock, LockBusyError

HELP = "move everything in RAM to the SD now"
log = logging.getLogger("hotcold.flush")
WAIT_SECONDS = 120


def add_arguments(p):
    p.add_argument("--device", action="append", metavar="NAME",
                   help="flush only this device (repeatable; default: every device)")


def run(config, args, clock):
    devices = args.device
    unknown = [d for d in devices or () if d not in config.devices]
    if unknown:
        print(f"hotcold flush: --device {unknown[0]!r} is not a configured device ({', '.join(config.devices)})",
              file=sys.stderr)
        return EXIT_USAGE
    lock = ArchiverLock(config.run_dir)
    try:
        lock.acquire()
    except LockBusyError as b:
        return _ask_daemon(config, b.pid, devices)
    try:
        arch = Archiver(config, clock)
        arch.recover()
        ok = arch.flush() if not devices else arch.flush_devices(devices)
        for dev in devices or arch.states:
            state = arch.states[dev]
            left = sum(state.hot_counts.values()) + arch.outbox_count(dev)
            print(f"{dev}: flushed {state.counters['archived']} file(s) to the SD, {left} left in RAM")
        return 0 if ok else 1
    finally:
        lock.release()


def _ask_daemon(config, pid, devices):
    before = (heartbeat.read(config.run_dir) or {}).get("flushed_at")
    asked = [flushreq.ask(config.run_dir, d) for d in devices or ()]
    try:
        os.kill(pid, signal.SIGUSR1)
    except (ProcessLookupError, PermissionError) as e:
        log.error("the archiver (pid %s) holds the lock but cannot be signalled: %s", pid, e)
        for d in devices or ():
            flushreq.done(config.run_dir, d)
        return 1
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        time.sleep(0.1)
        answered = asked and not any(os.path.exists(p) for p in asked)  # before the heartbeat: written first
        doc = heartbeat.read(config.run_dir) or {}
        if answered:
            return _report_daemon_flush(doc, pid, devices)
        if not asked and doc.get("flushed_at") is not None and doc.get("flushed_at") != before:
            return _report_daemon_flush(doc, pid, devices)
    log.error("the archiver (pid %s) did not report a flush within %ds", pid, WAIT_SECONDS)
    return 1


def _report_daemon_flush(doc, pid, devices=None):
    """Given the heartbeat written after the daemon's flush (and the devices asked for, None: all), print what
    each device left in RAM; return 0 only if nothing was left (a caller such as the prune path must not
    unmount a tmpfs with footage in it)."""
    total = 0
    for dev, d in sorted(doc.get("devices", {}).items()):
        if devices and dev not in devices:
            continue
        left = sum((d.get("hot") or {}).values()) + (d.get("outbox") or 0)  # the outbox: not yet durable
        total += left
        print(f"{dev}: flushed by the running archiver (pid {pid}), {left} file(s) left in RAM")
    if total:
        log.error("the flush left %d file(s) in RAM (see the archiver's log for why)", total)
        return 1
    return 0
