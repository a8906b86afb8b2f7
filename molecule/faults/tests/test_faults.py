"""Faults: reboot, clean stop, hung archiver, bad inventory. Tests run in file order and build on each other."""

import json
import os
import subprocess
import time


KINDS = {"captures": "capture_*.jpg", "thumbnails": "capture_*_thumbnail.jpg", "segments": "segment_*.ts"}


def hot_files(host, base, device):
    names = []
    for kind, pattern in KINDS.items():
        out = host.run(f"cd {base}/{device}/hot/{kind} && find . -maxdepth 1 -type f -name '{pattern}' -printf '%f\\n'")
        names += [(kind, n) for n in out.stdout.split()]
    return names


def on_sd(host, base, device, kind, name):
    return host.run(f"ls {base}/{device}/{kind}/*/{name}").rc == 0


def wait_until(predicate, seconds, step=1.0):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return predicate()


def test_reboot_mounts_come_back_before_capture_and_capture_resumes(capture_host, hostvars, devices):
    base = hostvars["hotcold_base_path"]
    subprocess.run(["podman", "restart", "-t", "60", "hotcold-faults"], check=True, capture_output=True)
    capture_host.run("systemctl is-system-running --wait")
    for device in devices:
        hot = f"{base}/{device}/hot"
        assert capture_host.mount_point(hot).exists
        mount_unit = capture_host.check_output(f"systemd-escape -p --suffix=mount {hot}")
        mounted_at = int(capture_host.check_output(f"systemctl show -p ActiveEnterTimestampMonotonic --value {mount_unit}"))
        started_at = int(capture_host.check_output(
            f"systemctl show -p ExecMainStartTimestampMonotonic --value hotcold-capture@{device}"))
        assert 0 < mounted_at < started_at, (mount_unit, mounted_at, started_at)
        assert wait_until(lambda: capture_host.run(f"hotcold latest {device}").rc == 0, 30), "capture did not resume"


def test_clean_stop_of_the_archiver_leaves_nothing_unarchived_in_ram(capture_host, hostvars, devices):
    base = hostvars["hotcold_base_path"]
    units = " ".join(f"hotcold-capture@{d}" for d in devices)
    capture_host.run_expect([0], f"systemctl stop {units}")
    capture_host.run_expect([0], "systemctl stop hotcold-archiver")
    try:
        for device in devices:
            left = hot_files(capture_host, base, device)
            assert left == [], f"still only in RAM after a clean stop: {left[:5]}"
        # And the flush wrote the current hour's indexes to the SD.
        hour = int(capture_host.check_output("date +%-H"))
        playlist = f"{base}/{devices[0]}/segments/{hour}/archive.m3u8"
        assert capture_host.file(playlist).exists
        # Close that hour: one archive pass whose clock (HOTCOLD_NOW) reads 30 s into the next hour writes
        # the finished hour's playlist as VOD + ENDLIST, and FFmpeg decodes every segment of it.
        next_hour = capture_host.check_output("python3 -c 'import time; t = time.time(); print(int(t - t % 3600 + 3630))'")
        capture_host.run_expect([0], f"runuser -u hotcold -- env HOTCOLD_NOW={next_hour} hotcold archive --once")
        finished = capture_host.file(playlist).content_string
        assert "#EXT-X-PLAYLIST-TYPE:VOD" in finished and finished.rstrip().endswith("#EXT-X-ENDLIST"), finished[-300:]
        decode = capture_host.run(f"ffmpeg -v error -i {playlist} -f null -")
        assert decode.rc == 0, decode.stderr
    finally:
        capture_host.run_expect([0], "systemctl start hotcold-archiver")
        capture_host.run_expect([0], f"systemctl start {units}")


def test_stop_under_load_flushes_what_was_in_ram(capture_host, hostvars, devices):
    base, device = hostvars["hotcold_base_path"], devices[0]
    assert wait_until(lambda: len(hot_files(capture_host, base, device)) > 20, 40)
    before = hot_files(capture_host, base, device)
    capture_host.run_expect([0], "systemctl stop hotcold-archiver")
    try:
        missing = [(k, n) for k, n in before if not on_sd(capture_host, base, device, k, n)]
        assert missing == [], f"in RAM before the stop, not on the SD after: {missing[:5]}"
    finally:
        capture_host.run_expect([0], "systemctl start hotcold-archiver")


def test_hung_archiver_is_restarted_by_the_watchdog_and_health_says_so(capture_host):
    pid = capture_host.check_output("systemctl show -p MainPID --value hotcold-archiver")
    capture_host.run_expect([0], f"kill -STOP {pid}")
    # The heartbeat goes stale after 30 s, about when the 30 s watchdog fires; health fails from then
    # until the restarted archiver has beaten again (RestartSec=5), so look for up to 60 s.
    saw_health_fail = wait_until(lambda: capture_host.run("hotcold health").rc != 0, 60, step=0.5)
    restarted = wait_until(
        lambda: capture_host.check_output("systemctl show -p MainPID --value hotcold-archiver") not in (pid, "0"), 60
    )
    assert restarted, "the watchdog did not restart the hung archiver"
    assert saw_health_fail, "health stayed OK while the archiver hung"
    assert "watchdog" in capture_host.run("journalctl -u hotcold-archiver --no-pager").stdout.lower()
    assert capture_host.service("hotcold-archiver").is_running


def test_bad_inventory_stops_the_play_before_any_change(capture_host, hostvars, tmp_path):
    watched = ["/etc/fstab", "/etc/hotcold/hotcold.yml", "/etc/systemd/system/hotcold-archiver.service"]
    before = {path: capture_host.file(path).sha256sum for path in watched}
    bad = dict(hostvars["hotcold_devices"][0], name="../x")
    extra = tmp_path / "bad.json"
    extra.write_text(json.dumps({"hotcold_devices": [bad]}))
    project = os.environ["MOLECULE_PROJECT_DIRECTORY"]
    run = subprocess.run(
        ["ansible-playbook", "-i", os.environ["MOLECULE_INVENTORY_FILE"], f"{project}/site.yml", "-e", f"@{extra}"],
        capture_output=True, text=True, env={**os.environ, "ANSIBLE_CONFIG": f"{project}/ansible.cfg"},
    )
    assert run.returncode != 0
    assert "../x" in run.stdout and "hotcold_devices" in run.stdout, run.stdout[-3000:]
    assert {path: capture_host.file(path).sha256sum for path in watched} == before
