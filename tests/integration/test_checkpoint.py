"""The checkpoint (files/hotcold/checkpoint.py): its record, its one flush, and the recovery that trusts only
what a checkpoint covered; on a real tmpfs (RAM) -> plain dir (SD). Power cuts are simulated by what ext4
leaves of a renamed file whose data never reached the card (an empty or zeroed file) and a lost tmpfs."""

import json
import os
import signal
from zoneinfo import ZoneInfo

from hchelpers import produce, sha256

from hotcold import checkpoint, metadata
from hotcold.checkpoint import Checkpoint, read_newest
from hotcold.fsutil import syncfs
from hotcold.hours import hour_key
from hotcold.layout import DeviceLayout
from hotcold.mover import MoveItem, move_batch

UTC = ZoneInfo("UTC")
T0 = 1_700_000_000.0
KEY = hour_key(T0, UTC)


def _cp(env, calls=None):
    lays = {"cam1": DeviceLayout(env.base, "cam1")}
    return Checkpoint(env.base, lays, UTC, lambda p: ((calls.append(p) if calls is not None else None), syncfs(p)))


def _move(env, cp, numbers, kind="captures"):
    """Produce files of ``numbers`` in RAM and make them visible on the SD (no flush); return {name: sha}."""
    hot = env.hot("cam1", kind)
    d = env.archive("cam1", kind, KEY.hour)
    md = env.archive("cam1", "metadata", KEY.hour)
    os.makedirs(d, exist_ok=True)
    os.makedirs(md, exist_ok=True)
    items, digests = [], {}
    for n in numbers:
        path, digest = produce(hot, kind, n, mtime=T0 + n, size=3000 + n)
        digests[os.path.basename(path)] = digest
        items.append(MoveItem(kind=kind, name=os.path.basename(path), src=path, dst_dir=d,
                              meta_path=os.path.join(md, "archive.jsonl"), record={}, key=KEY))
    res = move_batch(items, T0 + 100, lambda it: cp.hold("cam1", it.kind, it.dst))
    assert len(res.moved) == len(numbers)
    cp.note_used("cam1", [(d, os.path.join(md, "archive.jsonl"))])
    return digests


def _power_cut(env):
    """The tmpfs is gone at a power cut: the outbox with it."""
    ob = os.path.join(env.hot("cam1"), ".outbox")
    for root, _dirs, files in os.walk(ob):
        for f in files:
            os.unlink(os.path.join(root, f))


# The calls by which recovery changes a file or a folder: a crash test kills it right after each in turn.
CHANGES = ("write", "pwrite", "ftruncate", "truncate", "rename", "replace", "unlink", "link", "mkdir", "fsync")


def _recover_killed_after(env, n):
    """Run a fresh Checkpoint's recovery of cam1 in a child process that SIGKILLs itself right after its n-th
    call of CHANGES (as a kill -9 or a crash at that instant). Return True if it was killed, False if the
    recovery made fewer calls and completed."""
    pid = os.fork()
    if pid == 0:  # the child: never returns to pytest
        try:
            calls = [0]

            def killing_after(real):
                def call(*args, **kw):
                    result = real(*args, **kw)
                    calls[0] += 1
                    if calls[0] == n:
                        os.kill(os.getpid(), signal.SIGKILL)
                    return result
                return call

            for name in CHANGES:
                setattr(os, name, killing_after(getattr(os, name)))
            _cp(env).recover_device("cam1", T0 + 10)
        finally:
            os._exit(0)
    _, status = os.waitpid(pid, 0)
    return os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL


def _records(env):
    return metadata.read_records(os.path.join(env.archive("cam1", "metadata", KEY.hour), "archive.jsonl"))


def test_one_flush_for_all_and_release_only_after_it(env):
    env.add_device("cam1")
    calls = []
    cp = _cp(env, calls)
    assert cp.run(T0) is None and len(calls) == 1  # the first checkpoint announces the hour
    _move(env, cp, range(1, 6))
    assert len(calls) == 1 and len(cp.pending) == 5
    assert all(os.path.exists(p.outbox) for p in cp.pending), "RAM copies released before the flush"

    def failing(path):
        calls.append(path)
        raise OSError(5, "Input/output error")

    cp.sync = failing
    err = cp.run(T0 + 1)
    assert err is not None and err.errno == 5 and cp.error.startswith("EIO")
    assert len(cp.pending) == 5 and all(os.path.exists(p.outbox) for p in cp.pending), \
        "a failed checkpoint must keep every RAM copy"
    cp.sync = syncfs
    assert cp.run(T0 + 2) is None and cp.pending == [] and cp.error is None
    rec = read_newest(DeviceLayout(env.base, "cam1"))
    assert rec["seq"] == cp.seq
    assert [f"captures/{KEY.hour}", f"metadata/{KEY.hour}/archive.jsonl"] in rec["announced"]


