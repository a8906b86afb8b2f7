"""A device that stops with files in RAM (issue 15, defect 9): its last hour must still close when it
ends, its SD index must name only files on the SD, no RAM index may outlive its hour (nginx serves the
RAM copy first), and the open hours must stay bounded however many days pass."""

import json
import os
import re
from datetime import datetime
from zoneinfo import ZoneInfo

from hchelpers import produce, write_live

from hotcold import retention
from hotcold.archiver import Archiver
from hotcold.clock import FixedClock
from hotcold.hours import HourKey
from hotcold.layout import number_of

UTC = ZoneInfo("UTC")
RAM_NAME = re.compile(r"^(thumbnails|segments)_(?:(\d{4}-\d{2}-\d{2})_)?(\d{1,2})\.(json|m3u8)$")


def ts(s):
    return datetime.fromisoformat(s).replace(tzinfo=UTC).timestamp()


def feed_seconds(env, clock, a, n, first=1000):
    """n seconds of FFmpeg-like output (4 thumbnails, 1 segment a second), a pass after each."""
    th, seg = env.hot("cam1", "thumbnails"), env.hot("cam1", "segments")
    live = []
    for s in range(n):
        for i in range(4):
            produce(th, "thumbnails", first * 5 + s * 4 + i, mtime=clock.now + i * 0.25)
        produce(seg, "segments", first + s, mtime=clock.now + 1.0)
        live = (live + [first + s])[-3:]
        write_live(seg, live)
        daemon_pass(a)
        clock.advance(1.0)


def daemon_pass(a):
    """One turn of the daemon's loop for cam1: a pass, the RAM indexes, and the checkpoint (its interval is
    shorter than the test's steps): a closed hour's SD indexes go into place with it."""
    a.pass_device("cam1")
    a.write_ram_indexes()
    if a.cp.due():
        a.checkpoint()


def recorded_20_seconds(env):
    """Given the env, return (clock, config, archiver) after device cam1 recorded 20 s from 10:05 on
    2024-03-01 with small hot limits (its newest files stay in RAM when it stops)."""
    env.add_device("cam1")
    clock = FixedClock(ts("2024-03-01 10:05:00"))
    cfg = env.config(hot_limits={"thumbnails": 4, "segments": 2}, archive={"segment_margin": 0})
    a = Archiver(cfg, clock)
    a.recover()
    feed_seconds(env, clock, a, 20)
    return clock, cfg, a


def broken_links(env):
    """Files named by the RAM indexes (hot/index/) that are not on the SD: [(index name, file)]."""
    out = []
    idir = os.path.join(env.hot("cam1"), "index")
    for name in sorted(os.listdir(idir)):
        m = RAM_NAME.match(name)
        if not m:
            continue
        with open(os.path.join(idir, name)) as f:
            text = f.read()
        hour = int(m.group(3))
        if m.group(4) == "m3u8":
            files = [os.path.join(env.archive("cam1", "segments", hour), ln) for ln in text.splitlines()
                     if ln.endswith(".ts")]
        elif m.group(1) == "thumbnails":
            files = [env.base + u[len("/host/stream"):] for u in json.loads(text)["thumbnails"]]
        else:
            continue
        out += [(name, f) for f in files if not os.path.exists(f)]
    return out


def ram_indexes_of_hour(env, hour):
    idir = os.path.join(env.hot("cam1"), "index")
    return sorted(n for n in os.listdir(idir) if (m := RAM_NAME.match(n)) and int(m.group(3)) == hour)


def sd_index_state(env, hour):
    """(thumbnail urls whose file is missing, segments whose file is missing, playlist ended) of the SD
    copies of an hour, or None if it has none."""
    tdir, sdir = env.archive("cam1", "thumbnails", hour), env.archive("cam1", "segments", hour)
    try:
        with open(os.path.join(tdir, "index.json")) as f:
            urls = json.load(f)["thumbnails"]
        with open(os.path.join(sdir, "archive.m3u8")) as f:
            pl = f.read()
    except FileNotFoundError:
        return None
    thumbs_on_sd = {n for n in os.listdir(tdir) if number_of("thumbnails", n) is not None}
    segs = [ln for ln in pl.splitlines() if ln.endswith(".ts")]
    return ([u for u in urls if u.rsplit("/", 1)[1] not in thumbs_on_sd],
            [s for s in segs if not os.path.exists(os.path.join(sdir, s))],
            "#EXT-X-ENDLIST" in pl, len(urls), len(segs))


