"""Mount events, one device at a time (hotmount, and the daemon following it): real tmpfs mounts unmounted,
lazily detached and mounted again under a running archiver. Needs root (mounts)."""

import json
import os
import signal
import subprocess
import time

from hchelpers import produce, sha256

from hotcold.checkpoint import OUTBOX
from hotcold.hotmount import HOT_SUBDIRS, MARKER, HotMounts, identity, problem
from hotcold.layout import layouts


def umount(path, lazy=False):
    subprocess.run(["umount", *(["-l"] if lazy else []), path], check=True)


def underneath(env, device):
    """Everything under the device's hot folder: with its tmpfs unmounted, what lies on the SD."""
    found = []
    for root, dirs, files in os.walk(env.hot(device)):
        found += [os.path.join(root, n) for n in dirs + files]
    return sorted(found)


def test_problem_names_what_the_hot_folder_is_instead_of_a_tmpfs(env):
    hot = env.add_device("cam1")
    assert problem(hot) is None and identity(hot) == (os.stat(hot).st_dev, None)
    umount(hot)
    assert problem(hot) == "is not a mount point (its tmpfs is not mounted)" and identity(hot) is None
    env.tmpfs.loop_ext4(hot, 8)  # a file system, but not a tmpfs
    assert problem(hot) == "is a ext4 mount, not a tmpfs" and identity(hot) is None
    umount(hot)
    os.rmdir(hot)
    assert problem(hot) == "is missing"


def test_hot_mounts_report_lost_found_and_replaced_tmpfs_and_make_its_folders(env):
    env.add_device("cam1")
    env.add_device("cam2")
    mounts = HotMounts(layouts(env.config()))
    assert mounts.check() == ([], ["cam1", "cam2"])
    assert mounts.check() == ([], [])
    umount(env.hot("cam1"))
    assert mounts.check() == (["cam1"], []) and mounts.missing() == ["cam1"]
    assert mounts.check() == ([], [])
    assert underneath(env, "cam1") == [], "nothing is made on the SD under an unmounted tmpfs"
    env.tmpfs(env.hot("cam1"), "8M")
    assert mounts.check() == ([], ["cam1"]) and mounts.missing() == []
    assert sorted(os.listdir(env.hot("cam1"))) == sorted([*HOT_SUBDIRS, MARKER, OUTBOX]), "a new tmpfs's folders"
    # detached and mounted again between two checks: a new tmpfs all the same, though the kernel may well hand
    # it the old one's device number
    dev = os.stat(env.hot("cam2")).st_dev
    umount(env.hot("cam2"), lazy=True)
    env.tmpfs(env.hot("cam2"), "8M")
    print(f"\ncam2's new tmpfs has {'the same' if os.stat(env.hot('cam2')).st_dev == dev else 'another'} st_dev")
    assert mounts.check() == ([], ["cam2"])
    assert sorted(os.listdir(env.hot("cam2"))) == sorted([*HOT_SUBDIRS, MARKER, OUTBOX])


def heartbeat(env):
    with open(os.path.join(env.run_dir, "archiver.json")) as f:
        return json.load(f)


def archived(env, device):
    return heartbeat(env)["devices"][device]["archived"]


