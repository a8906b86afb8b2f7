"""The open hour's indexes grow by appending (growing.py): after any sequence of archive passes, out of
order arrivals, a lost RAM file or a restart, the RAM copy is byte for byte the document a full
render of the SD folder gives, and the closed hour's SD copy is that same document."""

import json
import os
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from hchelpers import name_for, produce, read, write_live

from hotcold import indexes, metadata
from hotcold.archiver import Archiver
from hotcold.clock import FixedClock
from hotcold.growing import GrowingFile, StaleIndexError
from hotcold.indexes import segment_from_record
from hotcold.layout import number_of
from hotcold.playlist import render_archive

UTC = ZoneInfo("UTC")
T0 = datetime(2024, 3, 1, 10, 5, tzinfo=UTC).timestamp()


def expected_thumbnails(env, dev, hour):
    """What the index must be: every thumbnail in the SD folder, sorted by number, one json.dumps."""
    d = env.archive(dev, "thumbnails", hour)
    names = sorted((n for n in os.listdir(d) if number_of("thumbnails", n) is not None),
                   key=lambda n: (number_of("thumbnails", n), n))
    doc = {"hour": hour, "count": len(names),
           "thumbnails": [f"/host/stream/{dev}/thumbnails/{hour}/{n}" for n in names]}
    return json.dumps(doc, separators=(",", ":")) + "\n"


def expected_playlist(env, dev, hour, ended):
    """A one-shot render of every segment in the SD folder, with its metadata record."""
    d = env.archive(dev, "segments", hour)
    recs = {r["name"]: r for r in metadata.read_records(os.path.join(env.archive(dev, "metadata", hour),
                                                                     "archive.jsonl"))}
    segs = [segment_from_record(n, number_of("segments", n), recs.get(n), os.path.join(d, n), UTC)
            for n in os.listdir(d) if number_of("segments", n) is not None]
    return render_archive(segs, UTC, ended)


def ram(env, dev, name):
    return read(os.path.join(env.hot(dev), "index", name))


class Feed:
    """FFmpeg-like output over time: 4 thumbnails and 1 segment per second, a live playlist of the
    newest 3 segments whose durations and dates vary (target duration grows, gaps give discontinuities)."""

    def __init__(self, env, dev, clock, seg=1000, thumb=5000):
        self.env, self.dev, self.clock = env, dev, clock
        self.seg, self.thumb = seg, thumb
        self.live = []
        self.durations, self.pdts = {}, {}

    def second(self, duration=1.0, gap=0.0, jump=0):
        t = self.clock.now
        for i in range(4):
            produce(self.env.hot(self.dev, "thumbnails"), "thumbnails", self.thumb, mtime=t + i * 0.25)
            self.thumb += 1
        self.seg += 1 + jump
        n = self.seg
        self.durations[n] = duration
        start = t + gap
        self.pdts[n] = datetime.fromtimestamp(start, UTC).strftime("%Y-%m-%dT%H:%M:%S.") + \
            f"{int(start * 1000) % 1000:03d}+0000"
        produce(self.env.hot(self.dev, "segments"), "segments", n, mtime=t + duration)
        self.live = (self.live + [n])[-3:]
        write_live(self.env.hot(self.dev, "segments"), self.live, durations=self.durations, pdts=self.pdts)


def assert_ram_is_a_full_render(env, dev="cam1", hour=10):
    """Both RAM indexes are byte-identical to a full render of the SD folder."""
    assert ram(env, dev, f"thumbnails_2024-03-01_{hour}.json") == expected_thumbnails(env, dev, hour)
    assert ram(env, dev, f"segments_2024-03-01_{hour}.m3u8") == expected_playlist(env, dev, hour, ended=False)


def make(env, clock):
    return Archiver(env.config(hot_limits={"thumbnails": 4, "segments": 2}, archive={"segment_margin": 0}), clock)


def start(env):
    """One device cam1, an archiver on a fixed clock at T0 and its FFmpeg-like feed."""
    env.add_device("cam1")
    clock = FixedClock(T0)
    return make(env, clock), Feed(env, "cam1", clock), clock


def run_seconds(a, feed, clock, n, **kw):
    for i in range(n):
        feed.second(**kw.get("at", {}).get(i, {}))
        a.pass_device(feed.dev)
        a.write_ram_indexes()
        clock.advance(1.0)
    a.write_ram_indexes(force=True)


