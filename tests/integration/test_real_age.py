"""Retention in real elapsed time (issue 15 defect 1): hour folders record their last write as boot id +
CLOCK_BOOTTIME (``.written``); cleanup and the archiver judge a folder's age by it within one boot, by
the wall clock across boots; a clock step sets fresh content aside to ``<kind>/unsynced-<day>-<HH>/``,
and the ring's normal reuse still clears a folder."""

import os
import time
from datetime import datetime
from zoneinfo import ZoneInfo

from hchelpers import produce, write_live

from hotcold import retention
from hotcold.archiver import Archiver
from hotcold.clock import Clock, FixedClock, read_boot_id
from hotcold.hours import Boot, read_written, real_age, write_marker, write_written

LIMITS = {"captures": 1, "thumbnails": 1, "segments": 1}
RETENTION = {"captures": 1, "thumbnails": 24, "segments": 24, "metadata": 24}
HOUR = 3600.0


def ts(s):
    return datetime.fromisoformat(s).replace(tzinfo=ZoneInfo("UTC")).timestamp()


def folder(env, kind, name, day, boot, files=3):
    """An archive folder ``<kind>/<name>`` holding ``files`` captures of ``day``, last written at ``boot``."""
    d = env.archive("cam1", kind, name)
    os.makedirs(d, exist_ok=True)
    write_marker(d, day)
    write_written(d, boot)
    for i in range(files):
        produce(d, "captures", 900 + i, mtime=ts(f"{day} 10:10:00") + i)
    return d


def media(d):
    return sorted(n for n in os.listdir(d) if not n.startswith(".")) if os.path.isdir(d) else None


def test_real_clock_gives_this_boot():
    clock = Clock()
    first = clock.boottime()
    with open("/proc/uptime") as f:
        uptime = float(f.read().split()[0])
    assert abs(first - uptime) < 5.0, (first, uptime)
    assert clock.boottime() >= first
    with open("/proc/sys/kernel/random/boot_id") as f:
        kernel = f.read().strip()
    assert clock.boot_id() == kernel.replace("-", ""), (clock.boot_id(), kernel)


def test_the_boot_id_systemd_passes_equals_the_kernels():
    """The archiver's unit hides /proc/sys and passes %b (32 hex digits); cron's cleanup reads /proc (with
    dashes): both must name the same boot, or a clock step would be judged by the wall clock alone."""
    with open("/proc/sys/kernel/random/boot_id") as f:
        kernel = f.read().strip()
    assert read_boot_id({"HOTCOLD_BOOT_ID": kernel.replace("-", "")}) == read_boot_id({})


def test_fixed_clock_step_moves_the_wall_only():
    clock = FixedClock(1000.0, boottime=50.0)
    clock.step(86400)
    assert (clock.time(), clock.boottime()) == (87400.0, 50.0)
    clock.advance(10)
    assert (clock.time(), clock.boottime()) == (87410.0, 60.0)


def test_written_marker_round_trip_and_other_boot(tmp_path):
    d = str(tmp_path)
    assert read_written(d) is None and real_age(d, Boot("b", 100.0, 0.0)) is None
    write_written(d, Boot("b", 100.0, 1.7e9))
    assert read_written(d) == Boot("b", 100.0, 1.7e9)
    assert real_age(d, Boot("b", 160.5, 0.0)) == 60.5
    assert real_age(d, Boot("other", 160.5, 0.0)) is None  # another boot: boottimes do not compare
    with open(os.path.join(d, ".written"), "w") as f:
        f.write("garbage\n")
    assert read_written(d) is None


def test_cleanup_keeps_wall_expired_content_fresh_in_real_time(env):
    """A step forward of a day makes an hour folder wall-expired; it goes only when real time agrees."""
    env.add_device("cam1")
    cfg = env.config(timezone="UTC", retention_hours=RETENTION)
    clock = FixedClock(ts("2024-03-02 10:30:00"), boottime=1000.0)
    d = folder(env, "captures", 10, "2024-03-01", Boot(clock.boot_id(), 900.0, 0.0))
    retention.cleanup(cfg, clock.now, clock)
    assert media(d) == ["capture_900.jpg", "capture_901.jpg", "capture_902.jpg"]
    clock.advance(HOUR - 100 + retention.REAL_MARGIN - 1)  # 1 s short of retention + margin
    retention.cleanup(cfg, clock.now, clock)
    assert len(media(d)) == 3
    clock.advance(1)
    expired, _ = retention.cleanup(cfg, clock.now, clock)
    assert media(d) == [] and [(e.folder, e.files) for e in expired] == [("10", 3)]


def test_cleanup_across_a_reboot_goes_by_the_wall_clock(env):
    env.add_device("cam1")
    cfg = env.config(timezone="UTC", retention_hours=RETENTION)
    clock = FixedClock(ts("2024-03-02 10:30:00"), boot_id="this-boot", boottime=10.0)
    d = folder(env, "captures", 10, "2024-03-01", Boot("last-boot", 900.0, 0.0))
    expired, _ = retention.cleanup(cfg, clock.now, clock)
    assert media(d) == [] and [e.files for e in expired] == [3]


