"""The batched mover (visible at once, RAM copy to the outbox) and its crash recovery, on a real tmpfs (RAM)
-> plain dir (SD); the checkpoint that makes a batch durable and releases the RAM copies."""

import json
import os
from zoneinfo import ZoneInfo

import pytest
from hchelpers import produce, sha256

from hotcold import metadata
from hotcold.checkpoint import Checkpoint, crc32_file
from hotcold.fsutil import syncfs
from hotcold.hours import hour_key
from hotcold.layout import DeviceLayout
from hotcold.mover import MoveItem, complete_half_done, move_batch, remove_temp_files

UTC = ZoneInfo("UTC")


def _items(env, dev, files, kind="captures"):
    items = []
    for path, _ in files:
        st = os.stat(path)
        key = hour_key(st.st_mtime, UTC)
        d = env.archive(dev, kind, key.hour)
        os.makedirs(d, exist_ok=True)
        md = env.archive(dev, "metadata", key.hour)
        os.makedirs(md, exist_ok=True)
        items.append(MoveItem(kind=kind, name=os.path.basename(path), src=path, dst_dir=d,
                              meta_path=os.path.join(md, "archive.jsonl"), record={}, key=key))
    return items


def _checkpoint(env, devices=("cam1",)):
    """A Checkpoint over the env's devices whose syncfs is counted; returns (checkpoint, calls)."""
    calls = []
    lays = {d: DeviceLayout(env.base, d) for d in devices}
    cp = Checkpoint(env.base, lays, UTC, lambda p: (calls.append(p), syncfs(p)))
    return cp, calls


def _hold(cp, dev="cam1"):
    return lambda it: cp.hold(dev, it.kind, it.dst)


def _outbox(env, dev="cam1", kind="captures"):
    d = os.path.join(env.hot(dev), ".outbox", kind)
    return sorted(os.listdir(d)) if os.path.isdir(d) else []


def test_batch_is_visible_without_a_flush_and_one_checkpoint_makes_it_durable(env):
    env.add_device("cam1")
    hot = env.hot("cam1", "captures")
    t0 = 1_700_000_000.123456
    files = [produce(hot, "captures", 100 + i, mtime=t0 + i, size=1000 + 37 * i) for i in range(50)]
    mtimes = {os.path.basename(p): os.stat(p).st_mtime_ns for p, _ in files}
    cp, calls = _checkpoint(env)
    res = move_batch(_items(env, "cam1", files), t0 + 100, _hold(cp))
    assert len(res.moved) == 50 and not res.failed and res.sd_error is None
    assert calls == [], "a batch makes files visible, it does not flush"
    hour = hour_key(t0, UTC).hour
    for path, digest in files:
        name = os.path.basename(path)
        assert not os.path.exists(path), "the hot folder must hold only what stays in RAM"
        dst = os.path.join(env.archive("cam1", "captures", hour), name)
        assert sha256(dst) == digest
        assert os.stat(dst).st_mtime_ns == mtimes[name], "mtime not preserved"
    # the RAM copies wait in the outbox until the checkpoint's flush
    assert _outbox(env) == sorted(f"{hour}@{os.path.basename(p)}" for p, _ in files)
    recs = metadata.read_records(os.path.join(env.archive("cam1", "metadata", hour), "archive.jsonl"))
    assert sorted(r["name"] for r in recs) == sorted(os.path.basename(p) for p, _ in files)
    assert all(r["kind"] == "captures" and r["archived_at"] == round(t0 + 100, 3) for r in recs)
    assert all(r["crc32"] == crc32_file(os.path.join(env.archive("cam1", "captures", hour), r["name"]))
               for r in recs), "each record carries the CRC32 recovery checks an uncheckpointed file against"
    assert cp.run(t0 + 101) is None
    assert len(calls) == 1, "one syncfs for the whole checkpoint"
    assert _outbox(env) == [] and cp.pending == []
    assert env.temp_files("cam1") == []


def test_vanished_source_is_skipped(env):
    env.add_device("cam1")
    hot = env.hot("cam1", "captures")
    files = [produce(hot, "captures", i) for i in range(3)]
    items = _items(env, "cam1", files)
    os.unlink(files[1][0])
    cp, _ = _checkpoint(env)
    res = move_batch(items, None, _hold(cp))
    assert [i.name for i in res.moved] == ["capture_0.jpg", "capture_2.jpg"]
    assert [i.name for i in res.vanished] == ["capture_1.jpg"]