def test_many_appends_give_exactly_a_full_render_and_never_reload(env, monkeypatch):
    env.add_device("cam1")
    clock = FixedClock(T0)
    a = make(env, clock)
    loads = []
    for cls in (indexes._Thumbnails, indexes._Playlist):
        orig = cls.load
        monkeypatch.setattr(cls, "load", lambda self, orig=orig: loads.append(type(self).__name__) or orig(self))
    feed = Feed(env, "cam1", clock)
    # a longer segment (target 1 -> 3), a gap in the dates and a jump in the numbers (discontinuities)
    run_seconds(a, feed, clock, 120, at={30: {"duration": 2.5}, 50: {"gap": 4.0}, 70: {"jump": 3}})
    th = ram(env, "cam1", "thumbnails_2024-03-01_10.json")
    assert json.loads(th)["count"] == 480 - 4
    assert th == expected_thumbnails(env, "cam1", 10)
    pl = ram(env, "cam1", "segments_2024-03-01_10.m3u8")
    assert "#EXT-X-TARGETDURATION:3" in pl and pl.count("#EXT-X-DISCONTINUITY") >= 2
    assert pl == expected_playlist(env, "cam1", 10, ended=False)
    assert json.loads(ram(env, "cam1", "segments_2024-03-01_10.json")) == {
        "hour": 10, "manifest_url": "/host/stream/cam1/segments/10/archive.m3u8"}
    # loaded from the SD once, when the hour's index was made; every later write only appended
    assert sorted(loads) == ["_Playlist", "_Thumbnails"], loads


def test_out_of_order_arrivals_still_give_a_sorted_index(env):
    a, feed, clock = start(env)
    run_seconds(a, feed, clock, 10)
    # older numbers show up late (newest by mtime, so they are archived after the others)
    t = clock.now
    for n in (4000, 5002, 5020):
        produce(env.hot("cam1", "thumbnails"), "thumbnails", n, mtime=t - 0.5)
    produce(env.hot("cam1", "segments"), "segments", 900, mtime=t - 0.5)
    run_seconds(a, feed, clock, 5)
    th = ram(env, "cam1", "thumbnails_2024-03-01_10.json")
    urls = json.loads(th)["thumbnails"]
    nums = [number_of("thumbnails", u.rsplit("/", 1)[1]) for u in urls]
    assert nums == sorted(nums) and 4000 in nums and 5020 in nums
    assert th == expected_thumbnails(env, "cam1", 10)
    pl = ram(env, "cam1", "segments_2024-03-01_10.m3u8")
    assert "#EXT-X-MEDIA-SEQUENCE:900\n" in pl
    assert pl == expected_playlist(env, "cam1", 10, ended=False)
    # and appending in order goes on from there
    run_seconds(a, feed, clock, 5)
    assert_ram_is_a_full_render(env)


def test_news_for_one_index_only_leave_the_other_as_it_is(env):
    a, feed, clock = start(env)
    run_seconds(a, feed, clock, 5)
    before = ram(env, "cam1", "segments_2024-03-01_10.m3u8")
    for _ in range(3):  # only thumbnails (the segment muxer stalled)
        for _ in range(4):
            produce(env.hot("cam1", "thumbnails"), "thumbnails", feed.thumb, mtime=clock.now)
            feed.thumb += 1
        a.pass_device("cam1")
        clock.advance(1.0)
        a.write_ram_indexes()
    assert ram(env, "cam1", "thumbnails_2024-03-01_10.json") == expected_thumbnails(env, "cam1", 10)
    assert ram(env, "cam1", "segments_2024-03-01_10.m3u8") == before
    thumbs = ram(env, "cam1", "thumbnails_2024-03-01_10.json")
    for n in range(feed.seg + 1, feed.seg + 4):  # only segments
        produce(env.hot("cam1", "segments"), "segments", n, mtime=clock.now)
        pdt = datetime.fromtimestamp(clock.now - 1, UTC).strftime("%Y-%m-%dT%H:%M:%S.000+0000")
        write_live(env.hot("cam1", "segments"), [n], pdts={n: pdt})
        a.pass_device("cam1")
        clock.advance(1.0)
        a.write_ram_indexes()
    assert ram(env, "cam1", "segments_2024-03-01_10.m3u8") == expected_playlist(env, "cam1", 10, ended=False) != before
    assert ram(env, "cam1", "thumbnails_2024-03-01_10.json") == thumbs


def test_a_rebuild_forgets_the_head_of_entries_no_longer_on_the_sd(env):
    a, feed, clock = start(env)
    run_seconds(a, feed, clock, 8, at={2: {"duration": 2.5}})
    assert "#EXT-X-TARGETDURATION:3\n" in ram(env, "cam1", "segments_2024-03-01_10.m3u8")
    # the long segment and the first one leave the SD (by hand), the RAM file is lost: rebuilt from the SD
    for n in (1001, 1003):
        os.unlink(os.path.join(env.archive("cam1", "segments", 10), name_for("segments", n)))
    os.unlink(os.path.join(env.hot("cam1"), "index", "segments_2024-03-01_10.m3u8"))
    run_seconds(a, feed, clock, 2)
    pl = ram(env, "cam1", "segments_2024-03-01_10.m3u8")
    assert "#EXT-X-TARGETDURATION:1\n" in pl and "#EXT-X-MEDIA-SEQUENCE:1002\n" in pl
    assert pl == expected_playlist(env, "cam1", 10, ended=False)


