"""Fixtures for the hotcold runtime tests (tests/unit, tests/reliability).

Real files on real file systems: a device's hot folder is a real tmpfs mounted by the fixture
(root is needed; tests that need a tmpfs are skipped without it) and always unmounted in teardown;
the "SD card" is a plain directory, or a small tmpfs when a test needs it to fill up or go read-only.
"""

import hashlib
import json
import os
import subprocess
import sys

import pytest

TESTS = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(TESTS)
FILES = os.path.join(REPO, "files")
for p in (FILES, os.path.join(TESTS, "unit"), os.path.join(TESTS, "reliability")):
    if p not in sys.path:
        sys.path.insert(0, p)

import hchelpers  # noqa: E402  (needs tests/unit on sys.path)
import record  # noqa: E402  (tests/reliability/record.py)


def pytest_addoption(parser):
    parser.addoption("--kill-rounds", type=int, default=None,
                     help="SIGKILL rounds of the kill -9 test (default: $HOTCOLD_KILL_ROUNDS, else 200, "
                          "1000 with HOTCOLD_SOAK=1)")


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: long-running test (still run by default, in bounded form)")
    config.addinivalue_line("markers", "reliability: issue 7 case; bounded in `make test`, long in `make soak` "
                                       "(HOTCOLD_SOAK=1); records its figures for docs/RELIABILITY.md")
    config.addinivalue_line("markers", "needs_root: needs root to mount tmpfs")


@pytest.fixture
def kill_rounds(request):
    v = request.config.getoption("--kill-rounds")
    if v is None:
        v = int(os.environ.get("HOTCOLD_KILL_ROUNDS") or record.scaled(200, 1000))
    return v


@pytest.fixture
def tmpfs(tmp_path):
    """mount(path, size='8M') -> path: a real tmpfs, unmounted at teardown."""
    mounted = []

    def mount(path, size="8M"):
        if os.geteuid() != 0:
            pytest.skip("mounting a tmpfs needs root")
        os.makedirs(path, exist_ok=True)
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(path)],
                           capture_output=True, text=True)
        if r.returncode != 0:
            pytest.skip(f"cannot mount tmpfs here: {r.stderr.strip()}")
        mounted.append(str(path))
        return str(path)

    def loop_ext4(path, size_mb):
        """A small ext4 filesystem in a sparse image file, loop-mounted at path: an SD card that fills
        up (ENOSPC) and goes read-only like a real one. Unmounted in order with the tmpfs mounts."""
        if os.geteuid() != 0:
            pytest.skip("loop-mounting an ext4 image needs root")
        os.makedirs(path, exist_ok=True)
        image = str(path).rstrip("/") + ".img"
        with open(image, "wb") as f:
            f.truncate(size_mb * 1024 * 1024)
        subprocess.run(["mkfs.ext4", "-q", "-F", "-m", "0", image], check=True)
        r = subprocess.run(["mount", "-o", "loop", image, str(path)], capture_output=True, text=True)
        if r.returncode != 0:
            pytest.skip(f"cannot loop-mount an ext4 image here: {r.stderr.strip()}")
        mounted.append(str(path))
        return str(path)

    mount.loop_ext4 = loop_ext4
    yield mount
    for p in reversed(mounted):
        r = subprocess.run(["umount", p], capture_output=True)
        if r.returncode != 0:
            subprocess.run(["umount", "-l", p], capture_output=True)


@pytest.fixture
def env(tmp_path, tmpfs):
    """A base tree with devices whose hot folders are tmpfs mounts, and a config writer."""
    return hchelpers.Env(tmp_path, tmpfs)


@pytest.fixture
def write_config(tmp_path):
    """write_config(data, name='cfg.yml') -> path; YAML unless the name ends in .json."""
    import yaml

    def write(data, name="cfg.yml"):
        p = tmp_path / name
        if isinstance(data, str):
            p.write_text(data)
        elif name.endswith(".json"):
            p.write_text(json.dumps(data))
        else:
            p.write_text(yaml.safe_dump(data))
        return str(p)

    return write


@pytest.fixture
def sha():
    def h(path):
        with open(path, "rb") as f:
            return hashlib.sha256(f.read()).hexdigest()

    return h


@pytest.fixture
def wait_for():
    return hchelpers.wait_until
