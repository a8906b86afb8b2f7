"""A full, failing or slow card in process (fixed wall clock, a test's monotonic clock; real tmpfs mounts for
the RAM and the "SD"): ENOSPC evicts the oldest archived hour before anything is dropped, RAM holds files
up to its high water, a slow card meets a last-resort drop before FFmpeg meets ENOSPC, retries follow the
monotonic clock, and the drop, eviction and collision counters survive a restart (issue 15, defects 5, 6)."""

import json
import logging
import os
import re
from datetime import datetime
from zoneinfo import ZoneInfo

from hchelpers import name_for, produce

from hotcold import archiver as archiver_mod
from hotcold.archiver import Archiver
from hotcold.clock import FixedClock

PAGE = 4096


def ts(s):
    return datetime.fromisoformat(s).replace(tzinfo=ZoneInfo("UTC")).timestamp()


class Mono:
    """A monotonic clock the test moves."""

    def __init__(self):
        self.t = 1000.0

    def __call__(self):
        return self.t


def archiver(config, clock, mono):
    """An Archiver whose retry timers read ``mono``."""
    a = Archiver(config, clock)
    a.monotonic = mono
    return a


def old_hour(env, dev, kind, hour, day, nfiles, size):
    """An archived hour folder holding ``nfiles`` files of ``size`` bytes, marked ``day``."""
    d = env.archive(dev, kind, hour)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, ".day"), "w") as f:
        f.write(day + "\n")
    for i in range(nfiles):
        with open(os.path.join(d, name_for(kind, hour * 1000 + i)), "wb") as f:
            f.write(os.urandom(size))
    return d


def fill(path, leave):
    """Fill the file system of ``path`` up to ``leave`` bytes free with a file outside every hour folder."""
    st = os.statvfs(path)
    with open(os.path.join(path, "filler.bin"), "wb") as f:
        f.write(b"\0" * max(0, st.f_bavail * st.f_frsize - leave))


def hot_names(env, dev, kind):
    return sorted(n for n in os.listdir(env.hot(dev, kind)) if n.startswith(("capture_", "segment_")))


def used(path):
    st = os.statvfs(path)
    return (st.f_blocks - st.f_bfree) * st.f_frsize, st.f_blocks * st.f_frsize


def test_enospc_evicts_the_oldest_hour_of_the_biggest_kind_and_drops_nothing(env, caplog):
    env.sd_tmpfs("4M")
    env.add_device("cam1")
    t = ts("2024-03-01 10:00:20")
    seg6 = old_hour(env, "cam1", "segments", 6, "2024-03-01", 4, 300_000)
    seg7 = old_hour(env, "cam1", "segments", 7, "2024-03-01", 4, 300_000)
    thumb5 = old_hour(env, "cam1", "thumbnails", 5, "2024-03-01", 10, 6_000)  # older, but little to give
    fill(env.base, 100_000)
    for n in range(6):
        produce(env.hot("cam1", "captures"), "captures", n, mtime=t - 10 + n, size=150_000)
    a = archiver(env.config(hot_limits={"captures": 2}), FixedClock(t), Mono())
    with caplog.at_level(logging.WARNING):
        a.run_once()
    st = a.states["cam1"]
    c = st.counters
    assert (c["archived"], c["dropped"], c.get("evicted")) == (4, 0, 4), c
    assert st.sd_ok, st.sd_error
    assert hot_names(env, "cam1", "captures") == [name_for("captures", n) for n in (4, 5)]
    assert os.listdir(seg6) == [], "the oldest hour of the kind with the most to give is evicted"
    assert len(os.listdir(seg7)) == 5 and len(os.listdir(thumb5)) == 11, "one hour was enough"
    assert "evicted segments/6 of 2024-03-01 (4 file(s)" in caplog.text, caplog.text


def test_nothing_above_the_floor_ram_holds_until_high_water_then_drops_oldest_just_enough(env, caplog):
    env.sd_tmpfs("4M")
    env.add_device("cam1", size="2M")
    t = ts("2024-03-01 10:00:20")
    old_hour(env, "cam1", "segments", 9, "2024-03-01", 4, 300_000)  # 1 h old: within the floor of 2
    fill(env.base, 50_000)
    hot = env.hot("cam1", "captures")
    for n in range(5):
        produce(hot, "captures", n, mtime=t - 20 + n, size=150_000)
    mono = Mono()
    cfg = env.config(hot_limits={"captures": 1}, archive={"high_water_percent": 50, "rescan_seconds": 5})
    a = archiver(cfg, FixedClock(t), mono)  # the default evict_floor_hours is 2
    a.run_once()
    st = a.states["cam1"]
    assert not st.sd_ok and "ENOSPC" in st.sd_error
    assert (st.counters["dropped"], st.counters.get("evicted")) == (0, 0), "RAM holds on below high water"
    assert len(hot_names(env, "cam1", "captures")) == 5
    # more footage while the card is still full: past 50 % of the tmpfs the oldest go, just enough
    for n in range(5, 9):
        produce(hot, "captures", n, mtime=t - 20 + n, size=150_000)
    before_used, total = used(env.hot("cam1"))
    assert before_used >= total / 2
    with caplog.at_level(logging.WARNING):
        a.run_once()
    after_used, _ = used(env.hot("cam1"))
    dropped = st.counters["dropped"]
    left = hot_names(env, "cam1", "captures")
    assert dropped >= 1 and after_used < total / 2
    assert left == sorted(name_for("captures", n) for n in range(dropped, 9)), "the oldest are dropped"
    assert after_used + 151_552 >= total / 2, "one file fewer dropped would not have been enough"
    assert "dropped captures/capture_0.jpg (SD not writable: ENOSPC" in caplog.text