def test_a_device_that_stops_with_files_in_ram_closes_its_hour_and_leaves_no_stale_index(env):
    clock, cfg, a = recorded_20_seconds(env)
    ram_names_while_open = sorted(os.listdir(os.path.join(env.hot("cam1"), "index")))
    # the device stops: its newest files stay in RAM (the hot limits keep them), nothing new comes
    in_ram = {k: sorted(os.listdir(env.hot("cam1", k))) for k in ("thumbnails", "segments")}
    seen = {}
    most_open, broken, passes = 0, [], 0
    while clock.now < ts("2024-03-03 12:00:00"):  # two days and two hours, a pass every 10 minutes
        clock.advance(600)
        daemon_pass(a)
        passes += 1
        if int(clock.now) % 3600 < 600:  # the hourly cleanup cron
            retention.cleanup(cfg, clock.now, clock)
        most_open = max(most_open, len(a.states["cam1"].hours.keys()))
        broken += [(datetime.fromtimestamp(clock.now, UTC).strftime("%m-%d %H:%M"), *b) for b in broken_links(env)]
        if "11:10" not in seen and clock.now >= ts("2024-03-01 11:10:00"):
            seen["11:10"] = {
                "hour 10 open": HourKey("2024-03-01", 10) in a.states["cam1"].hours.keys(),
                "RAM indexes of hour 10": ram_indexes_of_hour(env, 10),
                "SD index of hour 10 (missing thumbs, missing segs, ended, thumbs, segs)": sd_index_state(env, 10),
            }
    figures = {
        "RAM index names while hour 10 is open": ram_names_while_open,
        "at 11:10": seen["11:10"],
        "most open hours at once": most_open,
        "first time a RAM index named a missing file": broken[0][0] if broken else None,
        "RAM index links to missing files (distinct)": len({b[1:] for b in broken}),
        "files left in RAM": {k: sorted(os.listdir(env.hot("cam1", k))) for k in in_ram},
    }
    assert figures == {
        "RAM index names while hour 10 is open": ["segments_2024-03-01_10.json", "segments_2024-03-01_10.m3u8",
                                                  "thumbnails_2024-03-01_10.json"],
        "at 11:10": {"hour 10 open": False, "RAM indexes of hour 10": [],
                     "SD index of hour 10 (missing thumbs, missing segs, ended, thumbs, segs)": ([], [], True, 76, 17)},
        "most open hours at once": 2,
        "first time a RAM index named a missing file": None,
        "RAM index links to missing files (distinct)": 0,
        "files left in RAM": in_ram,  # nothing of RAM is lost either: the stopped device's files wait there
    }, f"{passes} passes"


def test_a_restart_closes_at_once_an_hour_whose_files_waited_in_ram_past_the_grace(env):
    """The archiver stopped too (its RAM indexes were left in the tmpfs) and starts again the next day:
    the hour whose files still wait in RAM gets its SD copies (VOD) at start and no RAM copy, and only
    the current hour is open."""
    clock, cfg, a = recorded_20_seconds(env)
    clock.now = ts("2024-03-02 09:30:00")
    b = Archiver(cfg, clock)
    b.recover()
    b.pass_device("cam1")
    b.write_ram_indexes(force=True)
    assert b.states["cam1"].hours.keys() == [HourKey("2024-03-02", 9)]
    assert sd_index_state(env, 10) == ([], [], True, 76, 17)
    assert os.listdir(os.path.join(env.hot("cam1"), "index")) == []


def test_files_that_leave_ram_after_their_hour_closed_reach_its_sd_index(env):
    """The device resumes two hours later: the files of hour 10 that waited in RAM are archived, hour 10
    opens again for that pass only, and its SD copies (VOD) name them too; no RAM copy of it is left."""
    clock, cfg, a = recorded_20_seconds(env)
    for t in ("2024-03-01 11:00:30", "2024-03-01 11:30:00"):  # the daemon's passes (every rescan_seconds)
        clock.advance(ts(t) - clock.now)
        daemon_pass(a)
    assert sd_index_state(env, 10) == ([], [], True, 76, 17)
    clock.advance(ts("2024-03-01 12:00:00") - clock.now)
    feed_seconds(env, clock, a, 10, first=3000)
    assert sd_index_state(env, 10) == ([], [], True, 80, 20)
    assert ram_indexes_of_hour(env, 10) == []
    assert ram_indexes_of_hour(env, 12) == ["segments_2024-03-01_12.json", "segments_2024-03-01_12.m3u8",
                                            "thumbnails_2024-03-01_12.json"]
    assert a.states["cam1"].hours.keys() == [HourKey("2024-03-01", 12)]


def test_nginx_looks_for_the_ram_index_names_the_archiver_writes(env):
    """The site's try_files for an hour's indexes name, with today's date and the hour, exactly the RAM
    files the archiver writes for that hour (layout.DeviceLayout), then the SD copies."""
    from hotcold.layout import DeviceLayout

    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    with open(os.path.join(repo, "roles", "stream_endpoints", "templates", "hotcold.conf.j2")) as f:
        site = f.read()
    firsts = re.findall(r"try_files\s+(\S+)", site)
    lay, key = DeviceLayout("/base", "cam1"), HourKey("2024-03-01", 7)
    subst = {"$hc_dev": "cam1", "${hotcold_today}": key.day, "$hc_hour": "7"}

    def served(pattern):
        for var, value in subst.items():
            pattern = pattern.replace(var, value)
        return "/base" + pattern

    ram_firsts = sorted(served(p) for p in firsts if "/hot/index/" in p)
    assert ram_firsts == sorted([lay.ram_segment_playlist(key), lay.ram_thumbnail_index(key),
                                 lay.ram_thumbnail_index(key), lay.ram_segment_index(key)])
    assert "$1" not in " ".join(firsts), "a location using $hotcold_today (a regex map) must use named captures"
