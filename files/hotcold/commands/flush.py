"""``hotcold flush``: move everything in RAM (all kinds, incl. the open hours' indexes) to the SD.

If the archiver daemon runs, it is asked to do it (SIGUSR1) and this waits for its heartbeat to
report the flush; otherwise the flush runs here.
"""

import logging
import os
import signal
import time

from hotcold import heartbeat
from hotcold.archiver import Archiver
from hotcold.lock import ArchiverLock, LockBusyError

HELP = "move everything in RAM to the SD now"
log = logging.getLogger("hotcold.flush")
WAIT_SECONDS = 120


def add_arguments(p):
    pass


def run(config, args, clock):
    lock = ArchiverLock(config.run_dir)
    try:
        lock.acquire()
    except LockBusyError as b:
        return _ask_daemon(config, b.pid)
    try:
        arch = Archiver(config, clock)
        arch.recover()
        ok = arch.flush()
        for dev, state in arch.states.items():
            left = sum(state.hot_counts.values())
            print(f"{dev}: flushed {state.counters['archived']} file(s) to the SD, {left} left in RAM")
        return 0 if ok else 1
    finally:
        lock.release()


def _ask_daemon(config, pid):
    before = (heartbeat.read(config.run_dir) or {}).get("flushed_at")
    try:
        os.kill(pid, signal.SIGUSR1)
    except (ProcessLookupError, PermissionError) as e:
        log.error("the archiver (pid %s) holds the lock but cannot be signalled: %s", pid, e)
        return 1
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        time.sleep(0.1)
        doc = heartbeat.read(config.run_dir) or {}
        if doc.get("flushed_at") is not None and doc.get("flushed_at") != before:
            return _report_daemon_flush(doc, pid)
    log.error("the archiver (pid %s) did not report a flush within %ds", pid, WAIT_SECONDS)
    return 1


def _report_daemon_flush(doc, pid):
    """Given the heartbeat written after the daemon's flush, print what each device left in RAM; return 0
    only if nothing was left (a caller such as the prune path must not unmount a tmpfs with footage in it)."""
    total = 0
    for dev, d in sorted(doc.get("devices", {}).items()):
        left = sum((d.get("hot") or {}).values())
        total += left
        print(f"{dev}: flushed by the running archiver (pid {pid}), {left} file(s) left in RAM")
    if total:
        log.error("the flush left %d file(s) in RAM (see the archiver's log for why)", total)
        return 1
    return 0
