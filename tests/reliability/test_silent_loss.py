"""Issue 15: ways to lose or hide footage without an alert, each shown by a test that fails on the
runtime that has the defect (marked xfail(strict=True) until its fix lands, so a fix that makes one
pass turns the suite red until the mark goes).
"""

import hashlib
import os
import subprocess

from hchelpers import produce, sha256

from hotcold.archiver import Archiver
from hotcold.clock import FixedClock

LIMITS = {"captures": 2, "thumbnails": 2, "segments": 2}
START = 1709287200.0  # 2024-03-01 10:00:00 UTC: every file below lands in hour 10


def contents_on_sd(env, device, kind, prefix):
    """sha256 of every file on the SD whose name starts with ``prefix`` (any hour folder)."""
    found = []
    kind_dir = env.archive(device, kind)
    for hour in os.listdir(kind_dir):
        hour_dir = os.path.join(kind_dir, hour)
        if os.path.isdir(hour_dir):
            found += [sha256(os.path.join(hour_dir, n)) for n in os.listdir(hour_dir) if n.startswith(prefix)]
    return found


def push_out(env, clock, first, count=3):
    """Produce ``count`` newer captures so that older ones leave RAM at the next pass."""
    for n in range(first, first + count):
        produce(env.hot("cam1", "captures"), "captures", n, mtime=clock.now, size=512)
        clock.advance(1)


def test_a_second_file_of_the_same_name_is_kept_beside_the_first(env):
    """Names repeat after a backward clock step, a numbering restart or two overlapping FFmpeg runs."""
    env.add_device("cam1")
    clock = FixedClock(START)
    archiver = Archiver(env.config(hot_limits=LIMITS), clock)
    first = b"first recording " * 32
    second = b"second recording" * 32  # same size: only the content tells them apart
    produce(env.hot("cam1", "captures"), "captures", 7, data=first, mtime=clock.now)
    clock.advance(1)
    push_out(env, clock, 100)
    archiver.run_once()
    produce(env.hot("cam1", "captures"), "captures", 7, data=second, mtime=clock.now)  # the name again
    clock.advance(1)
    push_out(env, clock, 200)
    archiver.run_once()
    kept = contents_on_sd(env, "cam1", "captures", "capture_7")
    want = {hashlib.sha256(first).hexdigest(), hashlib.sha256(second).hexdigest()}
    assert want <= set(kept), f"capture_7.jpg: {len(kept)} file(s) on the SD, want both recordings"


def test_recovery_keeps_a_ram_file_whose_content_differs_from_the_sd_copy(env):
    env.add_device("cam1")
    clock = FixedClock(START)
    archiver = Archiver(env.config(hot_limits=LIMITS), clock)
    first = b"first recording " * 32
    second = b"second recording" * 32
    produce(env.hot("cam1", "captures"), "captures", 7, data=first, mtime=clock.now)
    push_out(env, clock, 100)
    archiver.run_once()
    assert contents_on_sd(env, "cam1", "captures", "capture_7") == [hashlib.sha256(first).hexdigest()]
    # a new capture_7.jpg in RAM (same hour, same size) when an archiver starts
    produce(env.hot("cam1", "captures"), "captures", 7, data=second, mtime=START + 5)
    Archiver(env.config(hot_limits=LIMITS), clock).recover()
    in_ram = os.path.exists(os.path.join(env.hot("cam1", "captures"), "capture_7.jpg"))
    on_sd = contents_on_sd(env, "cam1", "captures", "capture_7")
    assert in_ram or hashlib.sha256(second).hexdigest() in on_sd, "recovery deleted the second capture_7.jpg"


def test_flush_through_the_daemon_fails_when_files_are_left_in_ram(env, daemon, wait_for):
    env.sd_tmpfs("16M")
    env.add_device("cam1")
    env.write_config()
    running = daemon().start(wait_for=wait_for)
    produce(env.hot("cam1", "captures"), "captures", 1, size=512)  # within the hot limit: stays in RAM
    subprocess.run(["mount", "-o", "remount,ro", env.base], check=True)  # the SD goes read-only
    try:
        r = env.cli("flush", timeout=150)
    finally:
        subprocess.run(["mount", "-o", "remount,rw", env.base], check=True)
        running.stop()
    assert os.listdir(env.hot("cam1", "captures")), "the test needs a file the flush could not move"
    assert r.returncode != 0, f"flush exited 0 with a file left in RAM:\n{r.stdout}{r.stderr}"
    assert "left in RAM" in r.stdout + r.stderr


def test_bad_config_exits_3_unknown_not_2_crit(env, write_config):
    bad = write_config({"base_path": "relative/path", "devices": ["cam1"]})
    r = env.cli("--config", bad, "health")
    assert "base_path" in r.stderr, r.stderr
    assert r.returncode == 3, f"exit {r.returncode}: {r.stderr}"
    r = env.cli("health", "--no-such-option")
    assert r.returncode == 3 and "--no-such-option" in r.stderr, (r.returncode, r.stderr)
