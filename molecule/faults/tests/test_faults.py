"""Faults: reboot, clean stop, hung archiver, bad inventory. Tests run in file order and build on each other."""

import json
import os
import subprocess
import sys
import time

import hosttools

sys.path.insert(0, os.path.join(os.environ["MOLECULE_PROJECT_DIRECTORY"], "tests", "reliability"))
from record import record, scaled  # noqa: E402

SOURCE = "molecule/faults/tests/test_faults.py"

KINDS = {"captures": "capture_*.jpg", "thumbnails": "capture_*_thumbnail.jpg", "segments": "segment_*.ts"}


def hot_files(host, base, device):
    names = []
    for kind, pattern in KINDS.items():
        out = host.run(f"cd {base}/{device}/hot/{kind} && find . -maxdepth 1 -type f -name '{pattern}' -printf '%f\\n'")
        names += [(kind, n) for n in out.stdout.split()]
    return names


def on_sd(host, base, device, kind, name):
    return host.run(f"ls {base}/{device}/{kind}/*/{name}").rc == 0


def hot_hashes(host, base, device):
    """{(kind, name): sha256} of the complete files in RAM; a file the archiver moves meanwhile is skipped."""
    hashes = {}
    for kind, pattern in KINDS.items():
        out = host.run(f"cd {base}/{device}/hot/{kind} && find . -maxdepth 1 -type f -name '{pattern}' "
                       "-exec sha256sum {} + 2>/dev/null")
        for line in out.stdout.splitlines():
            digest, name = line.split(None, 1)
            hashes[(kind, name.lstrip("*").removeprefix("./"))] = digest
    return hashes


def lost_and_torn(host, base, device, before):
    """Of the files hashed in RAM: those on no SD hour folder (lost), those whose SD copy differs (torn)."""
    on_sd = {}
    for kind in KINDS:
        out = host.run(f"cd {base}/{device}/{kind} && find . -mindepth 2 -maxdepth 2 -type f -exec sha256sum {{}} +")
        for line in out.stdout.splitlines():
            digest, path = line.split(None, 1)
            on_sd[(kind, os.path.basename(path.lstrip("*")))] = digest
    lost = sorted(k for k in before if k not in on_sd)
    torn = sorted(k for k in before if k in on_sd and on_sd[k] != before[k])
    return lost, torn


def wait_until(predicate, seconds, step=1.0):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return predicate()


def test_reboot_mounts_come_back_before_capture_and_capture_resumes(capture_host, hostvars, devices):
    base = hostvars["hotcold_base_path"]
    assert wait_until(lambda: len(hot_files(capture_host, base, devices[0])) > 20, 60)
    before = {d: hot_hashes(capture_host, base, d) for d in devices}
    # podman stops the container with SIGRTMIN+3: systemd shuts down in order (capture, then the archiver's flush).
    subprocess.run(["podman", "restart", "-t", "60", "hotcold-faults"], check=True, capture_output=True)
    capture_host.run("systemctl is-system-running --wait")
    produced = 0
    for device in devices:
        missing, differing = lost_and_torn(capture_host, base, device, before[device])
        assert missing == [] and differing == [], f"reboot: lost {missing[:5]}, torn {differing[:5]}"
        produced += len(before[device])
    for device in devices:
        hot = f"{base}/{device}/hot"
        assert capture_host.mount_point(hot).exists
        mount_unit = capture_host.check_output(f"systemd-escape -p --suffix=mount {hot}")
        mounted_at = int(capture_host.check_output(
            f"systemctl show -p ActiveEnterTimestampMonotonic --value {mount_unit}"))
        started_at = int(capture_host.check_output(
            f"systemctl show -p ExecMainStartTimestampMonotonic --value hotcold-capture@{device}"))
        assert 0 < mounted_at < started_at, (mount_unit, mounted_at, started_at)
        latest = f"hotcold latest {device}"
        assert wait_until(lambda cmd=latest: capture_host.run(cmd).rc == 0, 30), "capture did not resume"
    record("clean_stop", "reboot (podman restart): RAM flushed to the SD, mounts before capture", tried=1,
           produced=produced, lost=0, torn=0,
           source=f"{SOURCE}::test_reboot_mounts_come_back_before_capture_and_capture_resumes")


def test_clean_stop_of_the_archiver_leaves_nothing_unarchived_in_ram(capture_host, hostvars, devices):
    base = hostvars["hotcold_base_path"]
    units = " ".join(f"hotcold-capture@{d}" for d in devices)
    # Its mounted tmpfs upholds a capture unit (DESIGN.md "Mount events"): a plain stop is undone at once and
    # FFmpeg writes again. Masked (until the next boot), the unit stays stopped with its tmpfs still mounted.
    capture_host.run_expect([0], f"systemctl mask --runtime {units}")
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
        next_hour = capture_host.check_output(
            "python3 -c 'import time; t = time.time(); print(int(t - t % 3600 + 3630))'")
        capture_host.run_expect([0], f"runuser -u hotcold -- env HOTCOLD_NOW={next_hour} hotcold archive --once")
        finished = capture_host.file(playlist).content_string
        assert "#EXT-X-PLAYLIST-TYPE:VOD" in finished and finished.rstrip().endswith("#EXT-X-ENDLIST"), finished[-300:]
        decode = capture_host.run(f"ffmpeg -v error -i {playlist} -f null -")
        assert decode.rc == 0, decode.stderr
        record("clean_stop", "clean stop (capture, then archiver): nothing left in RAM, hour closes as VOD",
               tried=1, produced=None, lost=0, left_in_ram=0,
               source=f"{SOURCE}::test_clean_stop_of_the_archiver_leaves_nothing_unarchived_in_ram")
    finally:
        capture_host.run_expect([0], f"systemctl unmask --runtime {units}")
        capture_host.run_expect([0], "systemctl start hotcold-archiver")
        capture_host.run_expect([0], f"systemctl start {units}")