def test_daemon_follows_one_devices_tmpfs_and_leaves_the_others_alone(env, wait_for):
    """cam1's tmpfs is lazily unmounted under the running daemon, then mounted again: cam2 is archived all
    along, nothing of cam1 lands on the SD under its mount point (not even at the SIGTERM flush while it is
    gone), and the new tmpfs is followed within seconds, long before the next rescan."""
    env.add_device("cam1")
    env.add_device("cam2")
    env.write_config(archive={"rescan_seconds": 60, "batch_seconds": 0.05})
    with open(os.path.join(env.tmp, "daemon.log"), "ab") as err:
        p = env.popen("archive", stderr=err)
    n = 0
    try:
        wait_for(lambda: os.path.exists(os.path.join(env.run_dir, "archiver.json")), what="daemon start")
        for n in range(8):  # limits 5: cam1 gets an open hour with archived entries (RAM indexes)
            produce(env.hot("cam1", "captures"), "captures", n)
            produce(env.hot("cam1", "thumbnails"), "thumbnails", n)
        wait_for(lambda: archived(env, "cam1") >= 6, what="cam1 archived before its tmpfs goes")
        pid = heartbeat(env)["pid"]
        umount(env.hot("cam1"), lazy=True)
        time.sleep(1.5)  # the daemon's mount check turns at least once
        before = archived(env, "cam2")
        for n in range(8):
            produce(env.hot("cam2", "captures"), "captures", n)
        wait_for(lambda: archived(env, "cam2") >= before + 3, what="cam2 archived while cam1's tmpfs is gone")
        assert underneath(env, "cam1") == [], "written onto the SD under cam1's unmounted tmpfs"
        env.tmpfs(env.hot("cam1"), "8M")  # empty, without its folders: the daemon makes them
        t0 = time.monotonic()
        wait_for(lambda: os.path.isdir(env.hot("cam1", "captures")), timeout=5, step=0.02,
                 what="the daemon to make the new tmpfs's folders")
        before = archived(env, "cam1")
        for n in range(100, 108):
            produce(env.hot("cam1", "captures"), "captures", n)
        wait_for(lambda: os.path.islink(os.path.join(env.hot("cam1", "captures"), "latest.jpg")), timeout=5,
                 step=0.02, what="latest.jpg in the new tmpfs")
        wait_for(lambda: archived(env, "cam1") >= before + 3, timeout=5, step=0.02,
                 what="cam1 archived from its new tmpfs")
        followed = time.monotonic() - t0
        print(f"\ncam1 mounted again: archived from the new tmpfs {followed:.2f} s later (rescan every 60 s)")
        assert followed < 5.0
        assert heartbeat(env)["pid"] == pid
        umount(env.hot("cam1"), lazy=True)  # and gone again at the SIGTERM flush
        time.sleep(1.5)
    finally:
        p.send_signal(signal.SIGTERM)
        rc = p.wait(timeout=30)
    assert rc == 0
    assert underneath(env, "cam1") == [], "the flush wrote onto the SD under cam1's unmounted tmpfs"
    with open(os.path.join(env.tmp, "daemon.log")) as f:
        text = f.read()
    assert "cam1: hot folder" in text and "nothing of cam1 is archived until it is back" in text, text
    assert "cam1: tmpfs at" in text and "mounted again: following it" in text, text


def test_hears_the_host_tells_a_slave_namespace_from_a_deaf_copy(env, tmp_path):
    """A mount namespace made a slave of a shared mount (what systemd gives a service on a host) hears the
    host's mount events at the hot folders; a private copy (a container's systemd leaves / private) does not."""
    from hotcold.hotmount import hears_the_host

    hot = env.add_device("cam1")
    subprocess.run(["mount", "--bind", env.base, env.base], check=True)  # a mount of its own, then shared
    try:
        for propagation, expected in (("private", False), ("shared", True)):
            subprocess.run(["mount", f"--make-{propagation}", env.base], check=True)
            text = subprocess.run(["unshare", "-m", "--propagation", "slave", "cat", "/proc/self/mountinfo"],
                                  capture_output=True, text=True, check=True).stdout
            info = tmp_path / f"mountinfo-{propagation}"
            info.write_text(text)
            assert hears_the_host(hot, str(info)) is expected, (propagation, text)
    finally:
        subprocess.run(["umount", "-l", env.base], check=True)


def outbox_files(env, device):
    """The RAM copies waiting in the device's outbox for a checkpoint."""
    return sorted(n for _r, _d, names in os.walk(os.path.join(env.hot(device), OUTBOX)) for n in names)


