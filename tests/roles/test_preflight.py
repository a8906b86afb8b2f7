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

# Under pytest-xdist (`make unit`: -n 2 --dist loadgroup) the module-scoped bad_runs would run once on each worker
# that gets one of its tests: ~70 site.yml runs, about 2 minutes. The group keeps the module on one worker.
pytestmark = pytest.mark.xdist_group("preflight")


def dev(name, **kw):
    return {"name": name, "input": "testsrc", **kw}


# Every preflight rule, by the phrase(s) that only its refusal contains (a tuple: all of them). A refusal
# must name the rule(s) its case breaks and none of the others: the message names only what is wrong.
RULES = {
    "devices_empty": "must list at least one device",
    "devices_duplicated": "duplicated",
    "device_name": "must match ^[a-z0-9_-]{1,32}$",
    "device_input": "must be one of: v4l2, rtsp, testsrc",
    "v4l2_source": "a v4l2 source must be",
    "rtsp_source": "an rtsp source must be",
    "video_choice": "must be one of: copy, x264, v4l2m2m",
    "video_input": "needs input=",
    "device_tmpfs_size": "has tmpfs_size=",
    "tmpfs_size": "hot_storage_tmpfs_size",
    "base_path": ("(hotcold_base_path)=", "must be an absolute path without"),
    "user": "(hotcold_user)=",
    "hot_limits": "archiver_hot_limits",
    "retention_hours": "archiver_retention_hours",
    "archive_numbers": ("archiver_archive: ", "must be > 0"),
    "health_numbers": "archiver_health: ",
    "percent": "must be at most 100",
    "textfile_path": ".prom",
    "url_prefix": "must be a URL path",
    "timezone": "(hotcold_timezone)=",
    "runtime_src": "archiver_runtime_src",
    "heartbeat": "archiver_watchdog_sec",
    "capture_unknown_key": "framrate",
    "capture_size": "WIDTHxHEIGHT",
    "capture_bitrate": "bit rate",
    "capture_rates": "frames per second",
    "segment_seconds": "segment_seconds=",
    "jpeg_quality": "jpeg_quality=",
    "input_format": "input_format=",
    "hls_list_size": "capture_hls_list_size=",
    "threads": "capture_threads=",
    "restart_sec": "capture_restart_sec=",
    "time_sync_wait": "capture_time_sync_wait_seconds=",
    "listen_port": "stream_endpoints_listen_port",
    "prefix_not_api": "must not be under /api",
    "nginx_path": "; { } $",
    "paths_apart": "inside each other",
    "server_name": "stream_endpoints_server_name",
    "max_capture_age": "stream_endpoints_max_capture_age_seconds",
    "cleanup_minute": "cleanup_minute",
    "health_dir": ("(hotcold_health_textfile_dir)=", "must be an absolute path"),
    "health_dir_mode": "health_textfile_dir_mode",
    "health_minute": "health_minute",
    "sd_card_size": "size_gb=",
    "sd_card_cycles": "rated_cycles=",
    "sd_min_life": "(hotcold_sd_min_life_years)=",
    "evict_floor": "evict_floor_hours=",
    "sd_budget": "(hotcold_sd_budget_gb_per_day)=",
    "sd_budget_order": "(hotcold_sd_budget_order)=",
    "sd_budget_interval": "(hotcold_sd_budget_min_interval)",
    "checkpoint": "checkpoint_seconds=",
    "web_src": "make web",
    "capacity_reserve": "(hotcold_capacity_ram_reserve)",
    "capacity_file_bytes": "(hotcold_capacity_file_bytes)",
    "rollout_settle": "(hotcold_rollout_settle_seconds)=",
}

