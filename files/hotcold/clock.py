"""An injectable clock.

Everything that asks "what time is it" goes through a Clock so tests can fix "now". For the
command line, the environment variable HOTCOLD_NOW (seconds since the epoch) shifts the clock so
that it reads that value at start and then advances normally; it exists for tests and demos and
is ignored when unset.
"""

import os
import time


class Clock:
    """Wall clock, optionally shifted by a fixed offset."""

    def __init__(self, offset=0.0):
        self.offset = offset

    def time(self):
        return time.time() + self.offset

    @classmethod
    def from_env(cls, environ=None):
        environ = os.environ if environ is None else environ
        value = environ.get("HOTCOLD_NOW")
        if not value:
            return cls()
        return cls(float(value) - time.time())


class FixedClock(Clock):
    """A clock that reads what the test sets (``clock.now = ...``)."""

    def __init__(self, now):
        super().__init__()
        self.now = float(now)

    def time(self):
        return self.now

    def advance(self, seconds):
        self.now += seconds
