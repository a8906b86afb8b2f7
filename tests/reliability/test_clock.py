"""Issue 7, case 4: the wall clock jumps forward an hour, back an hour, and across midnight (both
ways) while files keep arriving with the clock's time as their mtime, as FFmpeg's would.

The archiver (in process, on a fixed clock the test moves) passes once per simulated second and
cleanup runs every simulated 5 minutes (cron runs it hourly: more often is stricter). Checked:
every archived file sits in the hour folder of its own mtime, and that folder's day marker is its
day; nothing is lost (every file is in RAM or on the SD, byte-identical, or was deleted by cleanup);
cleanup deleted only folders whose hour + retention had passed by the clock of that run.
"""

import os
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from hchelpers import produce, sha256, write_live
from record import record, scaled

from hotcold import retention
from hotcold.archiver import Archiver
from hotcold.clock import FixedClock

LIMITS = {"captures": 5, "thumbnails": 5, "segments": 3}
RETENTION = {"captures": 1, "thumbnails": 24, "segments": 24, "metadata": 24}
# (simulated seconds to run, then the jump in seconds); starts 2024-03-01 22:50:00 local time
SCRIPT = [
    (300, +3600),   # 22:55 -> 23:55      forward an hour
    (600, -3600),   # 00:05 (next day) -> 23:05 (the day before): back across midnight
    (600, +3600),   # 23:15 -> 00:15      forward across midnight
    (300, -3600),   # 00:20 -> 23:20      back across midnight again
    (900, 0),       # run on at the true pace across midnight again: 23:20 -> 23:35
]


def local(t, tz):
    d = datetime.fromtimestamp(t, ZoneInfo(tz))
    return d.date().isoformat(), d.hour


def sd_files(env, dev):
    """{(kind, name): (hour, path)} of every media file on the SD."""
    out = {}
    for name, path in env.archived_files(dev).items():
        hour_dir = os.path.dirname(path)
        out[(os.path.basename(os.path.dirname(hour_dir)), name)] = (int(os.path.basename(hour_dir)), path)
    return out


def marker(env, dev, kind, hour):
    with open(os.path.join(env.archive(dev, kind, hour), ".day")) as f:
        return f.read().strip()


@pytest.mark.reliability
@pytest.mark.parametrize("tz", ["UTC", "Europe/Paris"])
def test_clock_jumps_misfile_lose_and_overdelete_nothing(env, tz):
    rounds = scaled(1, 2)
    env.add_device("cam1")
    start = datetime.fromisoformat("2024-03-01 22:50:00").replace(tzinfo=ZoneInfo(tz)).timestamp()
    clock = FixedClock(start)
    cfg = dict(timezone=tz, hot_limits=LIMITS, retention_hours=RETENTION)
    a = Archiver(env.config(**cfg), clock)
    config = env.config(**cfg)
    made = {}  # (kind, name) -> (sha256, mtime)
    gone_by_cleanup = {}  # (kind, name) -> clock at the cleanup that deleted it
    numbers = {"captures": 1, "thumbnails": 1, "segments": 1}
    jumps = 0
    stale_after_back_jump = []

    def produce_second():
        t = clock.now
        for kind, count in (("captures", 2), ("thumbnails", 5), ("segments", 1)):
            for i in range(count):
                n = numbers[kind]
                numbers[kind] += 1
                mtime = t + i / count
                p, h = produce(env.hot("cam1", kind), kind, n, mtime=mtime, size=256)
                made[(kind, os.path.basename(p))] = (h, mtime)
        s = numbers["segments"] - 1
        write_live(env.hot("cam1", "segments"), list(range(max(1, s - 2), s + 1)))

    def run_cleanup():
        before = sd_files(env, "cam1")
        days = {(kind, hour): marker(env, "cam1", kind, hour) for (kind, _), (hour, _) in before.items()}
        retention.cleanup(config, clock.now)
        after = sd_files(env, "cam1")
        for key in set(before) - set(after):
            kind, name = key
            hour = before[key][0]
            day = days[(kind, hour)]
            end = datetime.fromisoformat(day).replace(hour=hour, tzinfo=ZoneInfo(tz)).timestamp() + 3600
            assert end + RETENTION[kind] * 3600 <= clock.now, \
                f"cleanup at {local(clock.now, tz)} deleted {kind}/{hour}/{name} of {day}: not expired"
            gone_by_cleanup[key] = clock.now

    for _ in range(rounds):
        for seconds, jump in SCRIPT:
            for s in range(seconds):
                produce_second()
                a.run_once()
                if s % 300 == 299:
                    run_cleanup()
                clock.advance(1)
            if jump:
                clock.advance(jump)
                jumps += 1
                if jump < 0:
                    # one pass after a step back: what the live RAM keeps (newest by mtime)
                    produce_second()
                    a.run_once()
                    ram = [n for n in os.listdir(env.hot("cam1", "captures")) if n.startswith("capture_")]
                    stale_after_back_jump.append(sum(1 for n in ram if made[("captures", n)][1] > clock.now))
                    clock.advance(1)
    run_cleanup()
    assert a.flush()
    st = a.states["cam1"]
    assert st.counters["dropped"] == 0 and st.counters["expired"] == 0, st.counters

    placed = sd_files(env, "cam1")
    ram = {(k, n) for k in LIMITS for n in os.listdir(env.hot("cam1", k)) if n.startswith(("capture_", "segment_"))}
    assert ram == set(), "flush left files in RAM"
    misfiled = []
    for (kind, name), (hour, path) in placed.items():
        h, mtime = made[(kind, name)]
        day, want_hour = local(mtime, tz)
        if hour != want_hour or marker(env, "cam1", kind, hour) != day:
            misfiled.append(f"{kind}/{hour} ({marker(env, 'cam1', kind, hour)}): {name} of {day} {want_hour}h")
        assert sha256(path) == h, f"{path} torn"
    assert misfiled == [], misfiled[:5]
    lost = set(made) - set(placed) - set(gone_by_cleanup)
    assert lost == set(), sorted(lost)[:5]
    assert gone_by_cleanup, "the script runs long enough for captures to expire"
    record("clock", f"clock jumps +1 h, -1 h across midnight, +1 h across midnight, -1 h, ({tz}), "
           f"archiver pass every simulated second, cleanup every 5 min", tried=jumps, produced=len(made), lost=0,
           torn=0, source="tests/reliability/test_clock.py", misfiled=0,
           deleted_by_cleanup_all_expired=len(gone_by_cleanup), dropped=0,
           pre_jump_captures_kept_in_ram_after_back_jump=stale_after_back_jump)
