"""Card wear (issue 13 point 2): the archive's disk is found through sysfs and its counters agree with
what the kernel reports for the loop device in /proc/diskstats."""

import os
import re
import subprocess
import time

import pytest

from hotcold import wear


def diskstats(disk):
    """(write I/Os, sectors written, flushes) of ``disk`` from /proc/diskstats, the kernel's other view."""
    with open("/proc/diskstats") as f:
        for line in f:
            fields = line.split()
            if fields[2] == disk:
                return int(fields[7]), int(fields[9]), int(fields[18]) if len(fields) > 18 else None
    raise AssertionError(f"{disk} not in /proc/diskstats")


def test_the_archive_disk_is_the_loop_device_and_its_counters_follow_a_write(env):
    base = env.sd_ext4(64)
    disk = wear.disk_of(base)
    source = subprocess.run(["findmnt", "-no", "SOURCE", base], capture_output=True, text=True).stdout.strip()
    assert disk == os.path.basename(source), (disk, source)
    before = wear.read_counters(disk)
    with open(os.path.join(base, "blob"), "wb") as f:
        f.write(os.urandom(8 * 1024 * 1024))
        f.flush()
        os.fsync(f.fileno())
    after = wear.read_counters(disk)
    assert after.bytes_written - before.bytes_written >= 8 * 1024 * 1024
    assert after.write_ios > before.write_ios
    assert after.flushes is not None and after.flushes > before.flushes, "an fsync reaches the disk as a flush"
    ios, sectors, flushes = diskstats(disk)
    now = wear.read_counters(disk)
    assert (now.write_ios, now.bytes_written, now.flushes) == (ios, sectors * 512, flushes)
    assert wear.disk_size(disk) == 64 * 1024 * 1024


def test_a_partition_is_followed_to_its_whole_disk(tmp_path):
    image = tmp_path / "card.img"
    with open(image, "wb") as f:
        f.truncate(32 * 1024 * 1024)
    subprocess.run(["sfdisk", "-q", str(image)], input="start=2048, type=83\n", text=True, check=True)
    loop = subprocess.run(["losetup", "-f", "-P", "--show", str(image)], capture_output=True, text=True)
    if loop.returncode != 0:
        pytest.fail(f"losetup -P: {loop.stderr.strip()}")
    dev = loop.stdout.strip()
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    try:
        if not os.path.exists(f"{dev}p1"):  # the scan at attach time does not always run here: ask for it
            subprocess.run(["partx", "-a", dev], capture_output=True, check=True)
        subprocess.run(["mkfs.ext4", "-q", f"{dev}p1"], check=True)
        subprocess.run(["mount", f"{dev}p1", str(mnt)], check=True)
        try:
            assert wear.disk_of(str(mnt)) == os.path.basename(dev)
        finally:
            subprocess.run(["umount", str(mnt)], check=True)
    finally:
        subprocess.run(["losetup", "-d", dev], check=True)


def test_a_tmpfs_is_on_no_disk(env):
    assert wear.disk_of(env.add_device("cam1")) is None


def test_emmc_life_is_read_where_the_card_reports_it(tmp_path):
    device = tmp_path / "block" / "mmcblk0" / "device"
    device.mkdir(parents=True)
    (device / "life_time").write_text("0x02 0x0b\n")
    (device / "pre_eol_info").write_text("0x02\n")
    assert wear.emmc_life("mmcblk0", sys_root=str(tmp_path)) == {
        "life_used_percent_at_least": {"a": 10, "b": 100}, "pre_eol": "warning"}
    assert wear.emmc_life("sda", sys_root=str(tmp_path)) is None  # an SD card reports nothing


def test_projection_from_a_pace():
    gb = 1e9
    p = wear.project(bytes_written=11.2 * gb / 2, seconds=wear.DAY / 2, card_bytes=64 * gb, rated_cycles=1000)
    assert p.bytes_per_day == pytest.approx(11.2 * gb)
    assert p.full_card_writes_per_day == pytest.approx(0.175)
    assert p.life_years == pytest.approx(1000 / 0.175 / 365.25)
    assert wear.project(0, 3600, 64 * gb).life_years is None  # nothing written: no end in sight


def test_health_status_and_textfile_show_the_card_wear(env, wait_for):
    """The archiver takes the SD's counters as its baseline; health, the textfile and status pace the card
    from it and agree with the loop device's own counters; a card too small for its pace warns."""
    from hchelpers import produce

    base = env.sd_ext4(64)
    env.add_device("cam1")
    for n in range(8):
        produce(env.hot("cam1", "captures"), "captures", n, size=64 * 1024)
    env.write_config(sd_card={"size_gb": 0.01, "rated_cycles": 10}, health={"sd_min_life_years": 2})
    proc = env.popen("archive", stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: len(env.archived_files("cam1")) == 3, timeout=30, what="3 captures archived")
        disk = wear.disk_of(base)
        archived = sum(os.path.getsize(p) for p in env.archived_files("cam1").values())
        beat = os.path.join(env.run_dir, "archiver.json")
        wait_for(lambda: os.path.exists(beat) and f'"archived_bytes": {archived}' in open(beat).read(),
                 timeout=10, what="the heartbeat counting the archived bytes")
        later = time.time() + 2 * 3600  # two hours of archiving at this pace: a verdict
        health = env.cli("health", now=later)
        _, sectors, flushes = diskstats(disk)
        status = env.cli("status", now=later, check=0)
        early = env.cli("health", "--no-textfile")
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    wear_line = [ln for ln in health.stdout.splitlines() if " sd wear " in ln][0]
    assert "WARN" in wear_line and f"SD {disk}:" in wear_line and "(min 2 years)" in wear_line, wear_line
    prom = open(env.prom).read()
    assert f'hotcold_sd_written_bytes_total{{disk="{disk}"}} {sectors * 512}\n' in prom, prom
    assert f'hotcold_sd_flushes_total{{disk="{disk}"}} {flushes}\n' in prom, prom
    assert f'hotcold_archived_bytes_total{{device="cam1"}} {archived}\n' in prom, prom
    assert re.search(rf'^hotcold_sd_projected_life_years{{disk="{disk}"}} 0\.\d+$', prom, re.M), prom
    assert f"SD {disk}: " in status.stdout and "full-card writes/day" in status.stdout, status.stdout
    early_line = [ln for ln in early.stdout.splitlines() if " sd wear " in ln][0]
    assert " OK " in early_line and "min only" in early_line, "no verdict on minutes of pace: " + early_line


def test_the_wear_line_before_anything_is_archived():
    """Right after the archiver starts nothing is archived yet: no amplification to show, and no crash."""
    c = wear.DiskCounters(write_ios=10, bytes_written=4096, flushes=1)
    w = wear.CardWear(disk="mmcblk0", card_bytes=int(64e9), rated_cycles=1000, counters=c, span=60.0,
                      archived_bytes=0, projection=wear.project(4096, 60.0, 64e9), emmc=None)
    line = wear.describe(w)
    assert line.startswith("SD mmcblk0: ") and "0% of it hotcold's" in line and "amplification" not in line, line
