"""hotcold health: per-device checks, exit 0/1/2, Prometheus textfile."""

import json
import os
import re
import time

import pytest
from hchelpers import produce

from hotcold import __version__


def beat(env, now, pid=None, **dev_over):
    os.makedirs(env.run_dir, exist_ok=True)
    devs = {d: {"archived": 10, "dropped": 0, "skipped": 0, "expired": 0, "errors": 0, "sd_ok": True,
                "sd_error": None, **dev_over} for d in env.devices}
    with open(os.path.join(env.run_dir, "archiver.json"), "w") as f:
        json.dump({"pid": pid or os.getpid(), "time": now, "started": now - 60, "devices": devs}, f)


def healthy(env, now, n=3):
    for kind in ("captures", "thumbnails", "segments"):
        for i in range(n):
            produce(env.hot("cam1", kind), kind, i, mtime=now - 0.5 - (n - i) * 0.1)


SAMPLE = re.compile(r'^hotcold_[a-z_]+(\{device="[a-z0-9_-]+"(,kind="[a-z]+"|,check="[a-z_]+")?\}|\{disk="[a-z0-9]+"\}'
                    r'|\{version="[0-9.]+",python="[0-9.]+"\})? -?[0-9.e+-]+$')


def check_textfile(path):
    assert os.path.isfile(path)
    assert [n for n in os.listdir(os.path.dirname(path))] == [os.path.basename(path)], "temp file left"
    declared = {}
    with open(path) as f:
        text = f.read()
    for line in text.splitlines():
        if line.startswith("# HELP "):
            declared.setdefault(line.split()[2], set()).add("HELP")
        elif line.startswith("# TYPE "):
            parts = line.split()
            assert parts[3] in ("gauge", "counter")
            declared.setdefault(parts[2], set()).add("TYPE")
        else:
            assert SAMPLE.match(line), line
            name = line.split("{")[0].split(" ")[0]
            assert declared.get(name) == {"HELP", "TYPE"}, f"{name} sampled before HELP/TYPE"
    return text


def test_all_ok_exit_0_and_textfile(env):
    env.add_device("cam1")
    now = time.time()
    healthy(env, now)
    beat(env, now)
    assert not os.path.exists(os.path.dirname(env.prom))
    r = env.cli("health", now=now)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "overall: OK" in r.stdout
    assert re.search(r"cam1\s+hot mount\s+OK\s+tmpfs", r.stdout)
    text = check_textfile(env.prom)  # parent folder was created
    assert 'hotcold_health_status{device="cam1"} 0' in text
    assert 'hotcold_check_state{device="cam1",check="hot_mount"} 0' in text
    assert 'hotcold_check_state{device="cam1",check="hot_captures"} 0' in text
    assert re.search(rf'^hotcold_build_info\{{version="{re.escape(__version__)}",python="3\.[0-9]+\.[0-9]+"\}} 1$',
                     text, re.M)
    assert 'hotcold_hot_mounted{device="cam1"} 1' in text
    assert 'hotcold_hot_files{device="cam1",kind="captures"} 3' in text
    assert 'hotcold_archived_files_total{device="cam1"} 10' in text
    assert "# TYPE hotcold_dropped_files_total counter" in text


def test_hot_not_a_tmpfs_mount_is_crit(env):
    env.add_device("cam1", mount=False)
    now = time.time()
    healthy(env, now)
    beat(env, now)
    r = env.cli("health", now=now)
    assert r.returncode == 2
    assert re.search(r"cam1\s+hot mount\s+CRIT\s+.*is not a mount point", r.stdout)
    text = check_textfile(env.prom)
    assert 'hotcold_hot_mounted{device="cam1"} 0' in text
    assert 'hotcold_check_state{device="cam1",check="hot_mount"} 2' in text


@pytest.mark.parametrize("case", ["stale", "dead pid", "missing", "sd failing"])
def test_archiver_problems_are_crit(env, case):
    env.add_device("cam1")
    now = time.time()
    healthy(env, now)
    if case == "stale":
        beat(env, now - 100)
    elif case == "dead pid":
        beat(env, now, pid=2 ** 22 + 12345)
    elif case == "sd failing":
        beat(env, now, sd_ok=False, sd_error="ENOSPC: No space left on device", dropped=7)
    r = env.cli("health", now=now)
    assert r.returncode == 2, r.stdout
    line = [ln for ln in r.stdout.splitlines() if " archiver " in ln][0]
    assert "CRIT" in line
    if case == "sd failing":
        assert "ENOSPC" in line and "7 file(s) dropped" in line
        assert 'hotcold_sd_ok{device="cam1"} 0' in check_textfile(env.prom)


@pytest.mark.parametrize("age,code", [(1.0, 0), (5.0, 1), (100.0, 2)])
def test_capture_age(env, age, code):
    env.add_device("cam1")
    now = time.time()
    beat(env, now)
    produce(env.hot("cam1", "captures"), "captures", 1, mtime=now - age)
    r = env.cli("health", now=now)
    assert r.returncode == code, r.stdout
    assert f"newest {age:.1f}s old (limit 3s)" in r.stdout


def test_hot_count_over_the_limit_warns(env):
    env.add_device("cam1")
    now = time.time()
    healthy(env, now, n=5)
    beat(env, now)
    assert env.cli("health", now=now).returncode == 0  # at the limit (5) is the normal state
    for i in range(5, 8):
        produce(env.hot("cam1", "thumbnails"), "thumbnails", i, mtime=now - 0.2)
    # 3 over the limit, but inside the archiver's write window (batch_seconds + 2 s): not late
    r = env.cli("health", now=now)
    assert r.returncode == 0, r.stdout
    assert re.search(r"cam1\s+thumbnails\s+OK\s+8/5 in RAM", r.stdout)
    # 3 s later the 3 oldest are overdue: the archiver is behind
    r = env.cli("health", now=now + 3)
    assert r.returncode == 1
    assert re.search(r"cam1\s+thumbnails\s+WARN\s+8/5 in RAM \(160%\), 3 older than 2.05s not archived",
                     r.stdout), r.stdout


def test_a_long_write_window_is_not_reported_as_late(env):
    """The SD saver's 10 s window keeps up to 10 s of files over the limit in RAM: normal, not WARN."""
    env.add_device("cam1")
    now = time.time()
    healthy(env, now, n=5)
    for i in range(5, 45):  # 8 s of thumbnails at 5 fps beyond the limit
        produce(env.hot("cam1", "thumbnails"), "thumbnails", i, mtime=now - 8 + (i - 5) * 0.2)
    beat(env, now)
    env.write_config(archive={"batch_seconds": 10, "rescan_seconds": 10})
    r = env.cli("health", now=now)
    assert r.returncode == 0 and re.search(r"cam1\s+thumbnails\s+OK\s+45/5 in RAM", r.stdout), r.stdout
    r = env.cli("health", now=now + 9)  # (the heartbeat is still younger than its 10 s limit)
    assert r.returncode == 1 and "older than 12s not archived" in r.stdout, r.stdout


def test_tmpfs_use_warns(env):
    env.add_device("cam1", size="1M")
    now = time.time()
    healthy(env, now)
    beat(env, now)
    with open(os.path.join(env.hot("cam1"), "ballast"), "wb") as f:
        f.write(b"\0" * 900_000)
    r = env.cli("health", now=now)
    assert r.returncode == 1
    assert re.search(r"cam1\s+tmpfs use\s+WARN", r.stdout)
