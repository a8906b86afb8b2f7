"""A real EIO on the directory fsync of a move (mover.py step 4), at the block layer.

``move_batch`` runs in-process with the SD on the recording stack; just before its ``fsync_dir``
the recorder is told to fail every flush, so that fsync gets a real EIO from the kernel (ext4 then
aborts its journal: the rename never becomes durable). Ground truth is the image as of the last
successful flush (what a power cut right then leaves): the moved file must either be there or still
be in RAM.
"""

import os
import subprocess

import pc_faults
import pc_recfs
import pc_run
import pc_stack
import pytest

from hotcold import mover
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


# Issue 15 defect 4. Before the fix (move_batch noted the OSError from fsync_dir in res.sd_error and went
# on with steps 5 and 6) this failed: the source was unlinked and the file was absent from the image as of
# the last successful flush, because ext4 aborted its journal on the EIO and the rename never became durable.
def test_ram_copy_kept_when_dir_fsync_fails(tmp_path, sd_stack_ok, mounts, monkeypatch):
    w = str(tmp_path)
    back, pristine = os.path.join(w, "back.img"), os.path.join(w, "pristine.img")
    pc_stack.make_image(back, 64)
    subprocess.run(["cp", "--sparse=always", back, pristine], check=True)
    log, faults = os.path.join(w, "writes.log"), os.path.join(w, "faults.json")
    exposed = mounts.recorder(back, os.path.join(w, "fuse"), log, os.path.join(w, "counter"), faults)
    sd = os.path.join(w, "sd")
    mounts.mount_loop(exposed, sd)
    hot = mounts.tmpfs(os.path.join(w, "hot"), "8M")
    name = "capture_1000000.jpg"
    src = os.path.join(hot, name)
    with open(src, "wb") as f:
        f.write(pc_run.content("cam1", name))
    dst_dir = os.path.join(sd, "cam1", "captures", "13")
    os.makedirs(dst_dir)
    subprocess.run(["sync", "-f", sd], check=True)

    real = mover.fsync_dir

    def failing_fsync_dir(path):
        pc_faults.set_faults(faults, {"fsync_eio": True})  # from here on every flush fails with EIO
        return real(path)

    monkeypatch.setattr(mover, "fsync_dir", failing_fsync_dir)
    res = move_batch([MoveItem(kind="captures", name=name, src=src, dst_dir=dst_dir)])
    assert res.sd_error is not None, "the EIO of the directory fsync was not reported"
    mounts.unmount(sd)
    pc_faults.set_faults(faults, None)
    state = durable_state(w, pristine, log, mounts)
    on_sd = os.path.exists(os.path.join(state, "cam1", "captures", "13", name))
    in_ram = os.path.exists(src)
    assert on_sd or in_ram, (f"{name}: RAM copy unlinked ({not in_ram}) but not on the SD as of the last successful "
                             f"flush ({on_sd}); sd_error {res.sd_error}")
