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
import pc_run
import pytest

from hotcold.checkpoint import Checkpoint
from hotcold.layout import DeviceLayout
from hotcold.mover import MoveItem, move_batch

pytestmark = [pytest.mark.needs_root]


# Issue 15 defect 4 (then on the mover's directory fsync): the RAM copy must outlive a failed flush. Now
# the checkpoint's flush is the only one: a failing one must keep every outbox copy.
def test_ram_copy_kept_when_the_checkpoint_flush_fails(tmp_path, sd_stack_ok, mounts):
    w = str(tmp_path)
    rsd = mounts.recorded_sd(w)
    sd = rsd.path
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
    pc_faults.set_faults(rsd.faults, {"fsync_eio": True})  # from here on every flush fails with EIO
    err = cp.run(0.0)
    assert err is not None, "the EIO of the checkpoint's flush was not reported"
    outbox = res.moved[0].outbox
    in_ram = os.path.exists(outbox)
    mounts.unmount(hot)
    mounts.unmount(sd)
    pc_faults.set_faults(rsd.faults, None)
    state = mounts.durable_state(w, rsd)
    on_sd = os.path.exists(os.path.join(state, "cam1", "captures", "13", name))
    assert on_sd or in_ram, (f"{name}: RAM copy unlinked ({not in_ram}) but not on the SD as of the last successful "
                             f"flush ({on_sd}); checkpoint error {err}")
    assert in_ram, "a failed checkpoint must keep the RAM copy"
