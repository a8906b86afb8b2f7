"""The preflight play of site.yml stops bad inventory variables before any change.

Each case runs the real site.yml (check mode, against localhost, so nothing can change even if the
preflight let a case through) with the demo inventory's variables plus one bad override, and checks:
the run fails, the failure names the variable and the bad value, and no task outside the preflight
play ran. The cases run in parallel; the whole module takes well under a minute.
"""

import concurrent.futures
import json
import os
import pathlib
import subprocess

import pytest
import yaml
from record import record

ROOT = pathlib.Path(__file__).resolve().parents[2]
PLAYBOOK = ROOT / "site.yml"
DEMO_VARS = ROOT / "inventory" / "demo" / "group_vars" / "capture_hosts.yml"
PRODUCTION_VARS = ROOT / "inventory" / "production" / "group_vars" / "capture_hosts.yml"
PREFLIGHT_PLAY = "Preflight, validate the variables of every role before any change"
BIN = pathlib.Path(os.environ.get("VIRTUAL_ENV", ROOT / ".venv")) / "bin"
ANSIBLE_PLAYBOOK = str(BIN / "ansible-playbook") if (BIN / "ansible-playbook").exists() else "ansible-playbook"


def dev(name, **kw):
    return {"name": name, "input": "testsrc", **kw}


# id: (override vars, substrings the failure message must contain: the variable and the value)
BAD = {
    "name_with_space": ({"hotcold_devices": [dev("Cam 1")]}, ["hotcold_devices", "Cam 1"]),
    "name_upper_case": ({"hotcold_devices": [dev("capture1"), dev("Capture2")]}, ["hotcold_devices", "Capture2"]),
    "name_too_long": ({"hotcold_devices": [dev("c" * 33)]}, ["hotcold_devices", "c" * 33]),
    "name_with_slash": ({"hotcold_devices": [dev("../etc")]}, ["hotcold_devices", "../etc"]),
    "duplicate_names": ({"hotcold_devices": [dev("capture1"), dev("capture1")]},
                        ["hotcold_devices", "capture1", "duplicated"]),
    "no_devices": ({"hotcold_devices": []}, ["hotcold_devices", "at least one device"]),
    "unknown_input": ({"hotcold_devices": [dev("cam", input="usb")]}, ["devices", "input", "usb"]),
    "v4l2_without_source": ({"hotcold_devices": [{"name": "cam", "input": "v4l2"}]},
                            ["hotcold_devices", "cam", "source"]),
    "rtsp_with_device_path": (
        {"hotcold_devices": [{"name": "cam", "input": "rtsp", "source": "/dev/video0"}]},
        ["hotcold_devices", "/dev/video0"],
    ),
    "tmpfs_size_unit": ({"hotcold_tmpfs_size": "100X"}, ["hotcold_tmpfs_size", "100X"]),
    "tmpfs_size_zero": ({"hotcold_devices": [dev("cam", tmpfs_size="0M")]}, ["tmpfs_size", "0M"]),
    "tmpfs_size_percent": ({"hotcold_tmpfs_size": "150%"}, ["hotcold_tmpfs_size", "150%"]),
    "hot_limit_zero": ({"hotcold_hot_limits": {"captures": 0}}, ["hotcold_hot_limits", "captures=0"]),
    "hot_limit_negative": ({"hotcold_hot_limits": {"segments": -3}}, ["hotcold_hot_limits", "segments=-3"]),
    "hot_limit_unknown_kind": ({"hotcold_hot_limits": {"frames": 5}}, ["hot_limits", "frames"]),
    "retention_25": ({"hotcold_retention_hours": {"thumbnails": 25}}, ["hotcold_retention_hours", "thumbnails=25"]),
    "retention_0": ({"hotcold_retention_hours": {"captures": 0}}, ["hotcold_retention_hours", "captures=0"]),
    "capture_typo": ({"hotcold_capture": {"framrate": 25}}, ["capture_settings", "framrate"]),
    "capture_fps_negative": ({"hotcold_capture": {"capture_fps": -1}}, ["hotcold_capture", "-1"]),
    "capture_video_size": ({"hotcold_capture": {"video_size": "big"}}, ["hotcold_capture", "big"]),
    "timezone": ({"hotcold_timezone": "Not a zone!"}, ["hotcold_timezone", "Not a zone!"]),
    "url_prefix": ({"hotcold_url_prefix": "host/stream/"}, ["hotcold_url_prefix", "host/stream/"]),
    "base_path_relative": ({"hotcold_base_path": "var/www/stream"}, ["hotcold_base_path", "var/www/stream"]),
    "cleanup_minute": ({"cleanup_minute": 60}, ["cleanup_minute", "60"]),
    "listen_port": ({"stream_endpoints_listen_port": 70000}, ["stream_endpoints_listen_port", "70000"]),
    "heartbeat_not_below_watchdog": ({"archiver_health": {"heartbeat_max_age_seconds": 30}},
                                     ["heartbeat_max_age_seconds=30", "archiver_watchdog_sec=30"]),
}


