"""Helpers of the runtime tests: a test tree (Env), the CLI runner, file readers. The FFmpeg-like writer,
the mounts and the config writer are testsupport's (shared with the bench); the writer's functions are
imported here too, so tests keep importing them from one place."""

import hashlib
import os
import shutil
import subprocess
import sys
import time

import pytest

from testsupport.config import hotcold_config, merge, write_config
from testsupport.writer import live_playlist, name_for, produce, write_live  # noqa: F401  (tests import them here)

HERE = os.path.dirname(os.path.abspath(__file__))
FILES = os.path.join(os.path.dirname(HERE), "files")
# The test defaults on top of hotcold_config: small RAM limits, quick passes, and no card-life floor (the
# test SD is on this machine's disk, whose write pace says nothing about hotcold; test_wear sets one).
ENV_DEFAULTS = {
    "hot_limits": {"captures": 5, "thumbnails": 5, "segments": 3},
    "archive": {"rescan_seconds": 1, "batch_seconds": 0.05},
    "health": {"sd_min_life_years": 0},
}


def _host_python():
    """The CLI runs under Debian's /usr/bin/python3 with Debian's packages, as on hosts, when that
    interpreter has them (apt: python3-yaml python3-jsonschema python3-pyinotify python3-systemd);
    otherwise under the interpreter running the tests (the project venv)."""
    deb = "/usr/bin/python3"
    if os.path.exists(deb):
        r = subprocess.run([deb, "-c", "import yaml, jsonschema, pyinotify, systemd.daemon, systemd.journal"],
                           capture_output=True)
        if r.returncode == 0:
            return deb
    return sys.executable


PYTHON = _host_python()


def require_root():
    """Fail the calling test (never skip it) unless this process is root: its mounts need root."""
    if os.geteuid() != 0:
        pytest.fail(f"needs root (mounts tmpfs, loop devices or FUSE) and runs as uid {os.geteuid()}: "
                    "run `make test` as root (`pytest tests/unit` runs the root-free tests as any user)",
                    pytrace=False)


def require_tool(tool):
    """Fail the calling test (never skip it) unless ``tool`` is on PATH."""
    if shutil.which(tool) is None:
        pytest.fail(f"{tool} is not installed: scripts/setup-host.sh installs it (make setup)", pytrace=False)


def read(path):
    with open(path) as f:
        return f.read()


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


class Env:
    """<tmp>/base/<device>/hot (tmpfs each), <tmp>/run, config writer, CLI runner."""

    def __init__(self, tmp_path, tmpfs):
        self.tmp = str(tmp_path)
        self.tmpfs = tmpfs
        self.base = os.path.join(self.tmp, "base")
        self.run_dir = os.path.join(self.tmp, "run")
        self.prom = os.path.join(self.tmp, "prom", "hotcold.prom")
        os.makedirs(self.base, exist_ok=True)
        self.devices = []
        self.cfg_path = None

    def sd_tmpfs(self, size="4M"):
        """Make the base path itself a (small) tmpfs: an SD card that can fill up or go read-only."""
        self.tmpfs(self.base, size)
        return self.base

    def sd_ext4(self, size_mb=64):
        """Make the base path a loop-mounted ext4 filesystem of size_mb (see conftest's tmpfs)."""
        self.tmpfs.loop_ext4(self.base, size_mb)
        return self.base

    def add_device(self, name="cam1", size="8M", mount=True):
        hot = os.path.join(self.base, name, "hot")
        os.makedirs(hot, exist_ok=True)
        if mount:
            self.tmpfs(hot, size)
        for k in ("captures", "thumbnails", "segments"):
            os.makedirs(os.path.join(hot, k), exist_ok=True)
        self.devices.append(name)
        return hot

    def hot(self, device, kind=None):
        p = os.path.join(self.base, device, "hot")
        return os.path.join(p, kind) if kind else p

    def archive(self, device, kind, hour=None):
        p = os.path.join(self.base, device, kind)
        return os.path.join(p, str(hour)) if hour is not None else p

    def config_data(self, **over):
        """The test config of this tree (ENV_DEFAULTS), with ``over`` merged in (testsupport.config.merge)."""
        return merge(hotcold_config(self.base, self.run_dir, self.devices, self.prom, **ENV_DEFAULTS), over)

    def write_config(self, **over):
        self.cfg_path = write_config(os.path.join(self.tmp, "hotcold.json"), self.config_data(**over))
        return self.cfg_path

    def config(self, **over):
        from hotcold.config import load_data

        return load_data(self.config_data(**over))

    def command(self, *args, env=None):
        """(argv, environment) of ``python3 -m hotcold --config <this tree's config> args``: the runtime
        from files/, logging to stderr (no systemd notify/journal variables), ``env`` on top."""
        e = dict(os.environ)
        e["PYTHONPATH"] = FILES
        for k in ("NOTIFY_SOCKET", "JOURNAL_STREAM", "INVOCATION_ID"):
            e.pop(k, None)
        e.update(env or {})
        cfg = self.cfg_path or self.write_config()
        return [PYTHON, "-m", "hotcold", "--config", cfg, *args], e

    def cli(self, *args, now=None, env=None, timeout=60, check=None):
        argv, e = self.command(*args, env={**({"HOTCOLD_NOW": str(now)} if now is not None else {}), **(env or {})})
        r = subprocess.run(argv, capture_output=True, text=True, env=e, timeout=timeout)
        if check is not None:
            assert r.returncode == check, (r.returncode, r.stdout, r.stderr)
        return r

    def popen(self, *args, env=None, **kw):
        argv, e = self.command(*args, env=env)
        return subprocess.Popen(argv, env=e, **kw)

    def archived_files(self, device):
        """{name: path} of every archived media file of a device (any hour folder)."""
        out = {}
        for kind in ("captures", "thumbnails", "segments"):
            kd = self.archive(device, kind)
            if not os.path.isdir(kd):
                continue
            for h in os.listdir(kd):
                hd = os.path.join(kd, h)
                if not os.path.isdir(hd):
                    continue
                for n in os.listdir(hd):
                    if n.startswith(("capture_", "segment_")):
                        assert n not in out, f"{n} twice in the archive"
                        out[n] = os.path.join(hd, n)
        return out

    def temp_files(self, device):
        found = []
        for root, _dirs, files in os.walk(os.path.join(self.base, device)):
            found += [os.path.join(root, f) for f in files if f.endswith(".hctmp")]
        return found


def wait_until(pred, timeout=10.0, step=0.02, what="condition"):
    """Poll ``pred`` until it returns something true (returned), or fail naming ``what`` after ``timeout`` s."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = pred()
        if v:
            return v
        time.sleep(step)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")
