"""RAM mounts: one tmpfs per device with the configured size and options, persistent through fstab."""

import re

UNITS = {"k": 1024, "m": 1024**2, "g": 1024**3}


def size_bytes(text):
    match = re.fullmatch(r"(\d+)([kKmMgG]?)", text)
    return int(match.group(1)) * UNITS.get(match.group(2).lower(), 1)


def test_each_hot_folder_is_a_tmpfs_with_size_and_safe_options(capture_host, hostvars):
    base = hostvars["hotcold_base_path"]
    for device in hostvars["hotcold_devices"]:
        hot = f"{base}/{device['name']}/hot"
        mount = capture_host.mount_point(hot)
        assert mount.exists, f"{hot} is not mounted"
        assert mount.filesystem == "tmpfs"
        for option in ("noexec", "nodev", "nosuid"):
            assert option in mount.options, f"{hot} lacks {option}: {mount.options}"
        expected = size_bytes(device.get("tmpfs_size", hostvars["hotcold_tmpfs_size"]))
        blocks, block_size = capture_host.check_output(f"stat -f -c '%b %S' {hot}").split()
        assert int(blocks) * int(block_size) == expected


def test_fstab_holds_every_hot_mount(capture_host, hostvars):
    fstab = capture_host.file("/etc/fstab").content_string
    for device in hostvars["hotcold_devices"]:
        hot = f"{hostvars['hotcold_base_path']}/{device['name']}/hot"
        line = next((row for row in fstab.splitlines() if row.split()[1:2] == [hot]), None)
        assert line, f"no fstab line for {hot}"
        fields = line.split()
        assert fields[2] == "tmpfs"
        assert {"noexec", "nodev", "nosuid"} <= set(fields[3].split(","))


def test_sd_archive_tree_has_hour_folders(capture_host, hostvars):
    base = hostvars["hotcold_base_path"]
    for device in hostvars["hotcold_devices"]:
        for kind in ("captures", "thumbnails", "metadata", "segments"):
            listing = capture_host.check_output(f"ls {base}/{device['name']}/{kind}").split()
            assert set(map(str, range(24))) <= set(listing), f"{kind} hour folders incomplete: {listing}"