def test_after_a_failed_flush_a_copy_that_reads_back_wrong_is_rewritten_not_released(env):
    """The power-cut harness's data-EIO case: the card failed a data write, syncfs reported it once, the next
    one succeeds. What waited through the failed flush is read back before its RAM copy goes."""
    env.add_device("cam1")
    cp = _cp(env)
    cp.run(T0)
    digests = _move(env, cp, range(1, 4))

    def failing(path):
        raise OSError(5, "Input/output error")

    cp.sync = failing
    assert cp.run(T0 + 1) is not None
    d = env.archive("cam1", "captures", KEY.hour)
    bad = os.path.join(d, "capture_2.jpg")
    size = os.path.getsize(bad)
    with open(bad, "r+b") as f:  # what the card holds where the write failed
        f.write(b"\0" * size)
    cp.sync = syncfs
    assert cp.run(T0 + 2) is None
    assert [os.path.basename(p.sd_path) for p in cp.pending] == ["capture_2.jpg"], "a bad copy was released"
    assert sha256(bad) == digests["capture_2.jpg"], "the bad SD copy is rewritten from RAM"
    assert cp.run(T0 + 3) is None and cp.pending == []
    assert [r["name"] for r in _records(env)] == sorted(digests), "one record per file, unchanged"


def test_recovery_keeps_covered_and_matching_files_removes_torn_ones(env):
    env.add_device("cam1")
    cp = _cp(env)
    cp.run(T0)
    covered = _move(env, cp, range(1, 4))
    cp.run(T0 + 1)  # 1..3 durable
    cp.run(T0 + 2)  # the record now covers their metadata lines
    later = _move(env, cp, range(4, 9))  # visible, not checkpointed: then the power cut
    d = env.archive("cam1", "captures", KEY.hour)
    # what ext4 leaves of a renamed file whose data never reached the card: empty, or zeros
    open(os.path.join(d, "capture_5.jpg"), "wb").close()
    with open(os.path.join(d, "capture_6.jpg"), "r+b") as f:
        f.write(b"\0" * 100)
    _power_cut(env)
    fresh = _cp(env)
    kept, removed = fresh.recover_device("cam1", T0 + 10)
    assert (kept, removed) == (3, 2)
    on_sd = sorted(n for n in os.listdir(d) if n.endswith(".jpg"))
    assert on_sd == sorted(set(covered) | set(later) - {"capture_5.jpg", "capture_6.jpg"})
    for n in on_sd:
        assert sha256(os.path.join(d, n)) == {**covered, **later}[n]
    names = [r["name"] for r in _records(env)]
    assert sorted(names) == on_sd, "records must name exactly the files kept, once each"
    assert fresh.dirty, "recovery's changes must ride in the next checkpoint"


def test_recovery_after_a_process_crash_keeps_outbox_copies_pending(env):
    env.add_device("cam1")
    cp = _cp(env)
    cp.run(T0)
    digests = _move(env, cp, range(1, 4))
    d = env.archive("cam1", "captures", KEY.hour)
    os.unlink(os.path.join(d, "capture_2.jpg"))  # the rename of this one never happened
    fresh = _cp(env)
    fresh.recover_device("cam1", T0 + 10)
    assert sorted(os.path.basename(p.sd_path) for p in fresh.pending) == ["capture_1.jpg", "capture_3.jpg"]
    back = os.path.join(env.hot("cam1", "captures"), "capture_2.jpg")
    assert sha256(back) == digests["capture_2.jpg"], "an outbox copy without its SD copy goes back to be archived"
    assert fresh.run(T0 + 11) is None
    ob = os.path.join(env.hot("cam1"), ".outbox", "captures")
    assert os.listdir(ob) == []


def test_a_torn_newest_record_falls_back_to_the_other_slot(env):
    env.add_device("cam1")
    cp = _cp(env)
    cp.run(T0)
    cp.run(T0 + 1)
    lay = DeviceLayout(env.base, "cam1")
    newest = os.path.join(lay.root, checkpoint.RECORD_DIR, f"{cp.seq % 2}.json")
    with open(newest, "r+b") as f:
        f.truncate(20)
    assert read_newest(lay)["seq"] == cp.seq - 1
    with open(newest, "w") as f:  # whole JSON, wrong crc
        doc = json.loads(open(os.path.join(lay.root, checkpoint.RECORD_DIR, f"{(cp.seq - 1) % 2}.json")).read())
        doc["body"]["seq"] = 99
        f.write(json.dumps(doc))
    assert read_newest(lay)["seq"] == cp.seq - 1


def test_a_folder_not_announced_by_a_flushed_record_is_not_allowed(env):
    env.add_device("cam1")
    cp = _cp(env)
    lay = DeviceLayout(env.base, "cam1")
    pair = (lay.hour_dir("captures", KEY.hour), lay.metadata_file(KEY.hour))
    assert not cp.allowed("cam1", [pair])
    cp.run(T0)
    assert cp.allowed("cam1", [pair])
    other = (lay.hour_dir("captures", (KEY.hour + 5) % 24), lay.metadata_file((KEY.hour + 5) % 24))
    assert not cp.allowed("cam1", [other])
    cp.run(T0, want={"cam1": [other]})
    assert cp.allowed("cam1", [other])


