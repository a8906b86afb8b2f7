"""A real EIO on the checkpoint's flush (checkpoint.py step 2), at the block layer.

``move_batch`` and a checkpoint run in-process with the SD on the recording stack; the file is made
visible (no flush), then the recorder is told to fail every flush, so the checkpoint's syncfs gets a real
EIO from the kernel (ext4 then aborts its journal: the rename never becomes durable). Ground truth is the
image as of the last successful flush (what a power cut right then leaves): the moved file must either be
there or still be in RAM (the outbox).
"""

import os
import subprocess

import pc_faults
import pc_recfs
import pc_run
import pc_stack
import pytest

from hotcold.checkpoint import Checkpoint
from hotcold.layout import DeviceLayout
from hotcold.mover import MoveItem, move_batch

pytestmark = [pytest.mark.needs_root]


@pytest.fixture
def mounts():
    m = pc_stack.Mounts()
    yield m
    m.close()


def durable_state(workdir, pristine, log_path, mounts):
    """Mount the image as of the last successful flush of ``log_path``; returns its mount point."""
    wl = pc_recfs.WriteLog(log_path)
    img = os.path.join(workdir, "durable.img")
    subprocess.run(["cp", "--sparse=always", pristine, img], check=True)
    fd = os.open(img, os.O_RDWR)
    try:
        last = wl.barriers[wl.flushes] if wl.flushes else 0
        wl.apply(fd, [i for i in range(last) if wl.entries[i][0] == "W" and wl.entries[i][4]])
    finally:
        os.close(fd)
    path = os.path.join(workdir, "durable")
    mounts.mount_loop(img, path)
    return path


# Issue 15 defect 4 (then on the mover's directory fsync): the RAM copy must outlive a failed flush. Now
# the checkpoint's flush is the only one: a failing one must keep every outbox copy.
def test_ram_copy_kept_when_the_checkpoint_flush_fails(tmp_path, sd_stack_ok, mounts):
    w = str(tmp_path)
    back, pristine = os.path.join(w, "back.img"), os.path.join(w, "pristine.img")
    pc_stack.make_image(back, 64)
    subprocess.run(["cp", "--sparse=always", back, pristine], check=True)
    log, faults = os.path.join(w, "writes.log"), os.path.join(w, "faults.json")
    exposed = mounts.recorder(back, os.path.join(w, "fuse"), log, os.path.join(w, "counter"), faults)
    sd = os.path.join(w, "sd")
    mounts.mount_loop(exposed, sd)
    hot = mounts.tmpfs(os.path.join(sd, "cam1", "hot"), "8M")
    name = "capture_1000000.jpg"
    os.makedirs(os.path.join(hot, "captures"))
    src = os.path.join(hot, "captures", name)
    with open(src, "wb") as f:
        f.write(pc_run.content("cam1", name))
    dst_dir = os.path.join(sd, "cam1", "captures", "13")
    os.makedirs(dst_dir)
    subprocess.run(["sync", "-f", sd], check=True)
    cp = Checkpoint(sd, {"cam1": DeviceLayout(sd, "cam1")}, pc_run.UTC)
    res = move_batch([MoveItem(kind="captures", name=name, src=src, dst_dir=dst_dir)], None,
                     lambda it: cp.hold("cam1", it.kind, it.dst))
    assert res.sd_error is None and len(res.moved) == 1
    pc_faults.set_faults(faults, {"fsync_eio": True})  # from here on every flush fails with EIO
    err = cp.run(0.0)
    assert err is not None, "the EIO of the checkpoint's flush was not reported"
    outbox = res.moved[0].outbox
    in_ram = os.path.exists(outbox)
    mounts.unmount(hot)
    mounts.unmount(sd)
    pc_faults.set_faults(faults, None)
    state = durable_state(w, pristine, log, mounts)
    on_sd = os.path.exists(os.path.join(state, "cam1", "captures", "13", name))
    assert on_sd or in_ram, (f"{name}: RAM copy unlinked ({not in_ram}) but not on the SD as of the last successful "
                             f"flush ({on_sd}); checkpoint error {err}")
    assert in_ram, "a failed checkpoint must keep the RAM copy"
