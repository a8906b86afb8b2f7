"""Helpers shared by the molecule scenarios' testinfra tests.

The tests talk to the containers through testinfra's podman backend (direct `podman exec`, much faster than
the ansible backend) and read the scenario's own inventory from molecule.yml, so a changed limit or device
list in the scenario is what the tests expect: the values are never written twice.
"""

import json
import os
import pathlib
import shlex
import subprocess
import tempfile
import time

import pytest
import testinfra
import yaml

BASE_DEFAULTS = {
    "hotcold_base_path": "/var/www/html/stream",
    "hotcold_url_prefix": "/host/stream",
    "hotcold_tmpfs_size": "100M",
    "hotcold_hot_limits": {"captures": 100, "thumbnails": 100, "segments": 10},
    "hotcold_retention_hours": {"captures": 1, "thumbnails": 24, "metadata": 24, "segments": 24},
}
JOURNAL_UNITS = ["hotcold-archiver", "hotcold-capture@*", "nginx", "cron"]


def scenario_config():
    directory = pathlib.Path(os.environ["MOLECULE_SCENARIO_DIRECTORY"])
    return yaml.safe_load((directory / "molecule.yml").read_text())


def inventory_vars(host_name):
    """group_vars of the groups the platform is in, then its host_vars, over the roles' defaults."""
    config = scenario_config()
    platform = next(p for p in config["platforms"] if p["name"] == host_name)
    inventory = config.get("provisioner", {}).get("inventory", {})
    merged = dict(BASE_DEFAULTS)
    for group in platform.get("groups", []):
        merged.update(inventory.get("group_vars", {}).get(group, {}))
    merged.update(inventory.get("host_vars", {}).get(host_name, {}))
    return merged


def platform_names():
    return [p["name"] for p in scenario_config()["platforms"]]


def podman_host(name):
    return testinfra.get_host(f"podman://{name}")


def run_python(host, code, timeout=None):
    """Run a Python snippet inside the container and return its JSON answer (last stdout line)."""
    command = f"python3 -c {shlex.quote(code)}"
    if timeout:
        command = f"timeout {int(timeout)} {command}"
    result = host.run(command)
    assert result.rc == 0, f"snippet failed (rc {result.rc}): {result.stderr}"
    return json.loads(result.stdout.strip().splitlines()[-1])


def journal(host, lines=60):
    units = " ".join(f"-u {shlex.quote(u)}" for u in JOURNAL_UNITS)
    return host.run(f"journalctl --no-pager -o short-iso -n {lines} {units}").stdout


def attach_journal_on_failure(item, call, hosts):
    """pytest hook body: a failing check shows what the services said (journalctl -u ...)."""
    if call.when != "call" or call.excinfo is None or call.excinfo.errisinstance(pytest.skip.Exception):
        return
    for name in hosts:
        try:
            text = journal(podman_host(name))
        except Exception as error:  # the container may be gone; say so instead of hiding the failure
            text = f"(journal unavailable: {error})"
        item.add_report_section("call", f"journalctl on {name}", text)


def json_report(stdout):
    """The report of an ansible-playbook run with the ansible.posix.json stdout callback, as a dict.

    Other callbacks still print to stdout before it (molecule enables profile_tasks, whose lines come first), so
    decoding starts at the first line that opens a JSON object and stops where that object ends.
    """
    lines = stdout.splitlines(keepends=True)
    start = next((i for i, line in enumerate(lines) if line.startswith("{")), None)
    assert start is not None, f"no JSON report on stdout:\n{stdout[-3000:]}"
    report, _ = json.JSONDecoder().raw_decode("".join(lines[start:]))
    return report


def site(*args, extra_vars=None, timeout=1200):
    """Run the project's site.yml against the scenario's inventory, as an operator reruns it after editing vars.

    extra_vars (a dict) stand in for the edited inventory file; args go to ansible-playbook as they are (--limit,
    --tags). Output goes through the ansible.posix.json callback. Returns (process, report, seconds).
    """
    project = os.environ["MOLECULE_PROJECT_DIRECTORY"]
    command = ["ansible-playbook", "-i", os.environ["MOLECULE_INVENTORY_FILE"], f"{project}/site.yml", *args]
    env = {**os.environ, "ANSIBLE_CONFIG": f"{project}/ansible.cfg", "ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json"}
    with tempfile.NamedTemporaryFile("w", suffix=".json") as vars_file:
        if extra_vars is not None:
            json.dump(extra_vars, vars_file)
            vars_file.flush()
            command += ["-e", f"@{vars_file.name}"]
        started = time.monotonic()
        run = subprocess.run(command, capture_output=True, text=True, env=env, timeout=timeout)
    seconds = time.monotonic() - started
    printed_report = any(line.startswith("{") for line in run.stdout.splitlines())
    assert printed_report, f"site.yml stopped before its first play (rc {run.returncode}):\n{run.stderr[-3000:]}"
    return run, json_report(run.stdout), seconds


def failed_tasks(report):
    """[(task name, host, msg)] of every failed or unreachable task in an ansible.posix.json report: what stopped
    a run."""
    return [(task["task"]["name"], host, result.get("msg", ""))
            for play in report["plays"] for task in play["tasks"]
            for host, result in task["hosts"].items() if result.get("failed") or result.get("unreachable")]


def changed_tasks(report):
    """[(task name, host)] of every task result in an ansible.posix.json report that reports a change."""
    return [(task["task"]["name"], host)
            for play in report["plays"] for task in play["tasks"]
            for host, result in task["hosts"].items() if result.get("changed")]
