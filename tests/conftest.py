"""Fixtures for the hotcold runtime tests (tests/unit, tests/integration, tests/reliability, tests/powercut).

Real files on real file systems: a device's hot folder is a real tmpfs mounted by the fixture and always
unmounted in teardown; the "SD card" is a plain directory, a small tmpfs, or a loop-mounted ext4 image when a
test needs it to fill up or go read-only. Mounting needs root: every test in a ROOT_FOLDERS folder (and any
test using the tmpfs fixture) fails without it, naming the fix; it is never skipped, so `make test` as a
non-root user cannot pass by skipping. tests/unit holds the root-free tests.
"""

import hashlib
import os

import hchelpers  # tests/ (pytest.ini pythonpath)
import pytest
import record  # tests/reliability/record.py (pytest.ini pythonpath)

import testsupport.config
from testsupport.mounts import LoopSD, Tmpfs

TESTS = os.path.dirname(os.path.abspath(__file__))


def pytest_addoption(parser):
    parser.addoption("--kill-rounds", type=int, default=None,
                     help="SIGKILL rounds of the kill -9 test (default: $HOTCOLD_KILL_ROUNDS, else 200, "
                          "1000 with HOTCOLD_SOAK=1)")


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: long-running test (still run by default, in bounded form)")
    config.addinivalue_line("markers", "reliability: issue 7 case; bounded in `make test`, long in `make soak` "
                                       "(HOTCOLD_SOAK=1); records its figures for docs/RELIABILITY.md")
    config.addinivalue_line("markers", "needs_root: mounts tmpfs / loop devices / FUSE: fails unless root")


# The test folders whose tests mount file systems (tmpfs, loop devices, FUSE): they need root.
ROOT_FOLDERS = ("integration", "reliability", "powercut")


def pytest_collection_modifyitems(config, items):
    """Mark every test under tests/<ROOT_FOLDERS> needs_root."""
    for item in items:
        rel = os.path.relpath(str(item.path), TESTS).split(os.sep)
        if rel[0] in ROOT_FOLDERS:
            item.add_marker(pytest.mark.needs_root)


def pytest_runtest_setup(item):
    """A needs_root test fails at once, naming the fix, when pytest does not run as root."""
    if item.get_closest_marker("needs_root"):
        hchelpers.require_root()


@pytest.fixture
def kill_rounds(request):
    v = request.config.getoption("--kill-rounds")
    if v is None:
        v = int(os.environ.get("HOTCOLD_KILL_ROUNDS") or record.scaled(200, 1000))
    return v


@pytest.fixture
def tmpfs(tmp_path):
    """mount(path, size='8M') -> path: a real tmpfs; mount.loop_ext4(path, size_mb) -> path: a small ext4
    image, loop-mounted (an SD card that fills up and goes read-only like a real one). All undone at
    teardown, newest first."""
    made = []

    def mount(path, size="8M"):
        hchelpers.require_root()
        made.append(Tmpfs(path, size))
        return str(path)

    def loop_ext4(path, size_mb):
        hchelpers.require_root()
        made.append(LoopSD(str(path).rstrip("/") + ".img", str(path), size_mb=size_mb))
        return str(path)

    mount.loop_ext4 = loop_ext4
    yield mount
    for m in reversed(made):
        m.close()


@pytest.fixture
def env(tmp_path, tmpfs):
    """A base tree with devices whose hot folders are tmpfs mounts, and a config writer."""
    return hchelpers.Env(tmp_path, tmpfs)


@pytest.fixture
def write_config(tmp_path):
    """write_config(data, name='cfg.yml') -> path; YAML unless the name ends in .json; a str is written as is."""
    return lambda data, name="cfg.yml": testsupport.config.write_config(tmp_path / name, data)


@pytest.fixture
def sha():
    def h(path):
        with open(path, "rb") as f:
            return hashlib.sha256(f.read()).hexdigest()

    return h


@pytest.fixture
def wait_for():
    return hchelpers.wait_until