# id: (override vars, substrings the failure message must contain: the variable and the value,
#      the RULES the case breaks: the message names these and no other rule)
BAD = {
    "name_with_space": ({"hotcold_devices": [dev("Cam 1")]}, ["hotcold_devices", "Cam 1"], ["device_name"]),
    "name_upper_case": ({"hotcold_devices": [dev("capture1"), dev("Capture2")]}, ["hotcold_devices", "Capture2"],
                        ["device_name"]),
    "name_too_long": ({"hotcold_devices": [dev("c" * 33)]}, ["hotcold_devices", "c" * 33], ["device_name"]),
    "name_with_slash": ({"hotcold_devices": [dev("../etc")]}, ["hotcold_devices", "../etc"], ["device_name"]),
    "duplicate_names": ({"hotcold_devices": [dev("capture1"), dev("capture1")]},
                        ["hotcold_devices", "capture1", "duplicated"], ["devices_duplicated"]),
    "no_devices": ({"hotcold_devices": []}, ["hotcold_devices", "at least one device"], ["devices_empty"]),
    "unknown_input": ({"hotcold_devices": [dev("cam", input="usb")]}, ["devices", "input", "usb"], ["device_input"]),
    "v4l2_without_source": ({"hotcold_devices": [{"name": "cam", "input": "v4l2"}]},
                            ["hotcold_devices", "cam", "source=null"], ["v4l2_source"]),
    "rtsp_without_source": ({"hotcold_devices": [{"name": "cam1", "input": "rtsp"}]},
                            ["hotcold_devices", "cam1", "rtsp", "source=null"], ["rtsp_source"]),
    "rtsp_with_device_path": (
        {"hotcold_devices": [{"name": "cam", "input": "rtsp", "source": "/dev/video0"}]},
        ["hotcold_devices", "/dev/video0"], ["rtsp_source"],
    ),
    "copy_of_testsrc": ({"hotcold_devices": [dev("cam", video="copy")]},
                        ["hotcold_devices", '"cam"', 'input="testsrc"', 'video="copy"', 'use video="x264"'],
                        ["video_input"]),
    "v4l2m2m_of_rtsp": (
        {"hotcold_devices": [{"name": "door", "input": "rtsp", "source": "rtsp://192.0.2.50/s", "video": "v4l2m2m"}]},
        ["hotcold_devices", '"door"', 'input="rtsp"', 'video="v4l2m2m"', 'needs input="v4l2"'], ["video_input"],
    ),
    "unknown_video": ({"hotcold_devices": [dev("cam", video="h265")]}, ["devices", "video", "h265"],
                      ["video_choice"]),
    "tmpfs_size_unit": ({"hotcold_tmpfs_size": "100X"}, ["hotcold_tmpfs_size", "100X"], ["tmpfs_size"]),
    "tmpfs_size_zero": ({"hotcold_devices": [dev("cam", tmpfs_size="0M")]}, ["tmpfs_size", "0M"],
                        ["device_tmpfs_size"]),
    "tmpfs_size_percent": ({"hotcold_tmpfs_size": "150%"}, ["hotcold_tmpfs_size", "150%"], ["tmpfs_size"]),
    "hot_limit_zero": ({"hotcold_hot_limits": {"captures": 0}}, ["hotcold_hot_limits", "captures=0"], ["hot_limits"]),
    "hot_limit_negative": ({"hotcold_hot_limits": {"segments": -3}}, ["hotcold_hot_limits", "segments=-3"],
                           ["hot_limits"]),
    "hot_limit_unknown_kind": ({"hotcold_hot_limits": {"frames": 5}}, ["hot_limits", "frames"], ["hot_limits"]),
    "retention_25": ({"hotcold_retention_hours": {"thumbnails": 25}}, ["hotcold_retention_hours", "thumbnails=25"],
                     ["retention_hours"]),
    "retention_0": ({"hotcold_retention_hours": {"captures": 0}}, ["hotcold_retention_hours", "captures=0"],
                    ["retention_hours"]),
    "time_sync_wait_negative": ({"capture_time_sync_wait_seconds": -1}, ["capture_time_sync_wait_seconds=-1"],
                                ["time_sync_wait"]),
    "capture_typo": ({"hotcold_capture": {"framrate": 25}}, ["capture_settings", "framrate"],
                     ["capture_unknown_key"]),
    "capture_fps_negative": ({"hotcold_capture": {"capture_fps": -1}}, ["hotcold_capture", "capture_fps=-1"],
                             ["capture_rates"]),
    "capture_video_size": ({"hotcold_capture": {"video_size": "big"}}, ["hotcold_capture", "video_size=\"big\""],
                           ["capture_size"]),
    "jpeg_quality_1": ({"hotcold_capture": {"jpeg_quality": 1}}, ["hotcold_capture", "jpeg_quality=1"],
                       ["jpeg_quality"]),
    "timezone": ({"hotcold_timezone": "Not a zone!"}, ["hotcold_timezone", "Not a zone!"], ["timezone"]),
    "url_prefix": ({"hotcold_url_prefix": "host/stream/"}, ["hotcold_url_prefix", "host/stream/"], ["url_prefix"]),
    "url_prefix_under_api": ({"hotcold_url_prefix": "/api/stream"}, ["hotcold_url_prefix", "/api/stream"],
                             ["prefix_not_api"]),
    "base_path_relative": ({"hotcold_base_path": "var/www/stream"}, ["hotcold_base_path", "var/www/stream"],
                           ["base_path"]),
    "base_path_in_web_root": ({"hotcold_base_path": "/var/www/hotcold-web/stream"},
                              ["hotcold_base_path", "/var/www/hotcold-web/stream", "stream_endpoints_web_root"],
                              ["paths_apart"]),
    "user_upper_case": ({"hotcold_user": "Hotcold"}, ["hotcold_user", "Hotcold"], ["user"]),
    "cleanup_minute": ({"cleanup_minute": 60}, ["cleanup_minute", "60"], ["cleanup_minute"]),
    "sd_card_size_zero": ({"hotcold_sd_card": {"size_gb": 0}}, ["hotcold_sd_card", "size_gb=0"], ["sd_card_size"]),
    "sd_card_cycles_zero": ({"hotcold_sd_card": {"rated_cycles": 0}}, ["hotcold_sd_card", "rated_cycles=0"],
                            ["sd_card_cycles"]),
    "sd_min_life_negative": ({"hotcold_sd_min_life_years": -1}, ["hotcold_sd_min_life_years", "-1"],
                             ["sd_min_life"]),
    "evict_floor_25": ({"archiver_archive": {"rescan_seconds": 5, "batch_seconds": 0.25, "segment_margin": 2,
                                             "high_water_percent": 80, "evict_floor_hours": 25,
                                             "every_nth": {"captures": 1, "thumbnails": 1}}},
                       ["archiver_archive.evict_floor_hours=25"], ["evict_floor"]),
    "sd_budget_zero": ({"hotcold_sd_budget_gb_per_day": 0}, ["hotcold_sd_budget_gb_per_day", "=0"], ["sd_budget"]),
    "sd_budget_negative": ({"hotcold_sd_budget_gb_per_day": -2.5}, ["hotcold_sd_budget_gb_per_day", "=-2.5"],
                           ["sd_budget"]),
    "sd_budget_text": ({"hotcold_sd_budget_gb_per_day": "lots"}, ["hotcold_sd_budget_gb_per_day", '"lots"'],
                       ["sd_budget"]),
    "sd_budget_order_unknown_kind": ({"hotcold_sd_budget_order": ["captures", "frames"]},
                                     ["hotcold_sd_budget_order", '["captures", "frames"]'], ["sd_budget_order"]),
    "sd_budget_order_twice": ({"hotcold_sd_budget_order": ["captures", "captures"]},
                              ["hotcold_sd_budget_order", '["captures", "captures"]'], ["sd_budget_order"]),
    "sd_budget_interval_zero": ({"hotcold_sd_budget_min_interval": {"captures": 0}},
                                ["hotcold_sd_budget_min_interval", "captures=0"], ["sd_budget_interval"]),
    "sd_budget_interval_unknown_kind": ({"hotcold_sd_budget_min_interval": {"frames": 5}},
                                        ["hotcold_sd_budget_min_interval", "frames=5"], ["sd_budget_interval"]),
    "sd_budget_interval_one_bad_value": ({"hotcold_sd_budget_min_interval": -1},
                                         ["hotcold_sd_budget_min_interval", "=-1"], ["sd_budget_interval"]),
    "checkpoint_121": ({"archiver_archive": {"rescan_seconds": 5, "batch_seconds": 0.25, "checkpoint_seconds": 121,
                                             "segment_margin": 2, "high_water_percent": 80, "evict_floor_hours": 2,
                                             "every_nth": {"captures": 1, "thumbnails": 1}}},
                       ["archiver_archive.checkpoint_seconds=121"], ["checkpoint"]),
    "checkpoint_half": ({"archiver_archive": {"rescan_seconds": 5, "batch_seconds": 0.25, "checkpoint_seconds": 0.5,
                                              "segment_margin": 2, "high_water_percent": 80, "evict_floor_hours": 2,
                                              "every_nth": {"captures": 1, "thumbnails": 1}}},
                        ["archiver_archive.checkpoint_seconds=0.5"], ["checkpoint"]),
    "health_minute": ({"health_minute": "*/0"}, ["health_minute", "*/0"], ["health_minute"]),
    "listen_port": ({"stream_endpoints_listen_port": 70000}, ["stream_endpoints_listen_port", "70000"],
                    ["listen_port"]),
    "web_src_missing": ({"stream_endpoints_web_src": "/nonexistent/web/dist"},
                        ["stream_endpoints_web_src", '"/nonexistent/web/dist"', "has no index.html",
                         'set stream_endpoints_web_src to ""'], ["web_src"]),
    # What a fresh clone has before `make web`: the folder of the page's sources, but no build in it.
    "web_src_not_built": ({"stream_endpoints_web_src": str(ROOT / "web")},
                          ["stream_endpoints_web_src", f'"{ROOT / "web"}"', "has no index.html"], ["web_src"]),
    "capacity_reserve_text": ({"hotcold_capacity_ram_reserve": {"os": "lots"}},
                              ["hotcold_capacity_ram_reserve", 'os="lots"'], ["capacity_reserve"]),
    "capacity_file_bytes_kind": ({"hotcold_capacity_file_bytes": {"frames": 3}},
                                 ["hotcold_capacity_file_bytes", "frames=3"], ["capacity_file_bytes"]),
    "capacity_check_maybe": ({"hotcold_capacity_check": "maybe"},
                             ["hot_storage_capacity_check", "refuse, warn", "maybe"], []),
    "rollout_settle_too_short": ({"hotcold_rollout_settle_seconds": 3}, ["hotcold_rollout_settle_seconds", "=3"],
                                 ["rollout_settle"]),
    "rollout_settle_text": ({"hotcold_rollout_settle_seconds": "1m"}, ["hotcold_rollout_settle_seconds", "1m"],
                            ["rollout_settle"]),
    "heartbeat_not_below_watchdog": ({"archiver_health": {"heartbeat_max_age_seconds": 30}},
                                     ["heartbeat_max_age_seconds=30", "archiver_watchdog_sec=30"], ["heartbeat"]),
}


