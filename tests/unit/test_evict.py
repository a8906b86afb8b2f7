"""The pure choices of a full or failing card (hotcold.evict): which archived hour to evict on ENOSPC and
which RAM files to drop past a mark. Plain lists: no root, no tmpfs, no daemon (issue 15, defects 5, 6)."""

from dataclasses import dataclass

from hotcold.evict import HourFolder, choose, over_mark

H = 3600.0
NOW_START = 100 * H  # the start of the current hour


def folder(device, kind, age, nbytes, files=10):
    """An archived hour folder ``age`` hours before the current one."""
    start = NOW_START - age * H
    return HourFolder(device, kind, int(start // H) % 24, "2024-03-01", start, files, nbytes)


def test_the_oldest_hour_of_the_kind_and_device_with_the_most_to_give():
    folders = [
        folder("cam1", "captures", 5, 900),  # the oldest hour of all, but its kind has little to give
        folder("cam1", "segments", 4, 3000),
        folder("cam1", "segments", 3, 3000),
        folder("cam2", "segments", 4, 2000),
        folder("cam2", "thumbnails", 2, 100),
    ]
    assert choose(folders, NOW_START, floor_hours=2) == folders[1]


def test_never_the_current_hour_and_never_within_the_floor():
    folders = [folder("cam1", "segments", 0, 10**9), folder("cam1", "segments", 1, 10**9),
               folder("cam1", "segments", 2, 10**9)]
    assert choose(folders, NOW_START, floor_hours=3) is None, "the newest 3 hours are kept"
    assert choose(folders, NOW_START, floor_hours=2) == folders[2]
    # a floor of 0 or 1 still never touches the current hour
    assert choose(folders[:1], NOW_START, floor_hours=1) is None
    assert choose(folders[:1], NOW_START, floor_hours=0) is None


def test_the_floor_counts_only_what_is_above_it_when_weighing_kinds():
    # cam1 segments hold the most in all, but only their hours within the floor: cam2 gives
    folders = [folder("cam1", "segments", 1, 10**9), folder("cam2", "segments", 2, 10)]
    assert choose(folders, NOW_START, floor_hours=2) == folders[1]


def test_a_future_day_an_empty_folder_and_a_protected_hour_are_never_evicted():
    future = folder("cam1", "segments", -5, 10**9)  # after a backward clock step
    empty = folder("cam1", "captures", 6, 0, files=0)
    busy = folder("cam1", "thumbnails", 7, 10**6)
    assert choose([future, empty, busy], NOW_START, 2, protected={("cam1", busy.start)}) is None
    assert choose([future, empty, busy], NOW_START, 2) == busy


@dataclass(frozen=True)
class F:
    name: str
    size: int


PAGE = 4096


def test_over_mark_drops_nothing_below_the_mark():
    files = [F("a", PAGE), F("b", PAGE)]
    assert over_mark(files, used=79 * PAGE, total=100 * PAGE, percent=80) == []


def test_over_mark_drops_the_oldest_just_enough_to_get_under_the_mark():
    files = [F("a", 3 * PAGE), F("b", 2 * PAGE), F("c", 5 * PAGE), F("d", PAGE)]
    # 85 of 100 pages used, mark 80: a (3) and b (2) bring it to 80, not under; c too -> 75
    assert [f.name for f in over_mark(files, used=85 * PAGE, total=100 * PAGE, percent=80)] == ["a", "b", "c"]
    # 82 used: a alone -> 79
    assert [f.name for f in over_mark(files, used=82 * PAGE, total=100 * PAGE, percent=80)] == ["a"]


def test_over_mark_counts_whole_pages_and_gives_all_when_all_are_not_enough():
    # a 1-byte file still holds a page of the tmpfs
    files = [F("a", 1), F("b", 1)]
    assert [f.name for f in over_mark(files, used=81 * PAGE, total=100 * PAGE, percent=80)] == ["a", "b"]
    assert [f.name for f in over_mark(files, used=99 * PAGE, total=100 * PAGE, percent=80)] == ["a", "b"]
