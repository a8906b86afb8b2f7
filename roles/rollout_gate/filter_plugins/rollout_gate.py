"""The rollout gate's verdict (roles/rollout_gate): is a host healthy after its settle window?

The role samples each host twice, at the start and at the end of the window: ``hotcold health --json``
(the runtime's own checks) and ``systemctl show`` of the archiver and capture units (their restart
counters). This filter compares the two samples and returns one line per problem, each naming the device
(or the archiver) and what failed; an empty list lets the next batch start. All the rules live here, so
the role's tasks only sample, wait and assert.
"""

import json

STATES = ("OK", "WARN", "CRIT")


def parse_units(text):
    """Given ``systemctl show -p Id -p NRestarts -p ActiveState -p SubState UNIT...`` output (one block of
    KEY=VALUE lines per unit, blank lines between them), return {unit id: {key: value}}."""
    units, block = {}, {}
    for line in text.splitlines() + [""]:
        if line.strip():
            key, _, value = line.partition("=")
            block[key.strip()] = value.strip()
        elif block:
            units[block.get("Id", "")] = block
            block = {}
    return units


def parse_health(text):
    """Given ``hotcold health --json``'s stdout, return its document, or None if it printed no JSON."""
    try:
        doc = json.loads(text)
    except (TypeError, ValueError):
        return None
    return doc if isinstance(doc, dict) else None


def restarts(unit):
    """NRestarts of a parsed unit, or None when systemd did not report it (an unknown unit)."""
    try:
        return int(unit.get("NRestarts", ""))
    except ValueError:
        return None


def unit_problems(name, before, after, seconds):
    """Given a unit's name and its start and end blocks, return why it is not healthy: not active at the
    end, restarted during the window (a crash loop that systemd still calls started), or both (a crash loop
    sampled while systemd waits to restart it: activating/auto-restart)."""
    first, last = restarts(before or {}), restarts(after or {})
    restarted = (f"restarted {last - first} time(s) in the {seconds:g} s window (NRestarts {first} -> {last}; "
                 f"journalctl -u {name} says why)") if first is not None and last is not None and last > first else ""
    if not after or after.get("ActiveState") != "active":
        state = f"{after.get('ActiveState')}/{after.get('SubState')}" if after else "unknown"
        return [f"{name} is {state}, not active" + (f", and {restarted}" if restarted else "")]
    return [f"{name} {restarted}"] if restarted else []


def check_problems(checks, accept_warn):
    """Given a device's health checks, return each check that is CRIT, or WARN unless WARN is accepted."""
    floor = STATES.index("CRIT" if accept_warn else "WARN")
    bad = [c for c in checks.values() if STATES.index(c.get("state", "CRIT")) >= floor]
    return [f"{c.get('name')} {c.get('state')}: {c.get('detail')}" for c in bad]


def archived(device_doc):
    """The device's archived_files counter (since the archiver started), or None without one."""
    counters = (device_doc or {}).get("counters") or {}
    return counters.get("archived_files")


def archive_problems(before, after, seconds):
    """Files must reach the SD: the device's archived counter grew during the window (from 0 when the
    archiver restarted just before it: the start sample may still read the old heartbeat's count)."""
    first, last = archived(before), archived(after)
    if last is None:
        return ["no archiver counters: the archiver does not serve it"]
    if last <= (first if first is not None and first <= last else 0):
        return [f"no file archived to the SD in the {seconds:g} s window (archived {first} -> {last})"]
    return []


def device_problems(device, start, end, accept_warn, seconds):
    """Given a device name and the parsed samples, return its problems, each prefixed with the device."""
    after = end["health"]["devices"].get(device)
    if after is None:
        return [f"{device}: not in `hotcold health` (the runtime config does not list it)"]
    before = start["health"]["devices"].get(device) if start["health"] else None
    unit = f"hotcold-capture@{device}.service"
    found = (check_problems(after.get("checks") or {}, accept_warn)
             + unit_problems(unit, start["units"].get(unit), end["units"].get(unit), seconds)
             + archive_problems(before, after, seconds))
    return [f"{device}: {problem}" for problem in found]


def rollout_gate_problems(end, start, devices, accept_warn=False, seconds=0, archiver_unit="hotcold-archiver.service"):
    """Given the end and start samples ({"health": stdout of hotcold health --json, "units": stdout of
    systemctl show}), the host's device names, whether WARN passes and the window's length, return one line
    per problem (empty: the host is healthy)."""
    samples = [{"health": parse_health(s["health"]), "units": parse_units(s["units"])} for s in (start, end)]
    first, last = samples
    if last["health"] is None:
        return [f"hotcold health --json printed no JSON document: {end['health'][:200]!r}"]
    seconds = float(seconds)
    problems = [f"archiver: {p}" for p in unit_problems(archiver_unit, first["units"].get(archiver_unit),
                                                          last["units"].get(archiver_unit), seconds)]
    for device in devices:
        problems += device_problems(device, first, last, accept_warn, seconds)
    return problems


class FilterModule:
    """rollout_gate_problems: the gate's verdict, one line per problem."""

    def filters(self):
        return {"rollout_gate_problems": rollout_gate_problems}
