"""The SD wear budget's rules (hotcold.budget) over plain numbers and lists: no root, no tmpfs, no daemon."""

import logging
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import pytest

from hotcold import budget
from hotcold.budget import Budget, Ledger, allowance, count, day_span, kinds_to_thin, pace, spaced, stepped
from hotcold.clock import FixedClock
from hotcold.config.loader import BudgetSettings

UTC = ZoneInfo("UTC")
PARIS = ZoneInfo("Europe/Paris")
GB = 1e9
MIDNIGHT = 1764633600.0  # 2025-12-02 00:00:00 UTC
ORDER = ("captures", "thumbnails")
INTERVALS = {"captures": 10.0, "thumbnails": 1.0, "segments": 2.0}
log = logging.getLogger("test_budget")


@dataclass(frozen=True)
class F:
    kind: str
    mtime: float


def test_pace_is_the_budget_times_the_elapsed_fraction_plus_15_minutes():
    assert allowance(96 * GB) == pytest.approx(1 * GB)  # 900 s of 86400 s
    assert pace(96 * GB, 0.0) == pytest.approx(1 * GB)
    assert pace(96 * GB, 0.5) == pytest.approx(49 * GB)
    assert pace(96 * GB, 1.0) == pytest.approx(97 * GB)
    assert pace(96 * GB, 1.7) == pytest.approx(97 * GB)  # a fraction outside 0..1 (a 25 h day's end) is clamped


def test_under_the_pace_nothing_is_thinned_then_one_kind_per_allowance_ahead():
    a = 1 * GB
    assert kinds_to_thin(10 * GB, 10 * GB, a, ORDER) == ()
    assert kinds_to_thin(9 * GB, 10 * GB, a, ORDER) == ()
    assert kinds_to_thin(10 * GB + 1, 10 * GB, a, ORDER) == ("captures",)
    assert kinds_to_thin(10.99 * GB, 10 * GB, a, ORDER) == ("captures",)
    assert kinds_to_thin(11 * GB, 10 * GB, a, ORDER) == ("captures", "thumbnails")
    # segments are thinned only when listed, and a kind is never listed twice
    assert kinds_to_thin(50 * GB, 10 * GB, a, ORDER) == ("captures", "thumbnails")
    assert kinds_to_thin(50 * GB, 10 * GB, a, ("thumbnails", "captures", "segments")) == (
        "thumbnails", "captures", "segments")
    assert kinds_to_thin(11.5 * GB, 10 * GB, a, ("thumbnails", "captures", "segments")) == ("thumbnails", "captures")


def test_the_day_follows_the_config_zone_and_a_dst_day_has_its_real_length():
    assert day_span(MIDNIGHT + 3600, UTC) == ("2025-12-02", MIDNIGHT, MIDNIGHT + 86400)
    day, start, end = day_span(1743300000.0, PARIS)  # 2025-03-30: clocks go forward, 23 h
    assert day == "2025-03-30" and end - start == 23 * 3600


def test_a_thinned_kind_keeps_one_file_per_interval_of_capture_time():
    files = [F("captures", MIDNIGHT + i * 0.5) for i in range(60)]  # 2 fps for 30 s
    kept, thinned, last = spaced(files, 10.0, None)
    assert [f.mtime - MIDNIGHT for f in kept] == [0.0, 10.0, 20.0]
    assert len(thinned) == 57
    # the next pass goes on from the last window: nothing more until the next 10 s window
    kept2, _, _ = spaced([F("captures", MIDNIGHT + 29.9), F("captures", MIDNIGHT + 30.0)], 10.0, last)
    assert [f.mtime - MIDNIGHT for f in kept2] == [30.0]
    # a clock stepped back an hour: its first file starts a window again, it is not thinned for an hour
    kept3, _, _ = spaced([F("captures", MIDNIGHT - 3600)], 10.0, last)
    assert len(kept3) == 1


