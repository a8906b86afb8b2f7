"""Device counts, limits and sizes come from inventory vars alone; removing a device removes exactly it."""

import hosttools
import yaml

SIZES = {"M": 1024**2, "G": 1024**3, "K": 1024}


def mounted_hot_dirs(host, base):
    lines = host.check_output("findmnt -rn -t tmpfs -o TARGET").splitlines()
    return sorted(line for line in lines if line.startswith(base + "/") and line.endswith("/hot"))


def capture_units(host):
    out = host.check_output("systemctl list-units --all --plain --no-legend 'hotcold-capture@*.service'")
    return sorted(line.split()[0] for line in out.splitlines() if line.strip() and "not-found" not in line)


def test_each_host_has_exactly_its_inventory_devices(fleet):
    for name, (host, hostvars) in fleet.items():
        base = hostvars["hotcold_base_path"]
        devices = [d["name"] for d in hostvars["hotcold_devices"]]
        assert mounted_hot_dirs(host, base) == sorted(f"{base}/{d}/hot" for d in devices), name
        assert capture_units(host) == sorted(f"hotcold-capture@{d}.service" for d in devices), name
        for device in devices:
            assert host.service(f"hotcold-capture@{device}").is_running, (name, device)


def test_limits_sizes_and_retention_follow_host_vars(fleet):
    for name, (host, hostvars) in fleet.items():
        config = yaml.safe_load(host.file("/etc/hotcold/hotcold.yml").content_string)
        assert config["hot_limits"] == hostvars["hotcold_hot_limits"], name
        assert config["retention_hours"] == hostvars["hotcold_retention_hours"], name
        assert config["devices"] == [d["name"] for d in hostvars["hotcold_devices"]], name
        for device in hostvars["hotcold_devices"]:
            size = device.get("tmpfs_size", hostvars["hotcold_tmpfs_size"])
            expected = int(size[:-1]) * SIZES[size[-1].upper()]
            hot = f"{hostvars['hotcold_base_path']}/{device['name']}/hot"
            blocks, block_size = host.check_output(f"stat -f -c '%b %S' {hot}").split()
            assert int(blocks) * int(block_size) == expected, (name, hot)


def test_removing_a_device_removes_exactly_its_unit_and_mount(fleet):
    host, hostvars = fleet["fleet-3"]
    base = hostvars["hotcold_base_path"]
    removed = hostvars["hotcold_devices"][-1]["name"]
    kept = [d for d in hostvars["hotcold_devices"] if d["name"] != removed]
    others_before = {n: (mounted_hot_dirs(h, base), capture_units(h)) for n, (h, _) in fleet.items() if n != "fleet-3"}
    archived_before = host.check_output(f"find {base}/{removed}/captures -type f -name 'capture_*' | wc -l")

    # Extra vars stand in for the edited host_vars file: the same inventory, one device fewer on fleet-3.
    run, report, _ = hosttools.site("--limit", "fleet-3", extra_vars={"hotcold_devices": kept})
    assert run.returncode == 0, f"{hosttools.failed_tasks(report)}\n{run.stderr[-2000:]}"

    assert mounted_hot_dirs(host, base) == sorted(f"{base}/{d['name']}/hot" for d in kept)
    assert capture_units(host) == sorted(f"hotcold-capture@{d['name']}.service" for d in kept)
    assert f"{base}/{removed}/hot" not in host.file("/etc/fstab").content_string
    for device in kept:
        assert host.service(f"hotcold-capture@{device['name']}").is_running
    # Its archive stays on the SD (flushed, not deleted), and no other host changed.
    archived_after = host.check_output(f"find {base}/{removed}/captures -type f -name 'capture_*' | wc -l")
    assert int(archived_after) >= int(archived_before)
    others_after = {n: (mounted_hot_dirs(h, base), capture_units(h)) for n, (h, _) in fleet.items() if n != "fleet-3"}
    assert others_after == others_before
