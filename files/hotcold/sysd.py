"""systemd glue: sd_notify (READY, WATCHDOG, STATUS, STOPPING) and logging to journald.

Uses python3-systemd (Debian package). Under systemd (``JOURNAL_STREAM`` or ``INVOCATION_ID`` set)
logs go to the journal with structured fields; otherwise to stderr. Never to a file in /tmp.

A record that concerns one device carries the journal field ``DEVICE=<name>`` (``journalctl
DEVICE=capture1``): log it with ``extra=device_field(dev)`` or through ``device_logger(log, dev)``.
JournalHandler sends a record's attributes as fields; journald keeps the upper-case ones.
"""

import logging
import os
import sys

try:  # python3-systemd; hosts always have it, a bare checkout may not
    from systemd import daemon as _daemon
except ImportError:  # pragma: no cover
    _daemon = None


def notify(state):
    """Send an sd_notify message (no-op when NOTIFY_SOCKET is unset)."""
    if not os.environ.get("NOTIFY_SOCKET"):
        return False
    if _daemon is not None:
        try:
            return bool(_daemon.notify(state))
        except OSError:
            return False
    return _notify_fallback(state)


def _notify_fallback(state):  # pragma: no cover - only without python3-systemd
    import socket

    addr = os.environ.get("NOTIFY_SOCKET")
    if addr.startswith("@"):
        addr = "\0" + addr[1:]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
            s.sendto(state.encode(), addr)
        return True
    except OSError:
        return False


DEVICE_FIELD = "DEVICE"


def device_field(device):
    """Given a device name, return the ``extra`` of a log call about it: the journal's DEVICE field."""
    return {DEVICE_FIELD: device}


def device_logger(logger, device):
    """Given a logger and a device name, return a logger whose every record carries DEVICE=<device>."""
    return logging.LoggerAdapter(logger, device_field(device))


def under_systemd(environ=None):
    env = os.environ if environ is None else environ
    return bool(env.get("JOURNAL_STREAM") or env.get("INVOCATION_ID"))


def setup_logging(verbose=False, environ=None):
    root = logging.getLogger()
    for h in list(root.handlers):
        root.removeHandler(h)
    level = logging.DEBUG if verbose else logging.INFO
    handler = None
    if under_systemd(environ):
        try:
            from systemd.journal import JournalHandler

            handler = JournalHandler(SYSLOG_IDENTIFIER="hotcold")
            handler.setFormatter(logging.Formatter("%(message)s"))
        except ImportError:  # pragma: no cover
            handler = None
    if handler is None:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s hotcold %(levelname)s %(message)s"))
    root.addHandler(handler)
    root.setLevel(level)
    return handler
