"""Archive passes (in process, fixed clock): what stays in RAM, where files land, day markers,
midnight, the live playlist gate, high water, SD failures, every_nth, indexes, flush."""

import json
import os
import subprocess
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from hchelpers import name_for, produce, read, sha256, write_live

from hotcold import metadata
from hotcold.archiver import Archiver
from hotcold.clock import FixedClock

UTC = ZoneInfo("UTC")


def ts(s, tz="UTC"):
    """Epoch of a local time string 'YYYY-MM-DD HH:MM:SS[.f]' in tz."""
    return datetime.fromisoformat(s).replace(tzinfo=ZoneInfo(tz)).timestamp()


def _num(name):
    return int("".join(c for c in name.split("_")[1] if c.isdigit()))


def hot_names(env, dev, kind):
    """Names in RAM, sorted by their number."""
    return sorted((n for n in os.listdir(env.hot(dev, kind)) if n.startswith(("capture_", "segment_"))), key=_num)


def arch_names(env, dev, kind, hour):
    d = env.archive(dev, kind, hour)
    return sorted((n for n in os.listdir(d) if not n.startswith(".") and n.endswith((".jpg", ".ts"))),
                  key=_num) if os.path.isdir(d) else []


def marker(env, dev, kind, hour):
    with open(os.path.join(env.archive(dev, kind, hour), ".day")) as f:
        return f.read().strip()


def make(env, clock, **over):
    return Archiver(env.config(**over), clock)


def test_keeps_newest_by_mtime_tie_break_on_number_and_moves_the_rest(env):
    env.add_device("cam1")
    t = ts("2024-03-01 10:20:00")
    hot = env.hot("cam1", "captures")
    made = {}
    # names are not trusted for time: number 1 is the newest by mtime
    for n, dt in [(1, 9), (2, 1), (3, 2), (4, 3), (5, 3), (6, 3), (7, 4), (8, 5)]:
        p, h = produce(hot, "captures", n, mtime=t + dt)
        made[os.path.basename(p)] = h
    a = make(env, FixedClock(t + 20), hot_limits={"captures": 4})
    a.run_once()
    # order by (mtime, number): 2,3,4,5,6,7,8,1 -> keep the newest 4: 6,7,8,1
    assert sorted(hot_names(env, "cam1", "captures")) == sorted(name_for("captures", n) for n in (6, 7, 8, 1))
    moved = arch_names(env, "cam1", "captures", 10)
    assert moved == sorted(name_for("captures", n) for n in (2, 3, 4, 5))
    for n in moved:
        assert sha256(os.path.join(env.archive("cam1", "captures", 10), n)) == made[n]
    assert marker(env, "cam1", "captures", 10) == "2024-03-01"
    assert a.states["cam1"].counters["archived"] == 4


def test_hour_folder_comes_from_mtime_in_the_configured_zone(env):
    env.add_device("cam1")
    # 22:13 UTC on the 14th is 03:43 on the 15th in Kolkata (+05:30)
    t = ts("2023-11-14 22:13:20")
    produce(env.hot("cam1", "thumbnails"), "thumbnails", 1, mtime=t)
    produce(env.hot("cam1", "thumbnails"), "thumbnails", 2, mtime=t + 1)
    a = make(env, FixedClock(t + 5), timezone="Asia/Kolkata", hot_limits={"thumbnails": 1})
    a.run_once()
    assert arch_names(env, "cam1", "thumbnails", 3) == ["capture_1_thumbnail.jpg"]
    assert marker(env, "cam1", "thumbnails", 3) == "2023-11-15"
    assert not os.path.exists(env.archive("cam1", "thumbnails", 22))


def test_tmp_and_foreign_names_are_never_touched(env):
    env.add_device("cam1")
    hot = env.hot("cam1", "captures")
    t = ts("2024-03-01 10:00:00")
    for n in ("capture_1.jpg.tmp", "capture_x.jpg", "foo.jpg", ".hidden"):
        with open(os.path.join(hot, n), "w") as f:
            f.write("x")
        os.utime(os.path.join(hot, n), (t, t))
    a = make(env, FixedClock(t + 10), hot_limits={"captures": 1})
    a.flush()
    assert sorted(os.listdir(hot)) == [".hidden", "capture_1.jpg.tmp", "capture_x.jpg", "foo.jpg"]


