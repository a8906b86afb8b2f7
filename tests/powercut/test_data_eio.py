"""A file-data write of the SD failing with EIO under the checkpoint, one file at a time, at the block layer.

The random data-EIO spell of test_powercut.test_disk_errors hits whatever the loop device writes; here the
recorder fails only the writes to one file's blocks (FAULTS ``only``), so each kind of SD write the
checkpoint makes durable is tested on its own. Ground truth is the image as of the last successful flush
(what a power cut right then leaves), recovered as at a start: every file whose RAM copy was released must
be there, whole.
"""

import os

import pc_faults
import pc_recfs
import pc_run
import pc_stack
import pytest

from hotcold.checkpoint import Checkpoint
from hotcold.fsutil import ErrorWatch
from hotcold.layout import DeviceLayout
from hotcold.mover import MoveItem, move_batch

pytestmark = [pytest.mark.needs_root]

HOUR = 13


def capture_sd(mounts, workdir, opts=None):
    """A recorded SD (mount options ``opts``) with cam1's captures and metadata folders of HOUR, and cam1's hot
    tmpfs with its captures folder; returns (RecordedSD, DeviceLayout, hot folder)."""
    rsd = mounts.recorded_sd(workdir, opts=opts)
    lay = DeviceLayout(rsd.path, "cam1")
    hot = mounts.tmpfs(lay.hot, "8M")
    os.makedirs(os.path.join(hot, "captures"))
    for kind in ("captures", "metadata"):
        os.makedirs(lay.hour_dir(kind, HOUR))
    return rsd, lay, hot


def move_one(cp, lay, hot, name):
    """Write ``name`` into the hot folder and make it visible on the SD with its metadata record (one
    batch, as the archiver does); returns its MoveItem (``outbox``: where its RAM copy waits)."""
    src = os.path.join(hot, "captures", name)
    with open(src, "wb") as f:
        f.write(pc_run.content("cam1", name))
    item = MoveItem(kind="captures", name=name, src=src, dst_dir=lay.hour_dir("captures", HOUR),
                    meta_path=lay.metadata_file(HOUR))
    res = move_batch([item], 0.0, lambda it: cp.hold("cam1", it.kind, it.dst))
    assert res.sd_error is None and res.meta_error is None and len(res.moved) == 1, res
    cp.note_batch("cam1", res)
    return res.moved[0]


def failed_writes(log):
    wl = pc_recfs.WriteLog(log)
    return sum(1 for e in wl.entries if e[0] == "W" and not e[4])


# The metadata record of a file lies in a block that other records share, so a failed write of that block
# loses the records of files that are intact on the SD. At the block layer the CI run of 2026-12-03 lost 162
# such files in 22 of 25 crash states of test_disk_errors: the checkpoint read back the media files, not
# the records, and recovery removes a file with no record that matches it.
def test_metadata_record_whose_write_failed(tmp_path, sd_stack_ok, mounts):
    w = str(tmp_path)
    rsd, lay, hot = capture_sd(mounts, w)
    cp = Checkpoint(rsd.path, {"cam1": lay}, pc_run.UTC)
    want = {"cam1": [(lay.hour_dir("captures", HOUR), lay.metadata_file(HOUR))]}
    first = move_one(cp, lay, hot, "capture_1000000.jpg")
    assert cp.run(0.0, want) is None and not os.path.exists(first.outbox)
    meta_blocks = pc_stack.physical_ranges(lay.metadata_file(HOUR))
    second = move_one(cp, lay, hot, "capture_1000001.jpg")  # its record goes into the same block
    pc_faults.set_faults(rsd.faults, {"write_eio": True, "only": meta_blocks})
    err = cp.run(0.0, want)
    pc_faults.set_faults(rsd.faults, None)
    assert err is not None, "the failed write of the metadata block was not reported by the checkpoint's flush"
    assert failed_writes(rsd.log) > 0, f"no write to {meta_blocks} failed: the test tested nothing"
    for _ in range(4):  # the checkpoints after the failure: the RAM copy goes once its SD side is durable
        assert cp.run(0.0, want) is None
        if not os.path.exists(second.outbox):
            break
    released = not os.path.exists(second.outbox)
    mounts.unmount(hot)
    mounts.unmount(rsd.path)
    state = mounts.durable_state(w, rsd)
    recovered = Checkpoint(state, {"cam1": DeviceLayout(state, "cam1")}, pc_run.UTC)
    recovered.recover_device("cam1")
    on_sd = os.path.join(state, "cam1", "captures", str(HOUR), second.name)
    intact = os.path.isfile(on_sd) and open(on_sd, "rb").read() == pc_run.content("cam1", second.name)
    assert released, "the RAM copy was never released after the card healed"
    assert intact, (f"{second.name}: RAM copy released but the file is gone after a power cut and recovery "
                    f"(its metadata record's write failed and was never rewritten)")


