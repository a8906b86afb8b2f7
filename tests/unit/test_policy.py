"""The keep-in-RAM rule (hotcold.policy) over plain lists: no root, no tmpfs, no daemon."""

from dataclasses import dataclass

import pytest

from hotcold import policy
from hotcold.policy import DRAIN, FLUSH, FLUSHED, LIVE, NEWEST, NORMAL, OVER_LIMIT, due, held, overdue

LIMITS = {"captures": 3, "thumbnails": 2, "segments": 4}


@dataclass(frozen=True)
class F:
    kind: str
    number: int
    mtime: float


def hot(**counts):
    """Per kind, files numbered 1..n with mtime = number (oldest first), as the archiver's scan gives them."""
    return {k: [F(k, n, float(n)) for n in range(1, counts.get(k, 0) + 1)] for k in LIMITS}


def numbers(files):
    return [f.number for f in files]


def test_normal_keeps_the_newest_per_kind_and_moves_the_rest_oldest_first():
    v = due(hot(captures=5, thumbnails=2, segments=4), LIMITS)
    assert numbers(v.stay["captures"]) == [3, 4, 5]
    assert numbers(v.stay["thumbnails"]) == [1, 2]
    assert numbers(v.stay["segments"]) == [1, 2, 3, 4]
    assert [(f.kind, f.number) for f in v.go] == [("captures", 1), ("captures", 2)]
    assert {v.why[f] for f in v.go} == {OVER_LIMIT}
    assert {v.why[f] for lst in v.stay.values() for f in lst} == {NEWEST}


def test_go_is_sorted_by_mtime_then_number_over_all_kinds():
    files = {"captures": [F("captures", 7, 10.0), F("captures", 8, 30.0), F("captures", 9, 40.0)],
             "thumbnails": [F("thumbnails", 5, 20.0), F("thumbnails", 6, 40.0)],
             "segments": [F("segments", 1, 10.0), F("segments", 12, 10.0)]}
    v = due(files, {"captures": 1, "thumbnails": 1, "segments": 0})
    assert [(f.kind, f.number) for f in v.go] == [
        ("segments", 1), ("captures", 7), ("segments", 12), ("thumbnails", 5), ("captures", 8)]


def test_a_segment_beyond_the_limit_stays_while_in_the_live_playlist_or_its_margin():
    files = hot(segments=10)
    # live playlist starts at 8: with margin 2, numbers >= 6 stay
    v = due(files, LIMITS, NORMAL, live_first=8, margin=2)
    assert numbers(v.stay["segments"]) == [6, 7, 8, 9, 10]
    assert [v.why[f] for f in v.stay["segments"]] == [LIVE, NEWEST, NEWEST, NEWEST, NEWEST]
    assert numbers(v.go) == [1, 2, 3, 4, 5]
    # the playlist only holds back: below the limit nothing goes even if the playlist moved on
    assert numbers(due(hot(segments=3), LIMITS, NORMAL, live_first=100, margin=2).go) == []


def test_without_a_live_playlist_segments_go_down_to_the_limit():
    v = due(hot(segments=10), LIMITS, NORMAL, live_first=None, margin=2)
    assert numbers(v.stay["segments"]) == [7, 8, 9, 10]


def test_drain_ignores_the_playlist():
    v = due(hot(captures=5, segments=10), LIMITS, DRAIN, live_first=2, margin=2)
    assert numbers(v.stay["segments"]) == [7, 8, 9, 10]
    assert numbers(v.stay["captures"]) == [3, 4, 5]
    assert {v.why[f] for f in v.go} == {OVER_LIMIT}


def test_flush_keeps_nothing():
    files = hot(captures=2, thumbnails=2, segments=2)
    v = due(files, LIMITS, FLUSH, live_first=1, margin=2)
    assert v.stay == {"captures": [], "thumbnails": [], "segments": []}
    assert len(v.go) == 6 and {v.why[f] for f in v.go} == {FLUSHED}


