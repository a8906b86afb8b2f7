"""The rollout gate's verdict (roles/rollout_gate/filter_plugins/rollout_gate.py), from two samples of a host.

A sample is what the role's tasks read on the host: `hotcold health --json` (its document, as the runtime
prints it) and `systemctl show -p Id,NRestarts,ActiveState,SubState` of the archiver and capture units. The
end-to-end case (a broken source stopping a real rollout) is molecule/fleet/tests/test_rollout_gate.py.
"""

import importlib.util
import json
import pathlib

ROOT = pathlib.Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location(
    "rollout_gate", ROOT / "roles" / "rollout_gate" / "filter_plugins" / "rollout_gate.py")
gate = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(gate)

DEVICES = ["cam-a", "cam-b"]


def check(name, state="OK", detail="fine"):
    return {"name": name, "state": state, "value": ("OK", "WARN", "CRIT").index(state), "detail": detail}


def device(archived, **states):
    """A device of the health document: every check OK unless named in states (key: (state, detail))."""
    checks = {key: check(key.replace("_", " ")) for key in ("hot_mount", "archiver", "capture", "sd_free")}
    for key, (state, detail) in states.items():
        checks[key] = check(key.replace("_", " "), state, detail)
    worst = max((c["state"] for c in checks.values()), key=("OK", "WARN", "CRIT").index)
    return {"state": worst, "checks": checks, "counters": {"archived_files": archived, "dropped_files": 0}}


def health(**devices):
    return json.dumps({"format": 1, "overall": "OK", "devices": devices}, indent=2)


def units(restarts, archiver_restarts=0, states=None):
    """systemctl show's output for the archiver and each device's capture unit (properties in systemd's order)."""
    states = states or {}
    blocks = [f"NRestarts={archiver_restarts}\nId=hotcold-archiver.service\nActiveState=active\nSubState=running"]
    for name in DEVICES:
        active, sub = states.get(name, ("active", "running"))
        blocks.append(f"NRestarts={restarts.get(name, 0)}\nId=hotcold-capture@{name}.service\n"
                      f"ActiveState={active}\nSubState={sub}")
    return "\n\n".join(blocks) + "\n"


START = {"health": health(**{"cam-a": device(40), "cam-b": device(38)}), "units": units({"cam-a": 0, "cam-b": 0})}


def verdict(end, start=START, accept_warn=False):
    return gate.rollout_gate_problems(end, start, DEVICES, accept_warn, 30)


def test_a_healthy_host_passes():
    end = {"health": health(**{"cam-a": device(95), "cam-b": device(90)}), "units": units({})}
    assert verdict(end) == []


def test_a_crash_looping_capture_fails_although_health_and_systemd_call_it_fine():
    end = {"health": health(**{"cam-a": device(95), "cam-b": device(90)}), "units": units({"cam-b": 11})}
    problems = verdict(end, start={**START, "units": units({"cam-b": 3})})
    assert problems == ["cam-b: hotcold-capture@cam-b.service restarted 8 time(s) in the 30 s window "
                        "(NRestarts 3 -> 11; journalctl -u hotcold-capture@cam-b.service says why)"]


def test_a_broken_source_names_the_device_and_the_failing_check():
    end = {"health": health(**{"cam-a": device(95), "cam-b": device(0, capture=("CRIT", "no capture in RAM"))}),
           "units": units({"cam-b": 14})}
    problems = verdict(end, start={"health": health(**{"cam-a": device(40), "cam-b": device(0)}),
                                   "units": units({"cam-b": 2})})
    assert problems == [
        "cam-b: capture CRIT: no capture in RAM",
        "cam-b: hotcold-capture@cam-b.service restarted 12 time(s) in the 30 s window "
        "(NRestarts 2 -> 14; journalctl -u hotcold-capture@cam-b.service says why)",
        "cam-b: no file archived to the SD in the 30 s window (archived 0 -> 0)",
    ]