# An hour's SD index is written under a temp name and put in place after the next good flush
# (Checkpoint.stage). When the flush fails, the temp file's data may never reach the card: it must not go
# into place torn (the start-up repair leaves an existing thumbnails index alone), and the RAM copy it
# replaces must stay until it is whole.
def test_staged_document_whose_write_failed(tmp_path, sd_stack_ok, mounts):
    w = str(tmp_path)
    rsd = mounts.recorded_sd(w)
    lay = DeviceLayout(rsd.path, "cam1")
    folder = lay.hour_dir("thumbnails", HOUR)
    os.makedirs(folder)
    dest = os.path.join(folder, "index.json")
    tmp = os.path.join(folder, ".index.json.staged")
    doc = b'{"thumbnails":["capture_1000000_thumbnail.jpg"]}\n'.ljust(8192, b" ")
    with open(tmp, "wb") as f:  # give the temp file its blocks on the card first, with other bytes
        f.write(b"x" * len(doc))
    blocks = pc_stack.physical_ranges(tmp)  # (synced)
    with open(tmp, "r+b") as f:
        f.write(doc)
    placed = []
    cp = Checkpoint(rsd.path, {"cam1": lay}, pc_run.UTC)
    cp.stage(tmp, dest, then=lambda: placed.append(dest))
    pc_faults.set_faults(rsd.faults, {"write_eio": True, "only": blocks})
    err = cp.run(0.0)
    pc_faults.set_faults(rsd.faults, None)
    assert err is not None, "the failed write of the staged document was not reported by the checkpoint's flush"
    assert failed_writes(rsd.log) > 0, f"no write to {blocks} failed: the test tested nothing"
    for _ in range(4):
        assert cp.run(0.0) is None
        if placed:
            break
    assert placed, "the staged document never went into place after the card healed"
    assert cp.run(0.0) is None  # the rename's own flush
    mounts.unmount(rsd.path)
    state = mounts.durable_state(w, rsd)
    with open(os.path.join(state, "cam1", "thumbnails", str(HOUR), "index.json"), "rb") as f:
        on_card = f.read()
    assert on_card == doc, f"the index went into place with bytes the card never got: {on_card[:40]!r}"


# A media file whose data write failed is rewritten from its RAM copy when the card heals (the read-back of
# Checkpoint._succeeded), but the flush that healed also made its metadata record durable, and the next
# checkpoint record called it covered. When the rewrite's own write-back failed in turn, that record still
# reached the card (ext4 commits its journal although ordered data failed), and recovery trusted the zeros
# under the file's final name instead of checking them against the record. Found by a soak-length data-EIO
# run of 2026-12-03 (60 s random + 120 s persistent EIO, 100 crash states): files torn in 44 states.
def test_media_file_whose_write_failed_is_not_trusted_until_rewritten(tmp_path, sd_stack_ok, mounts):
    w = str(tmp_path)
    # nodelalloc: a file's blocks are allocated when it is written, so the test can fail the writes of exactly
    # one file's blocks (FAULTS "only") before its write-back
    rsd, lay, hot = capture_sd(mounts, w, opts="nodelalloc")
    watch = ErrorWatch(rsd.path)  # as the archiver syncs: every write-back error is reported
    try:
        cp = Checkpoint(rsd.path, {"cam1": lay}, pc_run.UTC, sync=watch.syncfs)
        _fail_rewrite_then_cut(w, rsd, mounts, lay, hot, cp)
    finally:
        watch.close()


def _fail_rewrite_then_cut(w, rsd, mounts, lay, hot, cp):
    want = {"cam1": [(lay.hour_dir("captures", HOUR), lay.metadata_file(HOUR))]}
    move_one(cp, lay, hot, "capture_1000000.jpg")
    assert cp.run(0.0, want) is None
    bad = move_one(cp, lay, hot, "capture_1000001.jpg")

    def failing_its_blocks(action):
        """Run ``action`` with the writes to the SD copy's blocks failing; return what it returned or raised."""
        pc_faults.set_faults(rsd.faults, {"write_eio": True, "only": pc_stack.physical_ranges(bad.dst, sync=False)})
        try:
            return action()
        except OSError as e:
            return e
        finally:
            pc_faults.set_faults(rsd.faults, None)

    def write_back():
        """The kernel's background write-back of the SD copy, done at once (fdatasync)."""
        fd = os.open(bad.dst, os.O_RDONLY)
        try:
            os.fdatasync(fd)
        finally:
            os.close(fd)

    def after_power_cut(sub):
        """The SD copy after a power cut now and recovery: None (gone), True (whole) or False (torn)."""
        os.makedirs(os.path.join(w, sub))
        state = mounts.durable_state(os.path.join(w, sub), rsd)
        Checkpoint(state, {"cam1": DeviceLayout(state, "cam1")}, pc_run.UTC).recover_device("cam1", ram=False)
        path = os.path.join(state, "cam1", "captures", str(HOUR), bad.name)
        return None if not os.path.exists(path) else open(path, "rb").read() == pc_run.content("cam1", bad.name)

    assert failing_its_blocks(lambda: cp.run(0.0, want)) is not None, "the failed data write was not reported"
    assert failed_writes(rsd.log) > 0, "no write to the copy's blocks failed: the test tested nothing"
    assert cp.run(0.0, want) is None  # the card heals: the read-back finds the zeros and rewrites the copy
    assert os.path.exists(bad.outbox), "the read-back did not find the failed write: the test tested nothing"
    # (the recorder logs the failed write at its next flush: fdatasync's EIO is the evidence here)
    assert isinstance(failing_its_blocks(write_back), OSError), "the rewrite's write-back did not fail"
    assert cp.run(0.0, want) is not None, "the next checkpoint did not report the failed write-back"
    # a cut now: the RAM copy goes with the power; on the card the file must be gone (it was in RAM at the
    # cut) or whole, never kept torn under its final name
    assert after_power_cut("cut-after-failed-rewrite") is not False, \
        f"{bad.name} kept torn under its final name after recovery (its record was trusted as covered)"
    for _ in range(4):  # the card heals for good: rewritten once more, then released
        assert cp.run(0.0, want) is None
        if not os.path.exists(bad.outbox):
            break
    assert not os.path.exists(bad.outbox), "the RAM copy was never released after the card healed"
    assert after_power_cut("cut-after-release") is True, f"{bad.name} released but not whole on the card"