def test_segments_wait_until_they_left_the_live_playlist_plus_margin(env):
    env.add_device("cam1")
    seg = env.hot("cam1", "segments")
    t = ts("2024-03-01 10:00:00")
    for n in range(100, 116):
        produce(seg, "segments", n, mtime=t + (n - 100) + 1)
    # an earlier playlist carried durations and PDTs of 100..105
    pdts = {n: f"2024-03-01T10:00:{n - 100:02d}.500+0000" for n in range(100, 106)}
    write_live(seg, list(range(100, 106)), durations={n: 0.96 for n in range(100, 106)}, pdts=pdts)
    a = make(env, FixedClock(t + 20), hot_limits={"segments": 3})
    a.run_once()
    assert len(hot_names(env, "cam1", "segments")) == 16, "100 is still in the playlist: nothing may move"
    write_live(seg, list(range(110, 116)))
    a.run_once()
    # left the playlist (below 110) and beyond the margin of 2 (108, 109 stay)
    assert arch_names(env, "cam1", "segments", 10) == [name_for("segments", n) for n in range(100, 108)]
    assert hot_names(env, "cam1", "segments") == [name_for("segments", n) for n in range(108, 116)]
    recs = {r["name"]: r for r in metadata.read_records(os.path.join(env.archive("cam1", "metadata", 10),
                                                                         "archive.jsonl"))}
    assert recs["segment_101.ts"]["duration"] == 0.96
    assert recs["segment_101.ts"]["program_date_time"] == "2024-03-01T10:00:01.500+0000"
    with open(os.path.join(env.hot("cam1"), "index", "segments_2024-03-01_10.m3u8")) as f:
        pl = f.read()
    assert "#EXTINF:0.960000,\nsegment_101.ts" in pl
    assert "#EXT-X-PROGRAM-DATE-TIME:2024-03-01T10:00:01.500+0000" in pl
    assert "#EXT-X-PLAYLIST-TYPE:EVENT" in pl and "#EXT-X-ENDLIST" not in pl
    # fallback without playlist info: duration = target duration, PDT = mtime - duration
    assert recs["segment_107.ts"]["duration"] == 1.0
    assert recs["segment_107.ts"]["program_date_time"] == "2024-03-01T10:00:07.000+0000"


def test_above_high_water_drains_to_the_limits_at_once(env):
    env.add_device("cam1", size="1M")
    seg = env.hot("cam1", "segments")
    t = ts("2024-03-01 10:00:00")
    for n in range(10):
        produce(seg, "segments", n, mtime=t + n, size=80_000)
    write_live(seg, list(range(10)))  # all still "live": only the high-water mark may move them
    a = make(env, FixedClock(t + 20), hot_limits={"segments": 3}, archive={"high_water_percent": 50})
    a.run_once()
    assert hot_names(env, "cam1", "segments") == [name_for("segments", n) for n in (7, 8, 9)]
    assert len(arch_names(env, "cam1", "segments", 10)) == 7


def test_every_nth_archives_only_every_nth_capture_and_counts_the_rest(env):
    env.add_device("cam1")
    t = ts("2024-03-01 10:00:00")
    for n in range(12):
        produce(env.hot("cam1", "captures"), "captures", n, mtime=t + n)
        produce(env.hot("cam1", "thumbnails"), "thumbnails", n, mtime=t + n)
    a = make(env, FixedClock(t + 20), hot_limits={"captures": 3, "thumbnails": 3},
             archive={"every_nth": {"captures": 3}})
    a.run_once()
    assert arch_names(env, "cam1", "captures", 10) == [name_for("captures", n) for n in (0, 3, 6)]
    assert len(arch_names(env, "cam1", "thumbnails", 10)) == 9, "thumbnails keep every_nth 1"
    assert hot_names(env, "cam1", "captures") == [name_for("captures", n) for n in (9, 10, 11)]
    assert a.states["cam1"].counters["skipped"] == 6


