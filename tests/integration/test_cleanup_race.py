"""Cleanup against the archiver (issue 15, defect 8): cleanup reads an hour folder's day, judges it
expired and renames it to trash. If the archiver re-marks that folder for the new day and archives
into it between the read and the rename, the rename must not take the fresh footage away."""

import os
import threading
from datetime import datetime
from zoneinfo import ZoneInfo

from hchelpers import produce, sha256

from hotcold import retention
from hotcold.archiver import Archiver
from hotcold.clock import FixedClock


def ts(s):
    return datetime.fromisoformat(s).replace(tzinfo=ZoneInfo("UTC")).timestamp()


def old_hour_folder(env, dev, hour, day, n=3):
    """An hour folder holding ``day``, written in another boot (no .written: the wall clock judges)."""
    d = env.archive(dev, "captures", hour)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, ".day"), "w") as f:
        f.write(day + "\n")
    for i in range(n):
        produce(d, "captures", 900 + i, mtime=ts(f"{day} {hour:02d}:10:00") + i)
    return d


def test_the_archiver_refilling_a_folder_between_cleanups_read_and_rename_loses_nothing(env, monkeypatch):
    """The race made to happen: cleanup has read captures/10's day (yesterday) and judged it expired;
    right before its rename the archiver (another thread, as the daemon is another process) re-marks
    captures/10 for today and archives three of today's captures into it. Every one of them must still
    be on the SD afterwards, byte for byte (their RAM copies are gone: the SD holds the only copy)."""
    env.add_device("cam1")
    now = ts("2024-03-02 10:00:30")
    # retention 23 h: yesterday's 10:xx expires at 10:00 today, just as today's 10:xx starts to arrive
    cfg = env.config(retention_hours={"captures": 23}, hot_limits={"captures": 2})
    folder = old_hour_folder(env, "cam1", 10, "2024-03-01")
    fresh = {}
    for i in range(5):  # 5 in RAM, 2 kept there: 3 leave for captures/10 of 2024-03-02
        path, digest = produce(env.hot("cam1", "captures"), "captures", i, mtime=ts("2024-03-02 10:00:01") + i)
        fresh[os.path.basename(path)] = digest
    archiver = Archiver(cfg, FixedClock(now))
    archiver.recover()
    passes = []
    real_hide = retention.hide_folder

    def archiver_slips_in(kind_dir, name, recreate=True):
        if kind_dir == env.archive("cam1", "captures") and name == "10" and not passes:
            t = threading.Thread(target=lambda: passes.append(archiver.pass_device("cam1")))
            passes.append(t)
            t.start()
            t.join(timeout=1.0)  # done at once unless something makes it wait for cleanup
        return real_hide(kind_dir, name, recreate)

    monkeypatch.setattr(retention, "hide_folder", archiver_slips_in)
    results, _ = retention.cleanup(cfg, now, FixedClock(now))
    passes[0].join(timeout=30)
    assert not passes[0].is_alive(), "the archiver's pass never ended"
    left_in_ram = sorted(os.listdir(env.hot("cam1", "captures")))
    moved = sorted(set(fresh) - set(left_in_ram))
    assert len(moved) == 3, (left_in_ram, moved)
    on_sd = {n: sha256(os.path.join(folder, n)) for n in moved if os.path.exists(os.path.join(folder, n))}
    lost = [n for n in moved if on_sd.get(n) != fresh[n]]
    assert not lost, f"{len(lost)} of {len(moved)} fresh captures lost (taken away with the expired day): {lost}"
    # yesterday's content is what went, and cleanup says so
    assert [(e.kind, e.hour, e.day, e.files) for e in results if e.kind == "captures"] == \
        [("captures", 10, "2024-03-01", 3)]
    with open(os.path.join(folder, ".day")) as f:
        assert f.read().strip() == "2024-03-02"
