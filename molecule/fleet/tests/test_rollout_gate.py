"""A serial rollout stops on a bad batch: one host at a time, the second gets a source FFmpeg cannot open.

Every host is handed the same change, a new device `gate`; on fleet-2 its source is an RTSP address nothing
listens on, so its FFmpeg exits and systemd restarts it in a loop (the unit still reads "started"). The
rollout must stop after fleet-2's batch, naming the host and the device, with fleet-1 changed and the hosts
after it (fleet-3, fleet-arm) untouched. Then fleet-2 is converged back to the scenario's inventory (the gate
passes again; fleet-1 keeps its healthy marker device until the scenario destroys it: one site.yml run less).
Runs after test_fleet.py (file order): fleet-3's devices are whatever is on it then.
"""

import re

import hosttools

MARKER = "gate"
BAD_HOST = "fleet-2"
# ansible.posix.json names a role's task "<role> : <task name>"
GATE_TASK = "rollout_gate : Stop the rollout unless this host is healthy"
ROLLOUT_PLAY = "Roll out the roles and gate each batch on its health"


def hosts_in_play(report, play_name):
    return {host for play in report["plays"] if play["play"]["name"] == play_name
            for task in play["tasks"] for host in task["hosts"]}


def gate_messages(report):
    """{host: msg} of the gate's failures."""
    return {host: msg for task, host, msg in hosttools.failed_tasks(report) if task == GATE_TASK}


def capture_unit_state(host, device):
    return host.run(f"systemctl show -p ActiveState --value hotcold-capture@{device}.service").stdout.strip()


def host_files(host):
    """The files the rollout would change first on a host: its fstab and hotcold's configuration."""
    return {path: host.file(path).content_string for path in ("/etc/fstab", "/etc/hotcold/hotcold.yml")}


def devices_on(host, hostvars):
    """The scenario's devices of a host that it runs now (an earlier test may have removed one)."""
    return [d for d in hostvars["hotcold_devices"] if capture_unit_state(host, d["name"]) == "active"]


def test_a_broken_batch_stops_the_serial_rollout(fleet):
    base = fleet["fleet-1"][1]["hotcold_base_path"]
    devices = {name: devices_on(host, hostvars) for name, (host, hostvars) in fleet.items()}
    good = {"name": MARKER, "input": "testsrc"}
    bad = {"name": MARKER, "input": "rtsp", "source": "rtsp://127.0.0.1:9/nothing-listens"}
    changed = {name: devs + [bad if name == BAD_HOST else good] for name, devs in devices.items()}
    # The inventory's order is the batches' order: every host after the broken one must stay as it is.
    later = list(fleet)[list(fleet).index(BAD_HOST) + 1:]
    assert later, "the scenario has no host after the broken batch"
    before = {name: host_files(fleet[name][0]) for name in later}

    run, report, seconds = hosttools.site(extra_vars={
        "rollout_test_devices": changed, "hotcold_serial": 1,
        "hotcold_devices": "{{ rollout_test_devices[inventory_hostname] }}"})
    print(f"rollout with a broken second batch: rc {run.returncode} after {seconds:.0f} s")

    assert run.returncode != 0, "the rollout succeeded although fleet-2's capture cannot open its source"
    messages = gate_messages(report)
    assert list(messages) == [BAD_HOST], f"gate failures: {messages}; every failure: {hosttools.failed_tasks(report)}"
    message = messages[BAD_HOST]
    print(f"gate: {message}")
    print(f"recap: {report['stats']}")
    assert BAD_HOST in message and f"{MARKER}: capture CRIT" in message, message
    # A crash loop: restarted during the window, whether sampled running or waiting for its next restart.
    loop = rf"hotcold-capture@{MARKER}\.service (is activating/auto-restart, not active, and )?restarted \d+ time"
    assert re.search(loop, message), message
    # Only the broken device is named: the host's other devices pass.
    for device in devices[BAD_HOST]:
        assert f"{device['name']}:" not in message, message

    # The batches ran in order and stopped after fleet-2's: the later hosts got no task of the rollout play.
    assert hosts_in_play(report, ROLLOUT_PLAY) == {"fleet-1", "fleet-2"}
    assert capture_unit_state(fleet["fleet-1"][0], MARKER) == "active"
    for name in later:
        host = fleet[name][0]
        assert capture_unit_state(host, MARKER) == "inactive", name
        assert not host.file(f"{base}/{MARKER}").exists, name
        assert host_files(host) == before[name], name


def test_the_fixed_inventory_passes_the_gate_again(fleet):
    """Back to the scenario's inventory on the broken host: the marker device goes, the gate passes."""
    run, report, seconds = hosttools.site("--limit", BAD_HOST)
    print(f"restore of {BAD_HOST}: rc {run.returncode} after {seconds:.0f} s")
    assert run.returncode == 0, f"{hosttools.failed_tasks(report)}\n{run.stderr[-2000:]}"
    host, hostvars = fleet[BAD_HOST]
    assert capture_unit_state(host, MARKER) == "inactive"
    for device in hostvars["hotcold_devices"]:
        assert capture_unit_state(host, device["name"]) == "active", device["name"]
