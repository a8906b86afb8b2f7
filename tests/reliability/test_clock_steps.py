"""Issue 14 point 5 / issue 15 defect 1: clock STEPS of a day or more, as a Raspberry Pi meets them.

A Pi has no real-time clock. It boots at 1970, or at the time fake-hwclock saved at the last shutdown
(hours or days behind), and NTP steps the clock minutes later. Files keep arriving with the clock's
time as their mtime, as FFmpeg's would. The archiver (in process, on a clock the test moves) passes
once per simulated second and cleanup runs every simulated minute.

What must hold: a clock step never deletes anything recorded within its retention, measured in REAL
elapsed time (the test counts it apart from the wall clock). Each run lasts well under the shortest
retention (captures, 1 h), so nothing at all may be deleted: every file produced ends on the SD,
byte-identical, exactly once, after the final flush.
"""

import os
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from hchelpers import produce, sha256, write_live
from record import record

from hotcold import retention
from hotcold.archiver import Archiver
from hotcold.clock import FixedClock

LIMITS = {"captures": 5, "thumbnails": 5, "segments": 3}
RETENTION = {"captures": 1, "thumbnails": 24, "segments": 24, "metadata": 24}
RATES = (("captures", 2), ("thumbnails", 5), ("segments", 1))  # files per second, the plan's rates
DAY = 86400


def at(text):
    return datetime.fromisoformat(text).replace(tzinfo=ZoneInfo("UTC")).timestamp()


# name -> (wall clock at start, [(simulated seconds to run, then the step in seconds)])
SCENARIOS = {
    "forward_1_day": (at("2024-03-01 10:00:00"), [(600, +DAY), (600, 0)]),
    "back_1_day": (at("2024-03-02 10:00:00"), [(600, -DAY), (600, 0)]),
    # fake-hwclock saved the time 3 days ago at shutdown; the Pi boots with it, NTP steps it minutes later
    "fake_hwclock_3_days_forward": (at("2024-02-27 10:00:00"), [(600, +3 * DAY), (600, 0)]),
    # no saved time at all: the Pi boots at 1970, NTP steps it to today
    "boot_at_1970": (30.0, [(300, at("2024-03-01 10:00:00") - 330.0), (600, 0)]),
}
# Before the fix (issue 15, defect 1) every scenario deleted footage: files older than the day an hour
# folder held were deleted as "past retention" at once, a folder holding another day was cleared, and
# cleanup aged files by the wall clock, so minutes-old footage stamped before a forward step was
# deleted as days old. The clock's ``step`` moves the wall clock only, as NTP does; real elapsed time
# (boottime) moves with ``advance``.


def _key_of(path):
    """(day, hour) of a file's mtime (UTC)."""
    d = datetime.fromtimestamp(os.stat(path).st_mtime, ZoneInfo("UTC"))
    return d.date().isoformat(), d.hour


def _folder_of(path):
    """(day, hour) a file's folder holds: its .day and its hour (from the name, for unsynced-<day>-<HH>)."""
    folder = os.path.dirname(path)
    with open(os.path.join(folder, ".day")) as f:
        day = f.readline().strip()
    name = os.path.basename(folder)
    return day, int(name[-2:] if name.startswith("unsynced-") else name)


@pytest.mark.reliability
@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_clock_step_deletes_nothing_within_retention(env, scenario):
    start, script = SCENARIOS[scenario]
    env.add_device("cam1")
    clock = FixedClock(start)
    cfg = env.config(timezone="UTC", hot_limits=LIMITS, retention_hours=RETENTION)
    archiver = Archiver(cfg, clock)
    made = {}  # (kind, name) -> sha256
    numbers = dict.fromkeys(LIMITS, 1)
    deleted_by_cleanup = []

    def produce_second():
        for kind, count in RATES:
            for i in range(count):
                path, digest = produce(env.hot("cam1", kind), kind, numbers[kind], mtime=clock.now + i / count,
                                       size=256)
                made[(kind, os.path.basename(path))] = digest
                numbers[kind] += 1
        last = numbers["segments"] - 1
        write_live(env.hot("cam1", "segments"), list(range(max(1, last - 2), last + 1)))

    def run_cleanup():
        before = set(env.archived_files("cam1"))
        retention.cleanup(cfg, clock.now, clock)
        deleted_by_cleanup.extend(before - set(env.archived_files("cam1")))

    steps = 0
    for seconds, step in script:
        for s in range(seconds):
            produce_second()
            archiver.run_once()
            if s % 60 == 59:
                run_cleanup()
            clock.advance(1)
        if step:
            clock.step(step)
            steps += 1
    run_cleanup()
    assert archiver.flush(), "flush left files in RAM"

    on_sd = env.archived_files("cam1")  # name -> path (names are unique in this run)
    expired = archiver.states["cam1"].counters["expired"]
    lost = sorted(name for (_, name) in made if name not in on_sd)
    torn = sorted(name for (_, name), digest in made.items() if name in on_sd and sha256(on_sd[name]) != digest)
    assert deleted_by_cleanup == [], f"cleanup deleted {len(deleted_by_cleanup)} minutes-old file(s), " \
                                     f"e.g. {sorted(deleted_by_cleanup)[:3]}"
    assert expired == 0, f"the archiver deleted {expired} file(s) as past retention"
    assert lost == [] and torn == [], f"lost {len(lost)} (e.g. {lost[:3]}), torn {len(torn)}"
    # every file sits in a folder (hour or unsynced) marked with its own day and hour: nothing misfiled
    misfiled = [p for p in on_sd.values() if _folder_of(p) != _key_of(p)]
    assert misfiled == [], f"{len(misfiled)} file(s) in a folder of another day or hour, e.g. {misfiled[:3]}"
    # what a step set aside is in <kind>/unsynced-<day>-<HH>/ and counted, file for file
    aside = [n for n, p in on_sd.items() if os.path.basename(os.path.dirname(p)).startswith("unsynced-")]
    unsynced = archiver.states["cam1"].counters["unsynced"]
    assert unsynced == len(aside), f"{len(aside)} file(s) in unsynced folders, counted {unsynced}"
    print(f"{scenario}: produced {len(made)}, on the SD {len(on_sd)}: {len(on_sd) - len(aside)} in hour folders, "
          f"{len(aside)} set aside (unsynced counter {unsynced}), deleted by cleanup {len(deleted_by_cleanup)}, "
          f"expired {expired}")
    record("clock", f"clock step: {scenario.replace('_', ' ')} (UTC), archiver pass every simulated second, "
           "cleanup every minute", tried=steps, produced=len(made), lost=0, torn=0,
           source=f"tests/reliability/test_clock_steps.py::{scenario}", deleted_within_retention=0,
           in_hour_folders=len(on_sd) - len(aside), set_aside_unsynced=len(aside))
