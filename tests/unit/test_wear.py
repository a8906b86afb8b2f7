"""Card wear (issue 13 point 2): the archive's disk is found through sysfs and its counters agree with
what the kernel reports for the loop device in /proc/diskstats."""

import os
import subprocess

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