def test_warn_stops_the_rollout_unless_the_inventory_accepts_it():
    slow = ("WARN", "150/100 in RAM (150%), 40 older than 3s not archived")
    end = {"health": health(**{"cam-a": device(95, hot_captures=slow), "cam-b": device(90)}), "units": units({})}
    assert verdict(end) == ["cam-a: hot captures WARN: 150/100 in RAM (150%), 40 older than 3s not archived"]
    assert verdict(end, accept_warn=True) == []


def test_crit_stops_the_rollout_even_when_warn_is_accepted():
    end = {"health": health(**{"cam-a": device(95), "cam-b": device(90, hot_mount=("CRIT", "not a mount point"))}),
           "units": units({})}
    assert verdict(end, accept_warn=True) == ["cam-b: hot mount CRIT: not a mount point"]


def test_files_must_reach_the_sd_during_the_window():
    end = {"health": health(**{"cam-a": device(40), "cam-b": device(90)}), "units": units({})}
    assert verdict(end) == ["cam-a: no file archived to the SD in the 30 s window (archived 40 -> 40)"]


def test_a_capture_unit_that_gave_up_is_not_healthy():
    end = {"health": health(**{"cam-a": device(95), "cam-b": device(90)}),
           "units": units({}, states={"cam-a": ("failed", "failed")})}
    assert verdict(end) == ["cam-a: hotcold-capture@cam-a.service is failed/failed, not active"]


def test_a_capture_caught_between_two_restarts_says_its_state_and_its_restarts():
    """A crash loop sampled while systemd waits to restart it (molecule fleet, 2026-12-03: `activating/auto-restart`):
    the message must still say it restarted during the window, not only that it is not active."""
    end = {"health": health(**{"cam-a": device(95), "cam-b": device(90)}),
           "units": units({"cam-b": 9}, states={"cam-b": ("activating", "auto-restart")})}
    assert verdict(end, start={**START, "units": units({"cam-b": 2})}) == [
        "cam-b: hotcold-capture@cam-b.service is activating/auto-restart, not active, and restarted 7 time(s) in the "
        "30 s window (NRestarts 2 -> 9; journalctl -u hotcold-capture@cam-b.service says why)"]


def test_a_restarted_archiver_is_named():
    end = {"health": health(**{"cam-a": device(95), "cam-b": device(90)}), "units": units({}, archiver_restarts=1)}
    assert verdict(end) == ["archiver: hotcold-archiver.service restarted 1 time(s) in the 30 s window "
                            "(NRestarts 0 -> 1; journalctl -u hotcold-archiver.service says why)"]


def test_a_device_the_runtime_does_not_know_is_named():
    end = {"health": health(**{"cam-a": device(95)}), "units": units({})}
    assert verdict(end) == ["cam-b: not in `hotcold health` (the runtime config does not list it)"]


def test_no_health_document_is_a_problem_not_a_crash():
    end = {"health": "Traceback (most recent call last):\n  ...", "units": units({})}
    assert verdict(end) == [
        "hotcold health --json printed no JSON document: 'Traceback (most recent call last):\\n  ...'"]


def test_units_are_parsed_whatever_the_order_of_properties():
    parsed = gate.parse_units("Id=a.service\nNRestarts=2\n\nActiveState=active\nId=b.service\nNRestarts=0\n")
    assert parsed == {"a.service": {"Id": "a.service", "NRestarts": "2"},
                      "b.service": {"ActiveState": "active", "Id": "b.service", "NRestarts": "0"}}


def test_a_counter_reset_by_an_archiver_restart_before_the_window_still_counts_files():
    """The handlers may restart the archiver just before the first sample, which then reads the old heartbeat."""
    end = {"health": health(**{"cam-a": device(12), "cam-b": device(9)}), "units": units({})}
    assert verdict(end) == []
    idle = {"health": health(**{"cam-a": device(0), "cam-b": device(9)}), "units": units({})}
    assert verdict(idle) == ["cam-a: no file archived to the SD in the 30 s window (archived 40 -> 0)"]