def test_midnight_starts_the_count_again():
    led = count(Ledger(), 5, MIDNIGHT - 10, UTC, "b", 1000.0)
    assert (led.day, led.spent) == ("2025-12-01", 5)
    led = count(led, 7, MIDNIGHT - 5, UTC, "b", 1005.0)
    assert (led.day, led.spent) == ("2025-12-01", 12)
    led = count(led, 3, MIDNIGHT + 5, UTC, "b", 1015.0)
    assert (led.day, led.spent) == ("2025-12-02", 3)


def test_a_clock_step_across_midnight_keeps_the_count_both_ways():
    led = count(Ledger(), 500, MIDNIGHT - 600, UTC, "b", 1000.0)
    # NTP steps the clock a day forward 2 s later: real time says no midnight passed
    fwd = count(led, 10, MIDNIGHT + 86400, UTC, "b", 1002.0)
    assert stepped(led, MIDNIGHT + 86400, "b", 1002.0)
    assert (fwd.day, fwd.spent) == ("2025-12-03", 510)
    # and back a day: the bytes are still counted, no second budget for the day
    back = count(fwd, 10, MIDNIGHT - 100, UTC, "b", 1004.0)
    assert (back.day, back.spent) == ("2025-12-01", 520)
    # a new boot (the ledger survived only in run_dir of this one): real time unknown, midnight counts
    assert not stepped(led, MIDNIGHT + 86400, "other-boot", 5.0)


def settings(gb=96.0, order=ORDER):
    return BudgetSettings(gb_per_day=gb, order=order, min_interval_seconds=INTERVALS)


def test_budget_thins_when_ahead_and_returns_to_the_full_rate_under_the_pace(tmp_path):
    clock = FixedClock(MIDNIGHT + 43200)  # noon: pace 48 GB + 1 GB
    b = Budget(settings(), UTC, clock, str(tmp_path), log)
    assert b.thin_now(40 * GB) == ()
    assert b.thin_now(49.5 * GB) == ("captures",)
    assert b.thin_now(51 * GB) == ("captures", "thumbnails")
    clock.advance(3 * 3600)  # 15:00: pace 61 GB, the archive is back under it
    assert b.thin_now(51 * GB) == ()
    assert b.summary()["spent_bytes"] == 51 * GB and b.summary()["pace_bytes"] == 61 * GB
    # the ledger survives a restart (same boot): today's bytes are not forgotten
    again = Budget(settings(), UTC, clock, str(tmp_path), log)
    assert again.ledger.spent == 51 * GB
    assert again.thin_now(0) == ()
    assert again.thin_now(10.5 * GB) == ("captures",)  # 61.5 GB spent vs 61 GB pace


def test_keep_spaces_only_the_thinned_kinds(tmp_path):
    b = Budget(settings(), UTC, FixedClock(MIDNIGHT), str(tmp_path), log)
    caps = [F("captures", MIDNIGHT + i * 0.5) for i in range(40)]
    thumbs = [F("thumbnails", MIDNIGHT + i * 0.2) for i in range(100)]
    segs = [F("segments", MIDNIGHT + i) for i in range(20)]
    thin = ("captures",)
    assert sum(b.keep("cam", f, thin) for f in caps) == 2
    assert sum(b.keep("cam", f, thin) for f in thumbs) == 100
    assert sum(b.keep("cam", f, thin) for f in segs) == 20
    # devices are spaced each on their own
    assert b.keep("cam2", caps[-1], thin)


def test_off_by_default_nothing_is_counted_or_written(tmp_path):
    b = Budget(settings(gb=None), UTC, FixedClock(MIDNIGHT), str(tmp_path), log)
    assert b.thin_now(10**15) == ()
    assert b.summary() is None
    assert not (tmp_path / budget.FILE).exists()


def test_an_unreadable_ledger_is_named_and_today_starts_from_zero(tmp_path, caplog):
    (tmp_path / budget.FILE).write_text("{not json")
    b = Budget(settings(), UTC, FixedClock(MIDNIGHT), str(tmp_path), log)
    assert b.ledger == Ledger()
    assert str(tmp_path / budget.FILE) in caplog.text