def test_stop_under_load_flushes_what_was_in_ram(capture_host, hostvars, devices):
    # Capture keeps writing while the archiver stops: every file hashed in RAM just before the stop is on
    # the SD afterwards with the same bytes.
    base, device = hostvars["hotcold_base_path"], devices[0]
    rounds = scaled(1, 5)
    produced = 0
    for _ in range(rounds):
        assert wait_until(lambda: len(hot_files(capture_host, base, device)) > 20, 40)
        before = hot_hashes(capture_host, base, device)
        capture_host.run_expect([0], "systemctl stop hotcold-archiver")
        try:
            missing, differing = lost_and_torn(capture_host, base, device, before)
            assert missing == [], f"in RAM before the stop, not on the SD after: {missing[:5]}"
            assert differing == [], f"on the SD with other bytes than in RAM: {differing[:5]}"
        finally:
            capture_host.run_expect([0], "systemctl start hotcold-archiver")
        produced += len(before)
    record("clean_stop", "stop the archiver under load (capture running)", tried=rounds, produced=produced,
           lost=0, torn=0, source=f"{SOURCE}::test_stop_under_load_flushes_what_was_in_ram")


# Inside the host: SIGSTOP the archiver, then every ~0.4 s note the stopped process's state (before and after
# the health run), the unit's MainPID and health's archiver rows, until a new archiver is healthy.
HANG_AND_WATCH = r'''
import json, os, signal, subprocess, time
def main_pid():
    out = subprocess.run(["systemctl", "show", "-p", "MainPID", "--value", "hotcold-archiver"],
                         capture_output=True, text=True).stdout
    return int(out.strip() or 0)
def state(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "gone"
pid = main_pid()
t0 = time.monotonic()
os.kill(pid, signal.SIGSTOP)
log = []
while time.monotonic() - t0 < 100:
    before = state(pid)
    health = subprocess.run(["hotcold", "health"], capture_output=True, text=True)
    after = state(pid)
    rows = [r.split(None, 3) for r in health.stdout.splitlines()]
    rows = [r + [""] * (4 - len(r)) for r in rows if len(r) >= 3 and r[1] == "archiver"]
    now_pid = main_pid()
    log.append({"t": round(time.monotonic() - t0, 2), "stopped": before == "T" and after == "T",
                "gone": after == "gone", "pid": now_pid, "rc": health.returncode,
                "states": [r[2] for r in rows], "detail": rows[0][3] if rows else ""})
    if now_pid not in (pid, 0) and rows and all(r[2] == "OK" for r in rows):
        break
    time.sleep(0.2)
print(json.dumps({"pid": pid, "log": log}))
'''


def test_hung_archiver_is_restarted_by_the_watchdog_and_health_says_so(capture_host):
    # WatchdogSec=30 and health's heartbeat_max_age_seconds=10 (the preflight keeps it below WatchdogSec):
    # the heartbeat (every 2 s) goes stale ~10 s into the hang, so health reports the stopped archiver for
    # ~20 s before the watchdog kills it, then the dead pid until the restarted archiver beats (RestartSec=5).
    rounds = scaled(1, 3)
    kill_seconds, restart_seconds, crit_seconds, stopped_crit, texts = [], [], [], 0, {}
    for _ in range(rounds):
        run = hosttools.run_python(capture_host, HANG_AND_WATCH, timeout=120)
        pid, log = run["pid"], run["log"]
        crit = [e for e in log if "CRIT" in e["states"]]
        restarted = [e for e in log if e["pid"] not in (pid, 0)]
        assert restarted, f"the watchdog did not restart the hung archiver: {log[-3:]}"
        assert crit, f"health never reported the hung archiver: {log[-5:]}"
        assert all(e["rc"] == 2 for e in crit), crit[:3]
        # Health is CRIT without a gap from its first CRIT until the restarted archiver's first heartbeat.
        first = log.index(crit[0])
        healthy = next((i for i, e in enumerate(log) if e["pid"] not in (pid, 0) and e["states"]
                        and all(s == "OK" for s in e["states"])), None)
        assert healthy is not None, f"the restarted archiver never became healthy: {log[-3:]}"
        assert all("CRIT" in e["states"] for e in log[first:healthy]), log[first:healthy]
        kill_seconds.append(next(e["t"] for e in log if e["gone"]))
        restart_seconds.append(restarted[0]["t"])
        crit_seconds.append(crit[0]["t"])
        while_stopped = [e for e in crit if e["stopped"]]
        assert while_stopped, f"health did not report the archiver while it hung (before the watchdog): {log[:40]}"
        stopped_crit += 1
        texts["while stopped"] = while_stopped[0]["detail"]
        texts["after the kill"] = next((e["detail"] for e in crit if e["gone"]), None)
    journal = capture_host.run("journalctl -u hotcold-archiver --no-pager").stdout.lower()
    assert "watchdog" in journal
    assert capture_host.service("hotcold-archiver").is_running
    record("watchdog", "SIGSTOP the archiver: systemd's watchdog restarts it, health reports it", tried=rounds,
           seconds_to_watchdog_kill=max(kill_seconds), seconds_to_restart=max(restart_seconds),
           seconds_to_health_crit=max(crit_seconds),
           health_exit_code=2, health_crit_while_stopped=f"{stopped_crit}/{rounds}",
           health_text=texts,
           source=f"{SOURCE}::test_hung_archiver_is_restarted_by_the_watchdog_and_health_says_so")


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