def test_what_recovery_checked_is_announced_until_a_flush_made_it_durable(env):
    """Recovery's removals are not durable until the next flush: a second power cut before it must find the
    same folders announced by whichever record is newest, even when the clock moved on to other hours."""
    env.add_device("cam1")
    cp = _cp(env)
    cp.run(T0)
    _move(env, cp, range(1, 3))
    fresh = _cp(env)
    fresh.recover_device("cam1", T0 + 5 * 3600)

    def failing(path):
        raise OSError(5, "Input/output error")

    fresh.sync = failing
    assert fresh.run(T0 + 5 * 3600) is not None  # the record is written, the flush fails (the second cut)
    rec = read_newest(DeviceLayout(env.base, "cam1"))
    assert rec["seq"] == fresh.seq
    assert [f"captures/{KEY.hour}", f"metadata/{KEY.hour}/archive.jsonl"] in rec["announced"]
    fresh.sync = syncfs
    assert fresh.run(T0 + 5 * 3600 + 1) is None
    assert fresh.run(T0 + 5 * 3600 + 2) is None
    rec = read_newest(DeviceLayout(env.base, "cam1"))
    assert [f"captures/{KEY.hour}", f"metadata/{KEY.hour}/archive.jsonl"] not in rec["announced"], \
        "once flushed, an old hour is no longer checked at every start"


def test_every_device_alternates_between_both_slots(env):
    env.add_device("cam1")
    env.add_device("cam2")
    lays = {d: DeviceLayout(env.base, d) for d in ("cam1", "cam2")}
    cp = Checkpoint(env.base, lays, UTC, syncfs)
    cp.run(T0)
    cp.run(T0 + 1)
    for lay in lays.values():
        seqs = sorted(checkpoint.decode_record(open(os.path.join(lay.root, checkpoint.RECORD_DIR, f"{s}.json")).read())
                      ["seq"] for s in (0, 1))
        assert seqs == [1, 2], "a torn newest record needs the previous one in the other slot"


def test_a_recovery_killed_at_any_instant_loses_no_released_file(env):
    """The newest record covers what the checkpoint *before* it measured, so the records of the files its own
    flush made durable (and whose RAM copies it released) lie in the uncovered tail, which every start's recovery
    checks and rewrites. Killed at any step of that, the next recovery must still find them: their SD copies are
    all there is (test_crash lost thumbnails this way: a recovery killed between truncating the tail and writing
    it back)."""
    env.add_device("cam1")
    cp = _cp(env)
    cp.run(T0)
    digests = _move(env, cp, range(1, 6))
    assert cp.run(T0 + 1) is None and cp.pending == []  # durable and released: no RAM copy left
    d = env.archive("cam1", "captures", KEY.hour)
    _cp(env).recover_device("cam1", T0 + 5)  # a clean restart first: the state each kill starts from is the same
    for n in range(1, 40):
        killed = _recover_killed_after(env, n)
        _cp(env).recover_device("cam1", T0 + 20)
        on_sd = {name: sha256(os.path.join(d, name)) for name in digests if os.path.exists(os.path.join(d, name))}
        assert on_sd == digests, f"recovery killed after change {n}: lost {sorted(set(digests) - set(on_sd))}"
        assert sorted(r["name"] for r in _records(env)) == sorted(digests), "one record per file"
        if not killed:
            break
    assert not killed, "the recovery never completed"


def test_an_sd_copy_without_its_record_is_archived_again_not_released(env):
    """A visible SD copy whose record is gone (as a recovery killed mid-rewrite left it), its RAM copy still in the
    outbox: recovery must not release that RAM copy on the strength of the copy alone, or the file would stay on
    the SD with no record and the next recovery would remove it. It goes back to RAM and is archived again (with
    its record)."""
    env.add_device("cam1")
    cp = _cp(env)
    cp.run(T0)
    digests = _move(env, cp, range(1, 4))  # visible, records appended, RAM copies in the outbox
    meta = os.path.join(env.archive("cam1", "metadata", KEY.hour), "archive.jsonl")
    os.truncate(meta, 0)  # their records are gone, nothing else changed
    fresh = _cp(env)
    fresh.recover_device("cam1", T0 + 10)
    assert fresh.run(T0 + 11) is None
    hot = env.hot("cam1", "captures")
    d = env.archive("cam1", "captures", KEY.hour)
    for name, digest in digests.items():
        where = [p for p in (os.path.join(hot, name), os.path.join(d, name)) if os.path.exists(p)]
        recorded = name in {r["name"] for r in _records(env)}
        assert where, f"{name} lost"
        assert os.path.join(hot, name) in where or recorded, f"{name} released with no record on the SD"
        assert all(sha256(p) == digest for p in where)
    _cp(env).recover_device("cam1", T0 + 20)  # the next start: whatever is on the SD alone must survive it
    for name in digests:
        assert os.path.exists(os.path.join(hot, name)) or os.path.exists(os.path.join(d, name)), f"{name} lost"
