"""hotcold status: a compact, readable table per device."""

import json
import os
import re
import time

from hchelpers import produce

from hotcold.archiver import Archiver
from hotcold.clock import FixedClock


def test_status_table_shows_ram_hour_and_sd_counts(env):
    env.add_device("cam1")
    env.add_device("camera-with-a-long-name_32chars")
    now = time.time()
    for n in range(9):
        produce(env.hot("cam1", "captures"), "captures", n, mtime=now - 9 + n)
        produce(env.hot("cam1", "thumbnails"), "thumbnails", n, mtime=now - 9 + n)
    Archiver(env.config(), FixedClock(now)).run_once()  # limits 5 -> 4 of each archived
    os.makedirs(env.run_dir, exist_ok=True)
    with open(os.path.join(env.run_dir, "archiver.json"), "w") as f:
        json.dump({"pid": os.getpid(), "time": now - 1, "devices": {"cam1": {"dropped": 3, "sd_ok": True}}}, f)
    r = env.cli("status", now=now, check=0)
    lines = r.stdout.splitlines()
    assert max(len(ln) for ln in lines) <= 100, r.stdout
    assert "archiver: running" in lines[0]
    cap = [ln for ln in lines if re.match(r"^cam1\s+captures", ln)][0]
    assert cap.split()[2:] == ["5", "5", "4", "4"]
    th = [ln for ln in lines if re.match(r"^\s+thumbnails", ln)][0]
    assert th.split()[1:] == ["5", "5", "4", "4"]
    seg = [ln for ln in lines if re.match(r"^\s+segments", ln)][0]
    assert seg.split()[1:] == ["0", "5", "0", "0"]  # keep = limit 3 + margin 2
    assert re.search(r"capture 1\.0s ago · tmpfs \d+% of 8 MiB · SD free \d+% · dropped 3", r.stdout)
    assert "camera-with-a-long-name_32chars" in r.stdout


def test_status_without_archiver(env):
    env.add_device("cam1")
    r = env.cli("status", check=0)
    assert "archiver: no heartbeat" in r.stdout
    assert "capture none ·" in r.stdout
