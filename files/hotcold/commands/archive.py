"""``hotcold archive [--once]``: the archiver daemon, or a single pass."""

import logging

from hotcold.archiver import Archiver
from hotcold.lock import ArchiverLock, LockBusyError

HELP = "move files from RAM to the SD (daemon; --once: one pass and exit)"
log = logging.getLogger("hotcold.archive")


def add_arguments(p):
    p.add_argument("--once", action="store_true", help="recover, do one pass over every device, exit")


def run(config, args, clock):
    lock = ArchiverLock(config.run_dir)
    try:
        lock.acquire()
    except LockBusyError as b:
        log.error("another archiver is running (pid %s, lock %s)", b.pid, lock.path)
        return 1
    try:
        if args.once:
            arch = Archiver(config, clock)
            arch.recover()
            arch.run_once()
            for dev, state in arch.states.items():
                c = state.counters
                hot = " ".join(f"{k} {v}" for k, v in state.hot_counts.items())
                print(f"{dev}: archived {c['archived']}, dropped {c['dropped']}, skipped {c['skipped']}, "
                      f"expired {c['expired']}, recovered {c['recovered']}; in RAM: {hot}")
            if arch.cp.pending:  # the checkpoint failed: these RAM copies wait in the outbox
                print(f"{len(arch.cp.pending)} file(s) visible on the SD but not durable: {arch.cp.error}")
            return 0 if all(state.sd_ok for state in arch.states.values()) and not arch.cp.pending else 1
        from hotcold.daemon import Daemon

        return Daemon(config, clock).run()
    finally:
        lock.release()
