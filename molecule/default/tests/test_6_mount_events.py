"""One device's mount event touches that device only: its mount unit stopped, a plain umount and mount, a lazy
umount. The archiver keeps running (same pid) and archiving the other device, nothing lands on the SD underneath
the mount point, health names the device, and when the mount is back capture and archiving resume by themselves.
A mount unit stopped on purpose takes no footage with it (the capture unit has its device flushed first).

The events run in sequence on the scenario's two devices (restored between), not at once on three: a third
FFmpeg would crowd the 2 cores the whole suite shares. Runs before test_7/8/9, so it leaves every device
mounted, capturing and archiving (each event asserts it). Figures go to $HOTCOLD_MOUNT_EVENTS_JSON if set."""

import json
import os
import shlex
import sys
import time

import pytest

sys.path.insert(0, os.path.join(os.environ["MOLECULE_PROJECT_DIRECTORY"], "tests", "reliability"))
from record import record  # noqa: E402

SOURCE = "molecule/default/tests/test_6_mount_events.py::test_mount_event_touches_one_device_and_heals"
WHAT = {"stop": "systemctl stop of one device's mount unit, then start",
        "umount": "plain umount of one device's tmpfs, mount 0.3 s later",
        "lazy": "umount -l of one device's tmpfs, then mount"}
RESUME_SECONDS = 10  # the remounted device: FFmpeg writes and the archiver follows it again within this
ARCHIVE_SECONDS = 90  # ... and moves its files to the SD again (the hot limits keep 20 captures in RAM first)
FIGURES = {}


def wait_until(predicate, seconds, what, step=0.5):
    """Return predicate()'s first true value, polling every step s; fail naming ``what`` after ``seconds``."""
    deadline = time.monotonic() + seconds
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {seconds}s waiting for {what}")
        time.sleep(step)


def heartbeat(host):
    return json.loads(host.check_output("cat /run/hotcold/archiver.json"))


def archived(host, device):
    return heartbeat(host)["devices"][device]["archived"]


def archiver_pid(host):
    return host.check_output("systemctl show -p MainPID --value hotcold-archiver")


def is_active(host, unit):
    return host.run(f"systemctl is-active {shlex.quote(unit)}").stdout.strip() == "active"


def underneath(host, hot):
    """What the SD holds under the unmounted mount point (must stay empty: the SD is not the RAM)."""
    assert host.run(f"mountpoint -q {hot}").rc != 0, f"{hot} is still mounted"
    return host.check_output(f"find {hot} -mindepth 1").split()


def media_hashes(host, folder, depth):
    """{name: sha256} of the media files ``depth`` levels under ``folder``'s kind folders (1: the hot folder's,
    2: the SD's hour folders), and how many names occur twice. A file moved while it is listed is skipped."""
    out = host.run(f"cd {folder} && find captures thumbnails segments -mindepth {depth} -maxdepth {depth} -type f "
                   "\\( -name 'capture_*.jpg' -o -name 'segment_*.ts' \\) -exec sha256sum {} + 2>/dev/null")
    hashes, twice = {}, 0
    for line in out.stdout.splitlines():
        digest, path = line.split(None, 1)
        name = os.path.basename(path.lstrip("*"))
        twice += name in hashes
        hashes[name] = digest
    return hashes, twice


def account(before, on_sd, twice):
    """Every file that was in RAM at the event, in exactly one column (tests/reliability/record.FILE_COLUMNS):
    archived intact, torn (on the SD, other bytes), or gone with the unmounted tmpfs (not on the SD)."""
    torn = sum(1 for n, h in before.items() if n in on_sd and on_sd[n] != h)
    intact = sum(1 for n, h in before.items() if on_sd.get(n) == h)
    return {"written": len(before), "archived_intact": intact, "in_ram_at_cut": len(before) - intact - torn,
            "dropped": 0, "expired": 0, "lost": 0, "torn": torn, "duplicated": twice}


def archived_names(host, root):
    return set(host.check_output(f"ls {root}/captures/*/ {root}/thumbnails/*/ {root}/segments/*/").split())


def fresh_latest(host, hot):
    """True once hot/captures/latest.jpg (only the archiver writes it) points at a capture in this tmpfs."""
    return host.run(f"test -f {hot}/captures/latest.jpg && test -L {hot}/captures/latest.jpg").rc == 0


def plain_umount_and_mount(host, hot, tries=40):
    """`umount <hot>`, and 0.3 s later (systemd has seen it go, the capture unit's stop and flush are under way)
    `mount <hot>`, no systemctl; tried until the kernel lets the umount through (it refuses while FFmpeg has a
    file open in the tmpfs). Return (the last result, the number of tries)."""
    for n in range(1, tries + 1):
        result = host.run(f"umount {hot} && sleep 0.3 && mount {hot}")
        if result.rc == 0 or "busy" not in result.stderr:
            return result, n
        time.sleep(0.25)
    return result, tries


def note(key, **figures):
    """Keep the figures of one event; write them all to $HOTCOLD_MOUNT_EVENTS_JSON if set."""
    FIGURES[key] = {**FIGURES.get(key, {}), **figures}
    if os.environ.get("HOTCOLD_MOUNT_EVENTS_JSON"):
        with open(os.environ["HOTCOLD_MOUNT_EVENTS_JSON"], "w") as f:
            json.dump(FIGURES, f, indent=1)


def assert_others_archive(host, others, pid, seconds=30):
    before = {d: archived(host, d) for d in others}
    for d in others:
        wait_until(lambda d=d: archived(host, d) > before[d], seconds, f"{d} to archive while the other is down")
    assert archiver_pid(host) == pid, "the archiver restarted: every device's archiving stopped with it"