def run_site(tmp_dir, name, overrides, extra_args=(), var_files=(DEMO_VARS,)):
    inventory = tmp_dir / f"{name}.inventory.yml"
    inventory.write_text(
        yaml.safe_dump({"capture_hosts": {"hosts": {"localhost": {"ansible_connection": "local"}}}}), encoding="utf-8"
    )
    bad = tmp_dir / f"{name}.vars.json"
    bad.write_text(json.dumps(overrides), encoding="utf-8")
    env = dict(
        os.environ,
        ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"),
        ANSIBLE_STDOUT_CALLBACK="ansible.posix.json",
        ANSIBLE_LOCAL_TEMP=str(tmp_dir / f"{name}.tmp"),
        ANSIBLE_NOCOLOR="1",
    )
    cmd = [ANSIBLE_PLAYBOOK, "-i", str(inventory), str(PLAYBOOK), "--check"]
    for var_file in var_files:
        cmd += ["-e", f"@{var_file}"]
    cmd += ["-e", f"@{bad}", *extra_args]
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    start = proc.stdout.find("{")
    report = json.loads(proc.stdout[start:]) if start >= 0 else {"plays": []}
    return proc, report


def failures(report):
    """(play name, task name, message) of every failed task result."""
    out = []
    for play in report["plays"]:
        for task in play["tasks"]:
            for result in task["hosts"].values():
                if result.get("failed"):
                    msg = result.get("msg", "")
                    if result.get("results"):
                        msg = " ".join([msg] + [str(r.get("msg", "")) for r in result["results"] if r.get("failed")])
                    out.append((play["play"]["name"], task["task"]["name"], msg))
    return out


@pytest.fixture(scope="module")
def bad_runs(tmp_path_factory):
    tmp_dir = tmp_path_factory.mktemp("preflight")
    with concurrent.futures.ThreadPoolExecutor(max_workers=6) as pool:
        futures = {name: pool.submit(run_site, tmp_dir, name, case[0]) for name, case in BAD.items()}
        return {name: f.result() for name, f in futures.items()}


def check_refused(bad_runs, case):
    proc, report = bad_runs[case]
    expected = BAD[case][1]
    assert proc.returncode != 0, f"{case}: site.yml succeeded with a bad variable"
    failed = failures(report)
    assert failed, f"{case}: no failed task in the report\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}"
    play, task, msg = failed[0]
    assert play == PREFLIGHT_PLAY, f"{case}: failed outside the preflight, in {play!r} / {task!r}"
    for text in expected:
        assert text in msg, f"{case}: the message does not name {text!r}:\n{msg}"
    ran = [p["play"]["name"] for p in report["plays"] if p["tasks"]]
    assert ran == [PREFLIGHT_PLAY], f"{case}: plays after the preflight ran: {ran}"
    return msg


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_variable_stops_the_play_before_any_change(bad_runs, case):
    check_refused(bad_runs, case)


@pytest.mark.reliability
def test_every_bad_variable_is_refused_recorded(bad_runs):
    """Issue 7, case 7: all cases at once, for docs/RELIABILITY.md (one example message)."""
    msgs = {case: check_refused(bad_runs, case) for case in sorted(BAD)}
    record("bad_input", "invalid inventory variables (site.yml preflight, check mode)", tried=len(BAD),
           source="tests/roles/test_preflight.py", refused_before_any_change=len(msgs),
           cases=sorted(BAD), example=msgs["name_with_slash"].strip().splitlines()[0][:200])


@pytest.mark.parametrize(
    "var_files",
    [(DEMO_VARS,), (PRODUCTION_VARS,),
     (PRODUCTION_VARS, PRODUCTION_VARS.parent.parent / "host_vars" / "capture-pi-03.yml")],
    ids=["demo", "production", "production-host-vars"],
)
def test_shipped_inventories_pass_the_preflight(tmp_path, var_files):
    proc, report = run_site(tmp_path, "shipped", {}, ["--tags", "preflight"], var_files=var_files)
    assert proc.returncode == 0, failures(report) or proc.stderr[-3000:]
    assert not failures(report)