def in_ram(env, device, kind="captures"):
    return sorted(n for n in os.listdir(env.hot(device, kind)) if n.startswith("capture_"))


def passed_with_copies_in_the_outbox(env):
    """Two devices with 8 captures each (limit 5) passed once: 3 of each are visible on the SD and wait in
    their outbox (checkpoint_seconds 120: no checkpoint on its own). Return (the Archiver, {name: sha256})."""
    from hotcold.archiver import Archiver

    digests = {}
    for dev in ("cam1", "cam2"):
        env.add_device(dev)
        for n in range(8):
            path, digest = produce(env.hot(dev, "captures"), "captures", n, mtime=time.time() - 60 + n)
            digests[(dev, os.path.basename(path))] = digest
    arch = Archiver(env.config(archive={"checkpoint_seconds": 120}))
    arch.recover()
    for dev in ("cam1", "cam2"):
        arch.pass_device(dev)
        assert len(outbox_files(env, dev)) == 3 and arch.outbox_count(dev) == 3, dev
    return arch, digests


def test_flush_of_one_device_ends_with_a_checkpoint_so_its_outbox_is_empty_before_its_tmpfs_goes(env):
    """What the capture unit's stop asks for (hotcold flush --device): the device's hot files and its outbox
    RAM copies are on the SD and covered by a checkpoint when the flush returns; the other device keeps its
    newest files in RAM."""
    arch, digests = passed_with_copies_in_the_outbox(env)
    seq = arch.cp.last_seq_ok
    assert arch.flush_devices(["cam1"]) is True
    assert arch.cp.last_seq_ok > seq and arch.cp.pending == [], "the flush ends with a checkpoint"
    assert in_ram(env, "cam1") == [] and outbox_files(env, "cam1") == []
    assert {n: sha256(p) for n, p in env.archived_files("cam1").items()} == \
        {n: d for (dev, n), d in digests.items() if dev == "cam1"}
    assert in_ram(env, "cam2") == [f"capture_{n}.jpg" for n in range(3, 8)], "cam2 keeps its newest in RAM"
    assert outbox_files(env, "cam2") == [], "one checkpoint for the card: cam2's copies are durable as well"
    doc = arch.heartbeat_doc(arch.now())["devices"]
    assert (sum(doc["cam1"]["hot"].values()), doc["cam1"]["outbox"]) == (0, 0)


def test_a_tmpfs_gone_with_copies_in_its_outbox_loses_nothing_and_nothing_is_made_under_it(env):
    """cam1's tmpfs is lazily unmounted while 3 of its files are visible on the SD and their RAM copies wait in
    its outbox: the next checkpoint makes the SD copies durable (bytes as recorded) and touches nothing under
    the bare mount point (the SD card); a new archiver started while it is gone (recovery) neither."""
    from hotcold.archiver import Archiver

    arch, digests = passed_with_copies_in_the_outbox(env)
    umount(env.hot("cam1"), lazy=True)
    assert arch.checkpoint() is None and arch.cp.pending == []
    assert {n: sha256(p) for n, p in env.archived_files("cam1").items()} == \
        {n: d for (dev, n), d in digests.items() if dev == "cam1" and n in {f"capture_{k}.jpg" for k in range(3)}}
    assert outbox_files(env, "cam2") == [], "cam2's outbox released as usual"
    assert arch.pass_device("cam1") == {} and underneath(env, "cam1") == []
    doc = arch.heartbeat_doc(arch.now())["devices"]["cam1"]
    assert (sum(doc["hot"].values()), doc["outbox"]) == (0, 0), "nothing of cam1 is in reach in RAM"
    again = Archiver(env.config(archive={"checkpoint_seconds": 120}))
    again.recover()
    again.run_once()
    assert underneath(env, "cam1") == [], "recovery made folders on the SD under cam1's unmounted tmpfs"
    assert len(env.archived_files("cam1")) == 3
