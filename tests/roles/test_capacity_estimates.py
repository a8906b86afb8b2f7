"""The capacity preflight's estimates (roles/hot_storage/filter_plugins/hotcold_capacity.py) with the roles'
defaults as Ansible renders them: what a user would be told for the plan's settings on real hardware, and that
each estimate follows the setting it depends on."""

import importlib.util

import pytest
from role_defaults import ROOT, common_vars

PLUGIN = ROOT / "roles" / "hot_storage" / "filter_plugins" / "hotcold_capacity.py"
spec = importlib.util.spec_from_file_location("hotcold_capacity", PLUGIN)
capacity = importlib.util.module_from_spec(spec)
spec.loader.exec_module(capacity)

MIB, GIB = 1024**2, 1024**3
CARD_64GB = 64 * 10**9  # what a "64 GB" card holds


def plan(**changes):
    """The configuration the preflight sees with no inventory variable set (the plan's 4 devices at 1080p)."""
    common = common_vars()
    config = {
        "devices": common["_common_devices"],
        "tmpfs_size": common["_common_tmpfs_size"],
        "ram_reserve": common["_common_capacity_ram_reserve"],
        "file_bytes": common["_common_capacity_file_bytes"],
        "base_path": common["_common_base_path"],
        "capture": common["_common_capture"],
        "retention_hours": common["_common_retention_hours"],
        "hot_limits": common["_common_hot_limits"],
        "every_nth": {},
    }
    return {**config, **changes}


def facts(mem_total=8 * GIB, fs_size=CARD_64GB, fs_block=4096):
    return {"mem_total": mem_total, "fs_size": fs_size, "fs_block": fs_block, "fs_path": "/"}


def verdicts(config, host_facts):
    return {check["rule"]: check for check in capacity.capacity_checks(config, "pi-01", host_facts)}


def sd_total(config, block=4096):
    sizes = capacity.file_bytes(config["capture"], config["file_bytes"])
    per_second = capacity.archived_per_second(config["capture"], config["every_nth"])
    return capacity.sd_need(len(config["devices"]), config["retention_hours"], per_second, sizes, block)


@pytest.mark.parametrize("size, expected", [("100M", 100 * MIB), ("512k", 512 * 1024), ("1G", GIB),
                                            ("4096", 4096), ("50%", GIB)])
def test_tmpfs_sizes_read_like_the_kernel_does(size, expected):
    assert capacity.size_bytes(size, 2 * GIB) == expected


def test_plan_tmpfs_mounts_do_not_fit_a_1_gb_pi_and_fit_a_2_gb_one():
    """4 x 100M of tmpfs + the OS + 4 FFmpegs: more than a 1 GB Pi has (MemTotal 0.9 GiB), not a 2 GB one."""
    small = verdicts(plan(), facts(mem_total=948 * MIB))["ram"]
    assert not small["ok"]
    assert "the host has 948.0 MiB (MemTotal)" in small["msg"] and "tmpfs 400.0 MiB" in small["msg"]
    assert "pi-01" in small["msg"] and "hotcold_tmpfs_size" in small["msg"]
    assert verdicts(plan(), facts(mem_total=1900 * MIB))["ram"]["ok"]


def test_a_percentage_tmpfs_counts_against_the_hosts_ram():
    config = plan(devices=[{"name": "cam", "input": "testsrc", "tmpfs_size": "95%"}])
    check = verdicts(config, facts(mem_total=4 * GIB))["ram"]
    assert not check["ok"] and "tmpfs 3.8 GiB" in check["msg"]


def test_four_1080p_devices_at_2_mbits_overflow_a_64_gb_card():
    """README, "SD saver": 24 h of video from 4 devices at 2 Mbit/s is more than a 64 GB card holds."""
    check = verdicts(plan(), facts())["sd"]
    assert not check["ok"]
    assert "is 59.6 GiB" in check["msg"] and "video_bitrate 2M" in check["msg"]
    need = sd_total(plan())
    assert 85 * GIB < need["segments"] < 100 * GIB  # 4 x 86,400 segments of ~277 kB
    assert need["segments"] > 0.7 * need["total"]  # the video is most of it
    # Half the bitrate and the SD saver's every_nth: it fits.
    saver = plan(capture={**plan()["capture"], "video_bitrate": "1M"}, every_nth={"captures": 20, "thumbnails": 5})
    assert verdicts(saver, facts())["sd"]["ok"]


def test_the_sd_estimate_follows_each_setting():
    base = sd_total(plan())
    faster = sd_total(plan(capture={**plan()["capture"], "video_bitrate": "4M"}))
    assert faster["segments"] == pytest.approx(2 * base["segments"], rel=0.01)
    shorter = sd_total(plan(retention_hours={**plan()["retention_hours"], "thumbnails": 6}))
    assert shorter["thumbnails"] == pytest.approx(base["thumbnails"] / 4)
    fewer = sd_total(plan(every_nth={"thumbnails": 5}))
    assert fewer["thumbnails"] == pytest.approx(base["thumbnails"] / 5)
    two = sd_total(plan(devices=plan()["devices"][:2]))
    assert two["total"] == pytest.approx(base["total"] / 2)
    bigger = sd_total(plan(capture={**plan()["capture"], "video_size": "3840x2160"}))
    assert bigger["captures"] > 3 * base["captures"]
    busy = sd_total(plan(file_bytes={"captures": 400_000}))
    assert busy["captures"] == 4 * 3600 * 2 * 401_408  # 1 h at 2 fps, each file in whole 4 KiB blocks


def test_small_files_take_whole_blocks_on_the_card():
    """A 160x90 thumbnail (4.1 kB measured) takes two 4 KiB blocks on the card."""
    small = {**plan()["capture"], "video_size": "320x180", "thumbnail_size": "160x90"}
    assert 4096 < capacity.file_bytes(small)["thumbnails"] < 8192
    need = sd_total(plan(capture=small, devices=plan()["devices"][:1]))
    assert need["thumbnails"] == 24 * 3600 * 5 * 8192


def test_a_tmpfs_too_small_for_the_hot_limits_is_named():
    devices = [{"name": "big", "input": "testsrc"}, {"name": "tiny", "input": "testsrc", "tmpfs_size": "8M"}]
    checks = verdicts(plan(devices=devices), facts())
    assert checks["hot big"]["ok"]
    assert not checks["hot tiny"]["ok"]
    assert "device tiny (8.0 MiB)" in checks["hot tiny"]["msg"] and "captures=100" in checks["hot tiny"]["msg"]


def test_the_molecule_default_card_is_too_small_for_24_hours():
    """Why molecule/default asks for a warning: 24 h of its two devices need 51 GiB, its card is 1 GiB."""
    small = {**plan()["capture"], "video_size": "320x180", "framerate": 10, "thumbnail_size": "160x90"}
    config = plan(capture=small, devices=[{"name": "capture1", "input": "testsrc"},
                                          {"name": "capture2", "input": "testsrc", "tmpfs_size": "64M"}])
    check = verdicts(config, facts(fs_size=GIB))
    assert not check["sd"]["ok"] and check["ram"]["ok"] and check["hot capture2"]["ok"]
