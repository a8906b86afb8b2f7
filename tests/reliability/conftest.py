"""Fixtures of the reliability tests (the shared ones are in tests/conftest.py)."""

import pytest
from harness import Daemon


@pytest.fixture
def daemon(env):
    """daemon() -> a started-later harness.Daemon; any still running at teardown is killed before
    the test's mounts go away."""
    made = []

    def make():
        d = Daemon(env)
        made.append(d)
        return d

    yield make
    for d in made:
        if d.alive():
            d.proc.kill()
            d.proc.wait(timeout=10)