@pytest.mark.parametrize("how", ["deleted", "replaced"])
def test_a_lost_or_replaced_ram_index_is_rebuilt_from_the_sd(env, how):
    a, feed, clock = start(env)
    run_seconds(a, feed, clock, 10)
    for name in ("thumbnails_2024-03-01_10.json", "segments_2024-03-01_10.m3u8"):
        p = os.path.join(env.hot("cam1"), "index", name)
        if how == "deleted":
            os.unlink(p)
        else:  # same size, other content: not the file we wrote
            size = os.path.getsize(p)
            os.unlink(p)
            with open(p, "w") as f:
                f.write("x" * size)
    run_seconds(a, feed, clock, 3)
    assert_ram_is_a_full_render(env)


def test_restart_mid_hour_then_more_appends_then_the_hour_closes(env):
    a, feed, clock = start(env)
    run_seconds(a, feed, clock, 20)
    # the daemon dies (its RAM indexes stay in the tmpfs, a second behind), a new one starts
    b = make(env, clock)
    b.recover()
    assert_ram_is_a_full_render(env)
    run_seconds(b, feed, clock, 20, at={3: {"gap": 3.0}})
    th = ram(env, "cam1", "thumbnails_2024-03-01_10.json")
    pl = ram(env, "cam1", "segments_2024-03-01_10.m3u8")
    assert th == expected_thumbnails(env, "cam1", 10)
    assert pl == expected_playlist(env, "cam1", 10, ended=False)
    # the hour ends: once its last files have left RAM, the SD copies are written from the RAM copies
    clock.now = T0 + 3600
    b.flush()
    sd_th = read(os.path.join(env.archive("cam1", "thumbnails", 10), "index.json"))
    sd_pl = read(os.path.join(env.archive("cam1", "segments", 10), "archive.m3u8"))
    assert sd_th == expected_thumbnails(env, "cam1", 10)
    assert sd_pl == expected_playlist(env, "cam1", 10, ended=True)
    assert sd_pl.startswith(pl.replace("#EXT-X-PLAYLIST-TYPE:EVENT", "#EXT-X-PLAYLIST-TYPE:VOD")[:200])
    assert not os.path.exists(os.path.join(env.hot("cam1"), "index", "thumbnails_2024-03-01_10.json"))


def test_growing_file_refuses_a_previous_file_it_did_not_write(tmp_path):
    p = str(tmp_path / "doc")
    g = GrowingFile(p)
    g.write(p, b"[", b"1,2", b"]\n")
    g.write(p, b"[", b",3", b"]\n")
    assert open(p).read() == "[1,2,3]\n"
    sd = str(tmp_path / "copy")
    g.write(sd, b"{", b",4", b"}\n")  # another destination: the previous file stays the source
    assert open(sd).read() == "{1,2,3,4}\n" and open(p).read() == "[1,2,3]\n"
    os.unlink(p)
    with open(p, "w") as f:
        f.write("[9,9,9]\n")
    with pytest.raises(StaleIndexError):
        g.write(p, b"[", b",4", b"]\n")
    assert open(p).read() == "[9,9,9]\n"
    assert sorted(os.listdir(tmp_path)) == ["copy", "doc"], "no temp file left behind"


def test_a_failing_index_write_is_logged_and_rebuilt_not_fatal(env, monkeypatch, caplog):
    """An unexpected error while writing a RAM index (derived data) costs a log line and a rebuild,
    never the archiving."""
    env.add_device("cam1")
    t = datetime(2024, 3, 1, 10, 15, tzinfo=UTC).timestamp()
    for n in range(6):
        produce(env.hot("cam1", "thumbnails"), "thumbnails", n, mtime=t + n)
    a = Archiver(env.config(hot_limits={"thumbnails": 2}), FixedClock(t + 10))
    calls = {"n": 0}
    real = indexes.HourIndex.write_ram

    def broken(self, now):
        calls["n"] += 1
        if calls["n"] == 1:
            raise ValueError("boom")
        return real(self, now)

    monkeypatch.setattr(indexes.HourIndex, "write_ram", broken)
    a.run_once()
    a.write_ram_indexes(force=True)  # the failing write: logged, counted, not raised
    assert "boom" in caplog.text and a.states["cam1"].counters["errors"] == 1
    assert len(os.listdir(env.archive("cam1", "thumbnails", 10))) >= 4, "archiving went on"
    a.write_ram_indexes(force=True)  # next time: rebuilt from the SD
    with open(os.path.join(env.hot("cam1"), "index", "thumbnails_2024-03-01_10.json")) as f:
        assert json.load(f)["count"] == 4