def test_hour_folder_holding_an_older_day_is_cleared_before_writing(env):
    env.add_device("cam1")
    t = ts("2024-03-02 10:30:00")
    old = env.archive("cam1", "captures", 10)
    os.makedirs(old)
    with open(os.path.join(old, ".day"), "w") as f:
        f.write("2024-03-01\n")
    produce(old, "captures", 1, mtime=t - 86400)  # yesterday's file, cleanup missed it
    # a folder without marker whose newest file is from yesterday is cleared too (fallback)
    old_th = env.archive("cam1", "thumbnails", 10)
    os.makedirs(old_th)
    produce(old_th, "thumbnails", 1, mtime=t - 86400)
    produce(env.hot("cam1", "captures"), "captures", 50, mtime=t)
    produce(env.hot("cam1", "thumbnails"), "thumbnails", 50, mtime=t)
    a = make(env, FixedClock(t + 10), hot_limits={"captures": 1, "thumbnails": 1})
    a.flush()
    assert arch_names(env, "cam1", "captures", 10) == ["capture_50.jpg"]
    assert arch_names(env, "cam1", "thumbnails", 10) == ["capture_50_thumbnail.jpg"]
    assert marker(env, "cam1", "captures", 10) == "2024-03-02"
    assert marker(env, "cam1", "thumbnails", 10) == "2024-03-02"
    assert not [n for n in os.listdir(env.archive("cam1", "captures")) if n.startswith(".trash")]


def test_file_older_than_its_folders_day_is_deleted_and_counted(env):
    env.add_device("cam1")
    t = ts("2024-03-02 10:30:00")
    d = env.archive("cam1", "captures", 10)
    os.makedirs(d)
    with open(os.path.join(d, ".day"), "w") as f:
        f.write("2024-03-02\n")
    produce(d, "captures", 900, mtime=t)
    late, _ = produce(env.hot("cam1", "captures"), "captures", 5, mtime=t - 86400)  # yesterday, 10:30
    a = make(env, FixedClock(t + 10))
    a.flush()
    assert not os.path.exists(late)
    assert arch_names(env, "cam1", "captures", 10) == ["capture_900.jpg"], "today's files untouched"
    assert a.states["cam1"].counters["expired"] == 1
    assert a.states["cam1"].counters["archived"] == 0


@pytest.mark.parametrize("tz", ["UTC", "Europe/Paris"])
def test_midnight_crossing_splits_days_and_closes_hour_23(env, tz):
    env.add_device("cam1")
    th = env.hot("cam1", "thumbnails")
    seg = env.hot("cam1", "segments")
    times = ["2024-03-01 23:59:55", "2024-03-01 23:59:57", "2024-03-01 23:59:59",
             "2024-03-02 00:00:01", "2024-03-02 00:00:03", "2024-03-02 00:00:05"]
    for i, s in enumerate(times):
        produce(th, "thumbnails", 10 + i, mtime=ts(s, tz))
        produce(seg, "segments", 10 + i, mtime=ts(s, tz))
    clock = FixedClock(ts("2024-03-02 00:00:06", tz))
    a = make(env, clock, timezone=tz, hot_limits={"thumbnails": 4, "segments": 4})
    a.run_once()
    # 10, 11 (hour 23) archived; 12 (hour 23) still in RAM -> hour 23 stays open
    assert arch_names(env, "cam1", "thumbnails", 23) == [name_for("thumbnails", n) for n in (10, 11)]
    assert marker(env, "cam1", "thumbnails", 23) == "2024-03-01"
    assert os.path.exists(os.path.join(env.hot("cam1"), "index", "thumbnails_2024-03-01_23.json"))
    # the day is over: nginx looks for today's RAM names only, so hour 23 gets its SD copies (EVENT) at once
    with open(os.path.join(env.archive("cam1", "thumbnails", 23), "index.json")) as f:
        assert json.load(f)["count"] == 2
    with open(os.path.join(env.archive("cam1", "segments", 23), "archive.m3u8")) as f:
        assert "#EXT-X-PLAYLIST-TYPE:EVENT" in f.read()
    for i, s in enumerate(["2024-03-02 00:00:07", "2024-03-02 00:00:09"]):
        produce(th, "thumbnails", 16 + i, mtime=ts(s, tz))
        produce(seg, "segments", 16 + i, mtime=ts(s, tz))
    clock.now = ts("2024-03-02 00:00:10", tz)
    a.run_once()
    assert arch_names(env, "cam1", "thumbnails", 0) == [name_for("thumbnails", 13)]
    assert marker(env, "cam1", "thumbnails", 0) == "2024-03-02"
    assert marker(env, "cam1", "segments", 23) == "2024-03-01"
    # hour 23 closed: SD copies written once, RAM copies gone
    with open(os.path.join(env.archive("cam1", "thumbnails", 23), "index.json")) as f:
        doc = json.load(f)
    assert doc == {"hour": 23, "count": 3, "thumbnails": [
        f"/host/stream/cam1/thumbnails/23/{name_for('thumbnails', n)}" for n in (10, 11, 12)]}
    with open(os.path.join(env.archive("cam1", "segments", 23), "archive.m3u8")) as f:
        pl = f.read()
    assert "#EXT-X-PLAYLIST-TYPE:VOD" in pl and pl.rstrip().endswith("#EXT-X-ENDLIST")
    assert [ln for ln in pl.splitlines() if ln.endswith(".ts")] == [name_for("segments", n) for n in (10, 11, 12)]
    with open(os.path.join(env.archive("cam1", "segments", 23), "index.json")) as f:
        assert json.load(f) == {"hour": 23, "manifest_url": "/host/stream/cam1/segments/23/archive.m3u8"}
    idx = os.listdir(os.path.join(env.hot("cam1"), "index"))
    assert "thumbnails_2024-03-01_23.json" not in idx and "segments_2024-03-01_23.m3u8" not in idx
    assert "thumbnails_2024-03-02_0.json" in idx and "segments_2024-03-02_0.m3u8" in idx