def test_full_sd_fails_the_batch_and_keeps_sources(env):
    env.sd_tmpfs("1M")
    env.add_device("cam1")
    hot = env.hot("cam1", "captures")
    files = [produce(hot, "captures", i, size=300_000) for i in range(6)]
    cp, _ = _checkpoint(env)
    res = move_batch(_items(env, "cam1", files), None, _hold(cp))
    assert res.sd_error is not None and res.sd_error.errno == 28  # ENOSPC
    assert cp.pending == [] and _outbox(env) == []
    assert len(res.moved) == 0
    for path, digest in files:
        assert sha256(path) == digest, "a source was lost although its copy failed"
    assert env.temp_files("cam1") == []


def test_recovery_removes_temp_files_and_completes_half_done_moves(env):
    env.add_device("cam1")
    lay = DeviceLayout(env.base, "cam1")
    hot = env.hot("cam1", "thumbnails")
    t0 = 1_700_000_000.0
    key = hour_key(t0, UTC)
    d = env.archive("cam1", "thumbnails", key.hour)
    os.makedirs(d)
    md = env.archive("cam1", "metadata", key.hour)
    os.makedirs(md)
    # 1. a torn temp copy of a file still in RAM (killed before the rename)
    p1, h1 = produce(hot, "thumbnails", 1, mtime=t0)
    with open(os.path.join(d, ".capture_1_thumbnail.jpg.999.hctmp"), "wb") as f:
        f.write(b"torn")
    # 2. renamed into place but the RAM copy not unlinked, no metadata record yet
    p2, h2 = produce(hot, "thumbnails", 2, mtime=t0 + 1)
    with open(p2, "rb") as src, open(os.path.join(d, os.path.basename(p2)), "wb") as dst:
        dst.write(src.read())
    # 3. same, but the record was already written
    p3, h3 = produce(hot, "thumbnails", 3, mtime=t0 + 2)
    with open(p3, "rb") as src, open(os.path.join(d, os.path.basename(p3)), "wb") as dst:
        dst.write(src.read())
    metadata.append_records(os.path.join(md, "archive.jsonl"),
                            [{"name": os.path.basename(p3), "kind": "thumbnails", "size": 2048}])
    # 4. a same-named archive file with another size is NOT taken as done
    p4, h4 = produce(hot, "thumbnails", 4, mtime=t0 + 3)
    with open(os.path.join(d, os.path.basename(p4)), "wb") as f:
        f.write(b"different")
    # 5. torn metadata tail
    with open(os.path.join(md, "archive.jsonl"), "ab") as f:
        f.write(b'{"name":"capture_9_thum')

    assert remove_temp_files(lay) == 1
    cp, calls = _checkpoint(env)
    assert complete_half_done(lay, UTC, t0 + 10, lambda kind, sd: cp.hold("cam1", kind, sd)) == 2
    assert os.path.exists(p1) and sha256(p1) == h1
    assert not os.path.exists(p2) and sha256(os.path.join(d, os.path.basename(p2))) == h2
    assert not os.path.exists(p3)
    # the SD copies of a killed process may not be durable: the RAM copies wait for the next checkpoint
    ob = os.path.join(env.hot("cam1"), ".outbox", "thumbnails")
    assert sha256(os.path.join(ob, f"{key.hour}@{os.path.basename(p2)}")) == h2
    assert sha256(os.path.join(ob, f"{key.hour}@{os.path.basename(p3)}")) == h3
    assert cp.run(t0 + 11) is None and len(calls) == 1 and os.listdir(ob) == []
    assert os.path.exists(p4) and sha256(p4) == h4
    recs = metadata.read_records(os.path.join(md, "archive.jsonl"))
    names = [r["name"] for r in recs]
    assert sorted(names) == ["capture_2_thumbnail.jpg", "capture_3_thumbnail.jpg"], "one record per file"
    with open(os.path.join(md, "archive.jsonl"), "rb") as f:
        raw = f.read()
    assert raw.endswith(b"\n") and b"capture_9_thum" not in raw
    for line in raw.splitlines():
        json.loads(line)
    assert env.temp_files("cam1") == []


@pytest.mark.parametrize("tail", [b"", b"\n"])
def test_repair_tail_keeps_complete_lines(tmp_path, tail):
    p = tmp_path / "a.jsonl"
    p.write_bytes(b'{"name":"a"}\n{"name":"b"}\n' + (b'{"na' if not tail else b""))
    metadata.repair_tail(str(p))
    assert p.read_bytes() == b'{"name":"a"}\n{"name":"b"}\n'