def test_retries_follow_the_monotonic_clock_not_the_wall_clock(env):
    env.sd_tmpfs("2M")
    env.add_device("cam1")
    t = ts("2024-03-01 10:00:20")
    fill(env.base, 20_000)
    hot = env.hot("cam1", "captures")
    for n in range(3):
        produce(hot, "captures", n, mtime=t - 10 + n, size=100_000)
    clock, mono = FixedClock(t), Mono()
    a = archiver(env.config(hot_limits={"captures": 1}, archive={"rescan_seconds": 5}), clock, mono)
    a.run_once()
    st = a.states["cam1"]
    assert not st.sd_ok
    errors = st.counters["errors"]
    clock.advance(3600)  # the wall clock steps an hour forward: no retry yet
    a.run_once()
    assert st.counters["errors"] == errors, "a wall-clock step made the archiver retry early"
    os.unlink(os.path.join(env.base, "filler.bin"))
    clock.advance(-7200)  # and back: once 5 s have passed on the monotonic clock it retries
    mono.t += 6
    a.run_once()
    assert st.sd_ok and st.counters["archived"] == 2


def test_a_slow_card_meets_a_last_resort_drop_before_the_tmpfs_fills(env, monkeypatch, caplog):
    env.add_device("cam1", size="8M")
    t = ts("2024-03-01 10:00:20")
    hot = env.hot("cam1", "captures")
    for n in range(40):  # 72 % of the tmpfs: below the high water, a NORMAL pass
        produce(hot, "captures", n, mtime=t - 50 + n, size=150_000)
    monkeypatch.setattr(archiver_mod, "BATCH_MAX", 1)  # one file per batch: a slow card
    a = archiver(env.config(hot_limits={"captures": 1}, archive={"high_water_percent": 80}), FixedClock(t), Mono())
    written, errors = [100], []

    def ffmpeg_writes_on():  # while the card takes one file, FFmpeg writes two
        for _ in range(2):
            try:
                produce(hot, "thumbnails", written[0], size=150_000)
            except OSError as e:
                errors.append(e)
            written[0] += 1

    os.makedirs(env.hot("cam1", "thumbnails"), exist_ok=True)
    a.on_progress = ffmpeg_writes_on
    with caplog.at_level(logging.WARNING):
        a.pass_device("cam1")
    c = a.states["cam1"].counters
    assert errors == [], f"FFmpeg met {errors[0]}"
    assert c["dropped"] >= 1 and c["archived"] + c["dropped"] == 39, c
    dropped = sorted(int(m) for m in re.findall(r"dropped captures/capture_(\d+)\.jpg \(tmpfs 9\d% full", caplog.text))
    assert len(dropped) == c["dropped"], caplog.text
    archived = {int(n[len("capture_"):-len(".jpg")]) for h in (9, 10)
                for n in os.listdir(env.archive("cam1", "captures", h)) if n.startswith("capture_")}
    assert archived.isdisjoint(dropped) and archived | set(dropped) == set(range(39))
    assert set(range(dropped[0])) <= archived, "the first drop took the oldest file still waiting"


def test_drop_eviction_and_collision_counters_survive_a_restart(env):
    env.sd_tmpfs("2M")
    env.add_device("cam1")
    t = ts("2024-03-01 10:00:20")
    fill(env.base, 20_000)
    for n in range(4):
        produce(env.hot("cam1", "captures"), "captures", n, mtime=t - 10 + n, size=400_000)
    cfg = env.config(hot_limits={"captures": 1}, archive={"high_water_percent": 5})
    a = archiver(cfg, FixedClock(t), Mono())
    a.run_once()
    c = a.states["cam1"].counters
    assert c["dropped"] >= 1
    with open(os.path.join(env.run_dir, "counters.json")) as f:
        saved = json.load(f)
    assert saved["devices"]["cam1"]["dropped"] == c["dropped"]
    b = archiver(cfg, FixedClock(t + 60), Mono())
    kept = b.states["cam1"].counters
    assert (kept["dropped"], kept.get("evicted"), kept["collisions"]) == (c["dropped"], c.get("evicted"),
                                                                         c["collisions"])
    assert kept["archived"] == 0, "only the loss counters carry over; the others count since the start"