class Mono:
    """A monotonic clock the test moves (the SD retry timers read it)."""

    def __init__(self):
        self.t = 1000.0

    def __call__(self):
        return self.t


def test_full_sd_with_nothing_to_evict_holds_the_files_in_ram_and_resumes(env):
    # issue 15 defect 5: below the tmpfs high water nothing is dropped (it used to drop at once)
    env.sd_tmpfs("1M")
    env.add_device("cam1")
    hot = env.hot("cam1", "captures")
    t = ts("2024-03-01 10:00:00")
    made = {}
    for n in range(12):
        p, h = produce(hot, "captures", n, mtime=t + n, size=150_000)
        made[os.path.basename(p)] = h
    clock, mono = FixedClock(t + 20), Mono()
    a = make(env, clock, hot_limits={"captures": 3}, archive={"rescan_seconds": 5})
    a.monotonic = mono
    a.run_once()
    st = a.states["cam1"]
    assert not st.sd_ok and "ENOSPC" in st.sd_error
    archived = arch_names(env, "cam1", "captures", 10)
    assert st.counters["dropped"] == 0 and st.held == 9
    assert st.counters["archived"] == len(archived)
    assert len(archived) + len(hot_names(env, "cam1", "captures")) == 12, "every file is archived or in RAM"
    for n in archived:
        assert sha256(os.path.join(env.archive("cam1", "captures", 10), n)) == made[n], "torn file on the SD"
    assert env.temp_files("cam1") == []
    # more captures while the SD is still full: held without trying (retry not due yet)
    errors = st.counters["errors"]
    produce(hot, "captures", 12, mtime=t + 12, size=150_000)
    a.run_once()
    assert st.counters["errors"] == errors and st.counters["dropped"] == 0
    assert len(hot_names(env, "cam1", "captures")) == 13 - len(archived)
    # the card gets space again: after the retry interval archiving resumes by itself
    subprocess.run(["mount", "-o", "remount,size=16M", env.base], check=True)
    produce(hot, "captures", 13, mtime=t + 13, size=150_000)
    mono.t += 6
    a.run_once()
    assert st.sd_ok and st.sd_error is None
    assert arch_names(env, "cam1", "captures", 10) == [name_for("captures", n) for n in range(11)]
    assert hot_names(env, "cam1", "captures") == [name_for("captures", n) for n in (11, 12, 13)]


