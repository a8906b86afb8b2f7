"""Hardening (issue 7, case 8): the archiver and capture units' `systemd-analyze security` exposure is at
most 2.5 ("OK" or better), their processes run as the unprivileged service user with no capabilities,
every hot tmpfs is mounted noexec,nodev,nosuid, and nothing in the stream tree is world-writable."""

import os
import re
import sys

import pytest

sys.path.insert(0, os.path.join(os.environ["MOLECULE_PROJECT_DIRECTORY"], "tests", "reliability"))
from record import record  # noqa: E402

SOURCE = "molecule/default/tests/test_7_hardening.py"
MAX_EXPOSURE = 2.5
# systemd-analyze's words for an exposure below 5.0, best first (OK covers 1.0-4.9).
OK_OR_BETTER = ("PERFECT", "SAFE", "OK")
EXPOSURE_RE = re.compile(r"Overall exposure level for (\S+): (\d+(?:\.\d+)?) ([A-Z]+)")


def units(devices):
    return ["hotcold-archiver.service"] + [f"hotcold-capture@{d}.service" for d in devices]


@pytest.fixture(scope="module")
def user(hostvars):
    return hostvars.get("hotcold_user", "hotcold")


def test_units_exposure_is_ok_or_better(capture_host, devices):
    for unit in units(devices):
        out = capture_host.check_output(f"systemd-analyze security --no-pager {unit}")
        match = EXPOSURE_RE.search(out)
        assert match and match.group(1) == unit, out[-500:]
        exposure, verdict = float(match.group(2)), match.group(3)
        assert exposure <= MAX_EXPOSURE and verdict in OK_OR_BETTER, (unit, exposure, verdict)
        record("hardening", f"systemd-analyze security {unit}", tried=1, exposure=exposure, verdict=verdict,
               source=f"{SOURCE}::test_units_exposure_is_ok_or_better")


def test_services_run_as_the_service_user_without_capabilities(capture_host, devices, user):
    uid = capture_host.check_output(f"id -u {user}")
    assert uid != "0"
    # Every process in the units' cgroups (ExecStartPre, the launcher, FFmpeg, the archiver), all four uids.
    rows = [line.split(None, 5) for line in capture_host.check_output(
        "ps -e -o pid=,euid=,ruid=,suid=,fuid=,unit=").splitlines()]
    found = {}
    for pid, euid, ruid, suid, fuid, unit in (r for r in rows if len(r) == 6):
        if unit in units(devices):
            assert {euid, ruid, suid, fuid} == {uid}, (unit, pid, euid, ruid, suid, fuid)
            status = capture_host.run(f"cat /proc/{pid}/status").stdout
            effective = re.search(r"^CapEff:\s*([0-9a-f]+)$", status, re.M)
            assert effective is None or int(effective.group(1), 16) == 0, (unit, pid, effective.group(1))
            found.setdefault(unit, []).append(pid)
    assert sorted(found) == sorted(units(devices)), found
    record("hardening", "services run as the unprivileged service user", tried=len(found),
           user=user, uid=int(uid), processes=sum(len(p) for p in found.values()), capabilities=0,
           source=f"{SOURCE}::test_services_run_as_the_service_user_without_capabilities")


def test_every_hot_tmpfs_is_noexec_nodev_nosuid(capture_host, hostvars, devices):
    mounts = {}
    for line in capture_host.check_output("cat /proc/self/mounts").splitlines():
        _, point, fstype, options = line.split()[:4]
        mounts[point] = (fstype, set(options.split(",")))
    for device in devices:
        hot = f"{hostvars['hotcold_base_path']}/{device}/hot"
        assert hot in mounts, f"{hot} is not mounted"
        fstype, options = mounts[hot]
        assert fstype == "tmpfs", (hot, fstype)
        assert {"noexec", "nodev", "nosuid"} <= options, (hot, sorted(options))
    record("hardening", "hot tmpfs mounted noexec,nodev,nosuid", tried=len(devices),
           options="noexec,nodev,nosuid", source=f"{SOURCE}::test_every_hot_tmpfs_is_noexec_nodev_nosuid")


def test_nothing_in_the_stream_tree_is_world_writable(capture_host, hostvars):
    base = hostvars["hotcold_base_path"]
    # The SD tree and the tmpfs mounted inside it (symlinks always show 0777: left out).
    checked = int(capture_host.check_output(f"find {base} ! -type l | wc -l"))
    writable = capture_host.check_output(f"find {base} ! -type l -perm -o+w").splitlines()
    assert checked > 100 and writable == [], writable[:10]
    record("hardening", "no world-writable file or folder in the stream tree", tried=checked,
           world_writable=len(writable), source=f"{SOURCE}::test_nothing_in_the_stream_tree_is_world_writable")