def test_cleanup_ages_unsynced_folders_by_real_time_then_by_their_last_write(env):
    env.add_device("cam1")
    cfg = env.config(timezone="UTC", retention_hours=RETENTION)
    clock = FixedClock(ts("2024-03-02 10:30:00"), boot_id="this-boot", boottime=5000.0)
    # this boot, written 100 s ago (real): kept although its day is long past by the wall clock
    fresh = folder(env, "captures", "unsynced-1970-01-01-00", "1970-01-01", Boot("this-boot", 4900.0, 100.0))
    # this boot, written 2 h ago (real): past the captures' 1 h
    old = folder(env, "captures", "unsynced-2024-03-01-10", "2024-03-01", Boot("this-boot", 5000.0 - 2 * HOUR, 0.0))
    # another boot: the wall clock of its last write decides (30 min ago: kept; 3 h ago: gone)
    other_kept = folder(env, "captures", "unsynced-2024-03-01-11", "2024-03-01",
                        Boot("last-boot", 1.0, clock.now - 1800))
    other_gone = folder(env, "captures", "unsynced-2024-03-01-12", "2024-03-01",
                        Boot("last-boot", 1.0, clock.now - 3 * HOUR))
    expired, _ = retention.cleanup(cfg, clock.now, clock)
    assert sorted(e.folder for e in expired) == ["unsynced-2024-03-01-10", "unsynced-2024-03-01-12"]
    assert len(media(fresh)) == 3 and len(media(other_kept)) == 3
    assert not os.path.exists(old) and not os.path.exists(other_gone)  # not recreated, unlike an hour folder


def thumbs(env, hour):
    """The numbers of the thumbnails in an hour folder."""
    names = media(env.archive("cam1", "thumbnails", hour))
    return sorted(int(n.split("_")[1]) for n in names if n.startswith("capture_"))


def run_seconds(env, archiver, clock, numbers, seconds):
    """One capture, thumbnail and segment a second, an archiver pass each second."""
    for _ in range(seconds):
        for kind in LIMITS:
            produce(env.hot("cam1", kind), kind, numbers[kind], mtime=clock.now, size=64)
            numbers[kind] += 1
        write_live(env.hot("cam1", "segments"), [numbers["segments"] - 1])
        archiver.run_once()
        clock.advance(1)


def test_the_ring_coming_round_still_clears_a_folder(env):
    """23 h of real time after the last write, the same hour of the next day clears the folder
    (retention 24 h): not a clock step, nothing set aside."""
    env.add_device("cam1")
    clock = FixedClock(ts("2024-03-01 10:59:50"))
    archiver = Archiver(env.config(timezone="UTC", hot_limits=LIMITS, retention_hours=RETENTION), clock)
    numbers = dict.fromkeys(LIMITS, 1)
    run_seconds(env, archiver, clock, numbers, 20)
    assert thumbs(env, 10) == list(range(1, 11))
    clock.advance(23 * HOUR - 10)  # 10:00:00 of the next day: hour 10 was last written 23 h ago
    run_seconds(env, archiver, clock, numbers, 5)
    assert thumbs(env, 10) == list(range(21, 25))  # the new day's; the 25th is still in RAM
    assert archiver.states["cam1"].counters["unsynced"] == 0
    assert not [n for n in os.listdir(env.archive("cam1", "thumbnails")) if n.startswith("unsynced-")]


def test_a_step_sets_recent_content_aside_and_counts_it(env):
    env.add_device("cam1")
    clock = FixedClock(ts("2024-03-01 10:00:00"))
    archiver = Archiver(env.config(timezone="UTC", hot_limits=LIMITS, retention_hours=RETENTION), clock)
    numbers = dict.fromkeys(LIMITS, 1)
    run_seconds(env, archiver, clock, numbers, 10)
    clock.step(86400)
    run_seconds(env, archiver, clock, numbers, 10)
    assert archiver.flush()
    aside = env.archive("cam1", "thumbnails", "unsynced-2024-03-01-10")
    with open(os.path.join(aside, ".day")) as f:
        assert f.read().strip() == "2024-03-01"
    assert media(aside) == sorted(f"capture_{n}_thumbnail.jpg" for n in range(1, 11))
    counters = archiver.states["cam1"].counters
    assert counters["unsynced"] == 30 and counters["expired"] == 0, counters


def test_the_unsynced_counter_reaches_the_textfile(env):
    from test_health import beat, healthy

    env.add_device("cam1")
    now = time.time()
    healthy(env, now)
    beat(env, now, unsynced=7)
    r = env.cli("health", now=now)
    # (0 or 1: the "sd wear" check reads this machine's real disk, which other work may make WARN)
    assert r.returncode in (0, 1), r.stdout + r.stderr
    with open(env.prom) as f:
        text = f.read()
    assert "# TYPE hotcold_unsynced_files_total counter" in text
    assert 'hotcold_unsynced_files_total{device="cam1"} 7' in text


def test_hotcold_cleanup_reads_this_boot_from_the_system(env):
    """The cron command judges by the system's boot id and CLOCK_BOOTTIME: a folder written 10 s ago in
    this boot stays although its day is 1970; one written in another boot goes."""
    env.add_device("cam1")
    env.write_config(timezone="UTC", retention_hours=RETENTION)
    real = Clock()
    fresh = folder(env, "captures", 0, "1970-01-01", Boot(real.boot_id(), real.boottime() - 10, 0.0))
    other = folder(env, "captures", 1, "1970-01-01", Boot("another-boot", real.boottime() - 10, 0.0))
    r = env.cli("cleanup")
    assert r.returncode == 0, r.stdout + r.stderr
    assert len(media(fresh)) == 3 and media(other) == [], r.stdout