def run_site(tmp_dir, name, overrides, extra_args=(), var_files=(DEMO_VARS,)):
    inventory = tmp_dir / f"{name}.inventory.yml"
    inventory.write_text(
        yaml.safe_dump({"capture_hosts": {"hosts": {"localhost": {"ansible_connection": "local"}}}}), encoding="utf-8"
    )
    # A built page of its own, so the cases do not depend on whether this checkout ran `make web` (a case may
    # override it).
    page = tmp_dir / "web-dist"
    page.mkdir(exist_ok=True)
    (page / "index.html").write_text("<!doctype html><title>hotcold</title>\n", encoding="utf-8")
    bad = tmp_dir / f"{name}.vars.json"
    bad.write_text(json.dumps({"stream_endpoints_web_src": str(page), **overrides}), encoding="utf-8")
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


def phrases(rule):
    """Given a RULES key, return the phrases that name that rule."""
    value = RULES[rule]
    return list(value) if isinstance(value, tuple) else [value]


def check_refused(bad_runs, case):
    """Given a BAD case, check that site.yml refused it in the preflight, naming the culprit and no rule that holds."""
    proc, report = bad_runs[case]
    _, expected, broken = BAD[case]
    assert proc.returncode != 0, f"{case}: site.yml succeeded with a bad variable"
    failed = failures(report)
    assert failed, f"{case}: no failed task in the report\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}"
    play, task, msg = failed[0]
    assert play == PREFLIGHT_PLAY, f"{case}: failed outside the preflight, in {play!r} / {task!r}"
    for text in expected + [phrase for rule in broken for phrase in phrases(rule)]:
        assert text in msg, f"{case}: the message does not name {text!r}:\n{msg}"
    holding = [rule for rule in RULES if rule not in broken and all(phrase in msg for phrase in phrases(rule))]
    assert not holding, f"{case}: the message names rules that hold {sorted(holding)}:\n{msg}"
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
     (PRODUCTION_VARS, PRODUCTION_VARS.parent.parent / "host_vars" / "capture-pi-03.yml"),
     (PRODUCTION_VARS, ROOT / "inventory" / "presets" / "sd-saver.yml")],
    ids=["demo", "production", "production-host-vars", "production-sd-saver"],
)
def test_shipped_inventories_pass_the_preflight(tmp_path, var_files):
    proc, report = run_site(tmp_path, "shipped", {}, ["--tags", "preflight"], var_files=var_files)
    assert proc.returncode == 0, failures(report) or proc.stderr[-3000:]
    assert not failures(report)


def test_no_page_is_an_explicit_choice(tmp_path):
    """stream_endpoints_web_src: "" ships no page on purpose: the preflight lets it through."""
    proc, report = run_site(tmp_path, "no_page", {"stream_endpoints_web_src": ""}, ["--tags", "preflight"])
    assert proc.returncode == 0, failures(report) or proc.stderr[-3000:]
    assert not failures(report)