def test_read_only_sd_holds_the_files_in_ram_then_resumes(env):
    # issue 15 defect 5: below the tmpfs high water nothing is dropped (it used to drop at once)
    env.sd_tmpfs("8M")
    env.add_device("cam1")
    hot = env.hot("cam1", "thumbnails")
    t = ts("2024-03-01 10:00:00")
    os.makedirs(env.archive("cam1", "thumbnails"))
    subprocess.run(["mount", "-o", "remount,ro", env.base], check=True)
    try:
        for n in range(6):
            produce(hot, "thumbnails", n, mtime=t + n)
        clock, mono = FixedClock(t + 10), Mono()
        a = make(env, clock, hot_limits={"thumbnails": 2}, archive={"rescan_seconds": 1})
        a.monotonic = mono
        a.run_once()
        st = a.states["cam1"]
        assert not st.sd_ok and "EROFS" in st.sd_error
        assert st.counters["dropped"] == 0 and st.held == 4
        assert hot_names(env, "cam1", "thumbnails") == [name_for("thumbnails", n) for n in range(6)]
    finally:
        subprocess.run(["mount", "-o", "remount,rw", env.base], check=True)
    produce(hot, "thumbnails", 6, mtime=t + 6)
    mono.t += 2
    a.run_once()
    assert st.sd_ok
    assert arch_names(env, "cam1", "thumbnails", 10) == [name_for("thumbnails", n) for n in range(5)]


def test_flush_moves_everything_and_writes_the_open_hours_indexes(env, sha):
    env.add_device("cam1")
    t = ts("2024-03-01 10:15:00")
    made = {}
    for kind in ("captures", "thumbnails", "segments"):
        for n in range(7):
            p, h = produce(env.hot("cam1", kind), kind, n, mtime=t + n)
            made[(kind, os.path.basename(p))] = h
    write_live(env.hot("cam1", "segments"), list(range(3, 7)))
    a = make(env, FixedClock(t + 10))
    a.run_once()
    assert all(hot_names(env, "cam1", k) for k in ("captures", "thumbnails", "segments"))
    assert a.flush()
    for kind in ("captures", "thumbnails", "segments"):
        assert hot_names(env, "cam1", kind) == []
    for (kind, name), h in made.items():
        assert sha(os.path.join(env.archive("cam1", kind, 10), name)) == h
    with open(os.path.join(env.archive("cam1", "segments", 10), "archive.m3u8")) as f:
        pl = f.read()
    assert "#EXT-X-PLAYLIST-TYPE:EVENT" in pl and "#EXT-X-ENDLIST" not in pl, "hour 10 is not over yet"
    with open(os.path.join(env.archive("cam1", "thumbnails", 10), "index.json")) as f:
        assert json.load(f)["count"] == 7


def test_restart_rebuilds_the_current_hour_indexes_from_the_sd(env):
    env.add_device("cam1")
    t = ts("2024-03-01 10:15:00")
    for n in range(6):
        produce(env.hot("cam1", "thumbnails"), "thumbnails", n, mtime=t + n)
        produce(env.hot("cam1", "segments"), "segments", n, mtime=t + n)
    pdts = {n: f"2024-03-01T10:14:{50 + n:02d}.250+0000" for n in range(6)}
    write_live(env.hot("cam1", "segments"), list(range(6)), durations={n: 0.98 for n in range(6)}, pdts=pdts)
    write_live(env.hot("cam1", "segments"), [5])
    a = make(env, FixedClock(t + 10), hot_limits={"thumbnails": 1, "segments": 1}, archive={"segment_margin": 0})
    a.run_once()
    idx = os.path.join(env.hot("cam1"), "index")
    before = {n: read(os.path.join(idx, n)) for n in sorted(os.listdir(idx))}
    assert set(before) == {"thumbnails_2024-03-01_10.json", "segments_2024-03-01_10.m3u8",
                           "segments_2024-03-01_10.json"}
    for n in os.listdir(idx):
        os.unlink(os.path.join(idx, n))
    b = make(env, FixedClock(t + 11), hot_limits={"thumbnails": 1, "segments": 1})
    b.recover()
    after = {n: read(os.path.join(idx, n)) for n in sorted(os.listdir(idx))}
    assert after == before