def test_each_capture_unit_is_bound_to_its_own_tmpfs_and_upheld_by_it(capture_host, hostvars, devices):
    for device in devices:
        unit = capture_host.check_output(
            f"systemd-escape --path --suffix=mount {hostvars['hotcold_base_path']}/{device}/hot")
        bound = capture_host.check_output(f"systemctl show -p BindsTo --value hotcold-capture@{device}").split()
        wants = capture_host.check_output(f"systemctl show -p Wants --value {unit}").split()
        assert bound == [unit], (device, bound)
        upholds = capture_host.check_output(f"systemctl show -p Upholds --value {unit}").split()
        assert f"hotcold-capture@{device}.service" in wants, (unit, wants)
        assert upholds == [f"hotcold-capture@{device}.service"], (unit, upholds)


@pytest.mark.parametrize("event,index", [("stop", 0), ("umount", 1), ("lazy", 0)])
def test_mount_event_touches_one_device_and_heals(capture_host, hostvars, devices, event, index):
    host = capture_host
    device = devices[index]
    others = [d for d in devices if d != device]
    hot = f"{hostvars['hotcold_base_path']}/{device}/hot"
    unit = host.check_output(f"systemd-escape --path --suffix=mount {hot}")
    wait_until(lambda: is_active(host, "hotcold-archiver") and is_active(host, f"hotcold-capture@{device}"), 60,
               "a healthy start")
    pid = archiver_pid(host)
    in_ram_before, _ = media_hashes(host, hot, 1)
    if event == "stop":
        in_ram = set(in_ram_before)
        host.run_expect([0], f"systemctl stop {unit}")
        # the capture unit, stopped first, had the archiver flush this device: nothing went with the tmpfs
        lost = in_ram - archived_names(host, hot.rsplit("/", 1)[0])
        assert in_ram and not lost, f"{len(lost)} of {len(in_ram)} files in RAM lost with the tmpfs: {sorted(lost)[:5]}"
        note(f"{event} {device}", in_ram_at_stop=len(in_ram), lost_at_stop=len(lost))
    elif event == "lazy":
        host.run_expect([0], f"umount -l {hot}")
    else:
        invocation = host.check_output(f"systemctl show -p InvocationID --value hotcold-capture@{device}")
        result, tries = plain_umount_and_mount(host, hot)
        note(f"{event} {device}", umount_rc=result.rc, umount_stderr=result.stderr.strip(), umount_tries=tries)
        if result.rc != 0:
            # The kernel refused every time while FFmpeg (in its own mount namespace, a slave of the host's) had
            # files open in the tmpfs: nothing changes, nothing may stop.
            assert "busy" in result.stderr, result.stderr
            assert host.run(f"mountpoint -q {hot}").rc == 0
            assert_others_archive(host, devices, pid)
            return
        # Mounted again at once, while systemd still stops the capture unit it bound to the tmpfs (its flush):
        # the mount's Wants= start conflicts with that stop job and is dropped; Upholds= starts it again.
        start = time.monotonic()

    if event != "umount":
        wait_until(lambda: not is_active(host, f"hotcold-capture@{device}"), 10,
                   f"hotcold-capture@{device} to stop with its tmpfs")
        assert is_active(host, "hotcold-archiver"), "the archiver stopped with one device's tmpfs"
        assert_others_archive(host, others, pid)
        assert underneath(host, hot) == [], f"written onto the SD under {hot}"
        health = host.run("hotcold health")
        assert health.rc == 2 and device in health.stdout and "mount" in health.stdout.lower(), health.stdout
        time.sleep(3)  # a few more archiver turns: still nothing under the mount point
        assert underneath(host, hot) == [], f"written onto the SD under {hot}"
        start = time.monotonic()
        host.run_expect([0], f"systemctl start {unit}" if event == "stop" else f"mount {hot}")

    wait_until(lambda: is_active(host, f"hotcold-capture@{device}"), RESUME_SECONDS,
               f"hotcold-capture@{device} to come back with its tmpfs")
    if event == "umount":
        again = host.check_output(f"systemctl show -p InvocationID --value hotcold-capture@{device}")
        assert again != invocation, "the capture unit was not stopped with its tmpfs (BindsTo=)"
    wait_until(lambda: fresh_latest(host, hot), RESUME_SECONDS, f"the archiver to follow {device}'s new tmpfs")
    resumed = time.monotonic() - start
    before = archived(host, device)
    wait_until(lambda: archived(host, device) > before, ARCHIVE_SECONDS, f"{device} to archive again")
    archiving = time.monotonic() - start
    assert archiver_pid(host) == pid, "the archiver restarted"
    note(f"{event} {device}", followed_s=round(resumed, 1), archived_again_s=round(archiving, 1))
    columns = account(in_ram_before, *media_hashes(host, hot.rsplit("/", 1)[0], 2))
    assert columns["torn"] == 0 and columns["duplicated"] == 0, columns
    if event == "stop":  # stopped on purpose: the capture unit's stop flushed the device first
        assert columns["in_ram_at_cut"] == 0, columns
    record("mount_events", WHAT[event], tried=1, produced=columns["written"], lost=0, torn=0, source=SOURCE,
           columns=columns, followed_s=round(resumed, 1), archived_again_s=round(archiving, 1))
    health = wait_until(lambda: host.run("hotcold health").rc != 2 or None, 60, "health without CRIT")
    assert health