@pytest.mark.parametrize("mode", [NORMAL, DRAIN, FLUSH])
def test_every_file_is_decided_exactly_once(mode):
    files = hot(captures=9, thumbnails=1, segments=12)
    v = due(files, LIMITS, mode, live_first=9, margin=1)
    decided = v.go + [f for lst in v.stay.values() for f in lst]
    assert sorted(decided, key=lambda f: (f.kind, f.number)) == sorted(
        [f for lst in files.values() for f in lst], key=lambda f: (f.kind, f.number))
    assert set(v.why) == set(decided)


def test_a_limit_of_zero_keeps_none_of_that_kind():
    v = due(hot(thumbnails=3), {**LIMITS, "thumbnails": 0})
    assert v.stay["thumbnails"] == [] and numbers(v.go) == [1, 2, 3]


def test_an_unknown_mode_is_an_error_naming_it():
    with pytest.raises(ValueError, match="'fast'"):
        due(hot(captures=1), LIMITS, "fast")


@pytest.mark.parametrize("margin", [0, 2, 5])
def test_held_is_what_due_keeps_in_a_steady_stream(margin):
    """FFmpeg's live playlist holds the newest limits['segments'] segments: in a steady stream ``due``
    keeps exactly ``held`` files of each kind, which is what health and status compare RAM with."""
    files = hot(captures=50, thumbnails=50, segments=50)
    live_first = 50 - LIMITS["segments"] + 1
    v = due(files, LIMITS, NORMAL, live_first=live_first, margin=margin)
    assert {k: len(lst) for k, lst in v.stay.items()} == {k: held(k, LIMITS, margin) for k in LIMITS}
    assert held("segments", LIMITS, margin) == LIMITS["segments"] + margin


def test_overdue_counts_files_due_for_longer_than_the_grace():
    """A file is due from the moment the keep-th newer file arrived, not from its own mtime."""
    now = 100.0
    mtimes = [99.5, 99.0, 98.0, 97.5, 96.0, 90.0]  # newest first
    # 98 was pushed out by 99.5 (0.5 s ago) ... 90 by 97.5 (2.5 s ago): all inside a 3 s window
    assert overdue(mtimes, 2, now, grace=3.0) == 0
    assert overdue(mtimes, 2, now + 2.0, grace=3.0) == 2  # 96 and 90, due since 98.0 and 97.5: over 3 s
    assert overdue(mtimes, 6, now, grace=0.0) == 0
    assert overdue(mtimes, 0, now, grace=0.0) == 6


def test_a_file_just_pushed_out_is_not_overdue_however_old_it_is():
    """The 1 s segment a new one pushes beyond a hold of 8 is 8 s old but due for 0.1 s: not late. Counting
    by the file's own age called it late (molecule fleet, 2026-12-03: "segments WARN: 9/8 in RAM (112%), 1 older
    than 3s not archived" on a host whose hold is 8, where one late file is already over the 10 % tolerance)."""
    now = 100.0
    mtimes = [now - 0.1 - i for i in range(9)]  # 9 segments, 1 s apart, the newest 0.1 s old
    assert overdue(mtimes, 8, now, grace=3.0) == 0
    assert overdue(mtimes, 8, now + 3.0, grace=3.0) == 1  # still there 3.1 s after it became due: late


def test_the_archiver_and_health_use_the_policy():
    """One definition: the archiver's modes are the policy's, health's expectation is held()."""
    from types import SimpleNamespace

    from hotcold import archiver, healthchecks

    assert (archiver.NORMAL, archiver.DRAIN, archiver.FLUSH) == (policy.NORMAL, policy.DRAIN, policy.FLUSH)
    cfg = SimpleNamespace(hot_limits=LIMITS, archive=SimpleNamespace(segment_margin=3))
    assert [healthchecks.expected_hot(cfg, k) for k in LIMITS] == [3, 2, 7]
