"""What the archiver remembers of the live playlist (hotcold.playlist.LiveSegments). Root-free: a plain folder."""

import os
from zoneinfo import ZoneInfo

from hchelpers import write_live

from hotcold.hotfiles import HotFile
from hotcold.playlist import LiveSegments

UTC = ZoneInfo("UTC")


def seg_file(n, mtime=1000.0):
    return HotFile("segments", f"segment_{n}.ts", n, mtime, 1, f"/nowhere/segment_{n}.ts")


def test_refresh_reads_a_changed_playlist_and_forgets_the_first_number_when_it_is_gone(tmp_path):
    live = LiveSegments(os.path.join(tmp_path, "output.m3u8"))
    live.refresh()
    assert live.first is None
    write_live(str(tmp_path), [5, 6, 7], durations={5: 2.0, 6: 2.5, 7: 2.0})
    live.refresh()
    assert live.first == 5 and sorted(live.segments) == [5, 6, 7] and live.segments[6].duration == 2.5
    write_live(str(tmp_path), [7, 8, 9])
    live.refresh()
    assert live.first == 7 and sorted(live.segments) == [5, 6, 7, 8, 9]  # 5 and 6 remembered for the archive
    os.unlink(os.path.join(tmp_path, "output.m3u8"))
    live.refresh()
    assert live.first is None and 5 in live.segments


def test_trim_forgets_segments_well_below_the_oldest_in_ram(tmp_path):
    write_live(str(tmp_path), list(range(1, 31)))
    live = LiveSegments(os.path.join(tmp_path, "output.m3u8"))
    live.refresh()
    live.trim(25)
    assert min(live.segments) == 15


def test_segment_for_uses_the_playlist_or_counts_back_from_a_later_dated_segment(tmp_path):
    write_live(str(tmp_path), [10, 11], durations={10: 2.0, 11: 2.0},
               pdts={10: "2025-01-31T13:00:00.000+0000", 11: "2025-01-31T13:00:02.000+0000"})
    live = LiveSegments(os.path.join(tmp_path, "output.m3u8"))
    live.refresh()
    seen = live.segment_for(seg_file(11), UTC)
    assert (seen.duration, seen.program_date_time) == (2.0, "2025-01-31T13:00:02.000+0000")
    # 8 left the playlist before it was read: two target durations (1 s) before 10
    before = live.segment_for(seg_file(8), UTC)
    assert (before.duration, before.program_date_time) == (1.0, "2025-01-31T12:59:58.000+0000")
    # nothing later is dated: from the mtime (FFmpeg renames a finished segment into place)
    far = live.segment_for(seg_file(500, mtime=1738328400.0), UTC)
    assert far.program_date_time == "2025-01-31T12:59:59.000+0000"
