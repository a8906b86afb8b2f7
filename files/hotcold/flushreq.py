"""Per-device flush requests to the running archiver: ``<run_dir>/flush-<device>.request``.

``hotcold flush --device NAME`` (the capture unit runs it when it is stopped, before its tmpfs may be
unmounted) creates the file and sends SIGUSR1; the daemon flushes the devices whose files it finds, removes
each file once its device is flushed, and flushes every device only when it finds none (a plain
``hotcold flush``). The caller waits for its own file to go: a flush that was already under way when it
asked cannot be taken for its own.
"""

import os

PREFIX = "flush-"
SUFFIX = ".request"


def path(run_dir, device):
    return os.path.join(run_dir, f"{PREFIX}{device}{SUFFIX}")


def ask(run_dir, device):
    """Given the run folder and a device, leave its request file; return its path."""
    p = path(run_dir, device)
    with open(p, "w", encoding="ascii") as f:
        f.write(f"{os.getpid()}\n")
    return p


def pending(run_dir, devices):
    """Given the run folder and the configured devices, return the devices with a request file, in config order."""
    return [d for d in devices if os.path.exists(path(run_dir, d))]


def done(run_dir, device):
    """Remove the device's request file (its flush is over)."""
    try:
        os.unlink(path(run_dir, device))
    except FileNotFoundError:
        pass