def test_stale_event_playlist_of_a_past_hour_is_finalized_on_start(env):
    env.add_device("cam1")
    t = ts("2024-03-01 10:15:00")
    for n in range(3):
        produce(env.hot("cam1", "segments"), "segments", n, mtime=t + n)
    a = make(env, FixedClock(t + 10))
    a.flush()
    p = os.path.join(env.archive("cam1", "segments", 10), "archive.m3u8")
    assert "#EXT-X-ENDLIST" not in read(p)
    b = make(env, FixedClock(t + 3600))
    b.recover()
    pl = read(p)
    assert "#EXT-X-PLAYLIST-TYPE:VOD" in pl and "#EXT-X-ENDLIST" in pl


def test_latest_link_follows_the_newest_capture(env):
    env.add_device("cam1")
    hot = env.hot("cam1", "captures")
    t = ts("2024-03-01 10:15:00")
    for n in range(3):
        produce(hot, "captures", n, mtime=t + n)
    a = make(env, FixedClock(t + 5))
    a.run_once()
    assert os.readlink(os.path.join(hot, "latest.jpg")) == "capture_2.jpg"
    produce(hot, "captures", 3, mtime=t + 3)
    a.on_capture("cam1", "capture_3.jpg")  # the inotify fast path
    assert os.readlink(os.path.join(hot, "latest.jpg")) == "capture_3.jpg"
    assert not [n for n in os.listdir(hot) if n.endswith(".hctmp")]


def test_past_hour_that_lost_its_ram_indexes_gets_them_on_start(env):
    env.add_device("cam1")
    t = ts("2024-03-01 10:15:00")
    for n in range(4):
        produce(env.hot("cam1", "thumbnails"), "thumbnails", n, mtime=t + n)
        produce(env.hot("cam1", "segments"), "segments", n, mtime=t + n)
    produce(env.hot("cam1", "thumbnails"), "thumbnails", 9, mtime=t + 3600)  # hour 11, stays in RAM
    a = make(env, FixedClock(t + 10), hot_limits={"thumbnails": 1, "segments": 1})
    a.run_once()  # hour 10 still open: its indexes exist only in RAM
    assert not os.path.exists(os.path.join(env.archive("cam1", "thumbnails", 10), "index.json"))
    # power loss: RAM gone except what we keep for the test; restart an hour later
    for n in os.listdir(os.path.join(env.hot("cam1"), "index")):
        os.unlink(os.path.join(env.hot("cam1"), "index", n))
    os.unlink(os.path.join(env.hot("cam1", "segments"), "segment_3.ts"))
    b = make(env, FixedClock(t + 3700), hot_limits={"thumbnails": 1, "segments": 1})
    b.recover()
    with open(os.path.join(env.archive("cam1", "thumbnails", 10), "index.json")) as f:
        assert json.load(f)["count"] == 4
    pl = read(os.path.join(env.archive("cam1", "segments", 10), "archive.m3u8"))
    assert "#EXT-X-PLAYLIST-TYPE:VOD" in pl and pl.rstrip().endswith("#EXT-X-ENDLIST")
    assert [ln for ln in pl.splitlines() if ln.endswith(".ts")] == ["segment_0.ts", "segment_1.ts", "segment_2.ts"]


def test_ram_thumbnail_index_is_rewritten_at_most_once_a_second(env):
    env.add_device("cam1")
    th = env.hot("cam1", "thumbnails")
    t = ts("2024-03-01 10:15:00")
    clock = FixedClock(t)
    a = make(env, clock, hot_limits={"thumbnails": 1})
    idx = os.path.join(env.hot("cam1"), "index", "thumbnails_2024-03-01_10.json")
    counts = []
    for i in range(12):  # 4 thumbnails a second for 3 s, as the daemon loop would see them
        produce(th, "thumbnails", i, mtime=clock.now)
        a.pass_device("cam1")
        a.write_ram_indexes()
        if os.path.exists(idx):
            with open(idx) as f:
                counts.append(json.load(f)["count"])
        clock.advance(0.25)
    # 11 thumbnails archived one by one over 3 s, but the RAM index changed at most once a second
    assert len(counts) == 11 and counts == sorted(counts), counts
    assert len(set(counts)) <= 4, counts
    clock.advance(1)
    a.write_ram_indexes()
    with open(idx) as f:
        assert json.load(f)["count"] == 11, "the last change is written within a second"
