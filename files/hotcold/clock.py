"""An injectable clock.

Everything that asks "what time is it" goes through a Clock so tests can fix "now". For the
command line, the environment variable HOTCOLD_NOW (seconds since the epoch) shifts the clock so
that it reads that value at start and then advances normally; it exists for tests and demos and
is ignored when unset.

Besides the wall clock, a Clock gives the real elapsed time of this boot: ``boottime()``
(CLOCK_BOOTTIME, which no clock step moves, and which counts suspend) and ``boot_id()`` (the
kernel's id of this boot). Retention measures real elapsed time with them, so that a Pi's clock
steps (boot at 1970 or at fake-hwclock's saved time, then NTP) never age fresh footage.
"""

import os
import time

BOOT_ID_PATH = "/proc/sys/kernel/random/boot_id"
# The archiver's unit hides /proc/sys (ProcSubset=pid) and passes the boot id instead (systemd's %b).
BOOT_ID_ENV = "HOTCOLD_BOOT_ID"


def read_boot_id(environ=None):
    """The kernel's id of this boot, as 32 lower-case hex digits: from HOTCOLD_BOOT_ID where the unit
    sets it, else /proc (which writes it with dashes: both forms compare equal after this)."""
    environ = os.environ if environ is None else environ
    value = environ.get(BOOT_ID_ENV)
    if not value:
        with open(BOOT_ID_PATH, encoding="ascii") as f:
            value = f.read()
    return value.strip().replace("-", "").lower()


class Clock:
    """Wall clock, optionally shifted by a fixed offset, and this boot's real elapsed time."""

    def __init__(self, offset=0.0):
        self.offset = offset
        self._boot_id = None

    def time(self):
        return time.time() + self.offset

    def boottime(self):
        """Seconds since this boot, in real elapsed time (no clock step moves it)."""
        return time.clock_gettime(time.CLOCK_BOOTTIME)

    def boot_id(self):
        """The kernel's id of this boot (boottime values compare only within one boot)."""
        if self._boot_id is None:
            self._boot_id = read_boot_id()
        return self._boot_id

    @classmethod
    def from_env(cls, environ=None):
        environ = os.environ if environ is None else environ
        value = environ.get("HOTCOLD_NOW")
        if not value:
            return cls()
        return cls(float(value) - time.time())


class FixedClock(Clock):
    """A clock that reads what the test sets (``clock.now = ...``). ``advance`` lets time pass (wall
    clock and boottime); ``step`` sets the wall clock as NTP or an operator does (boottime stays)."""

    def __init__(self, now, boot_id="fixed-clock-boot", boottime=0.0):
        super().__init__()
        self.now = float(now)
        self.boot = float(boottime)
        self._boot_id = boot_id

    def time(self):
        return self.now

    def boottime(self):
        return self.boot

    def advance(self, seconds):
        self.now += seconds
        self.boot += seconds

    def step(self, seconds):
        self.now += seconds
