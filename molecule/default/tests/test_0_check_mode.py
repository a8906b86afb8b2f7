"""A check run after converge reports nothing to change (issue 16 item 1).

The README tells users to run `site.yml --check --diff` before a rollout; on a converged host it must say
"nothing to change", or users learn to ignore it. Runs first in verify, on the state converge and idempotence
left (the later tests stop services and fill the RAM on purpose). The check run on a fresh host is molecule's
own `check` step (molecule.yml).
"""

import os
import subprocess

import hosttools


def failed_tasks(report):
    """(play, task, host, message) of every failed or unreachable task result."""
    return [(play["play"]["name"], task["task"]["name"], host, result.get("msg", ""))
            for play in report["plays"] for task in play["tasks"] for host, result in task["hosts"].items()
            if result.get("failed") or result.get("unreachable")]


def changed_tasks(report):
    """(play, task, host) of every task result that reports a change."""
    return [(play["play"]["name"], task["task"]["name"], host)
            for play in report["plays"] for task in play["tasks"] for host, result in task["hosts"].items()
            if result.get("changed")]


def test_check_run_after_converge_reports_no_change():
    project = os.environ["MOLECULE_PROJECT_DIRECTORY"]
    env = {**os.environ, "ANSIBLE_CONFIG": f"{project}/ansible.cfg", "ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json",
           "ANSIBLE_NOCOLOR": "1"}
    run = subprocess.run(
        ["ansible-playbook", "-i", os.environ["MOLECULE_INVENTORY_FILE"], f"{project}/site.yml", "--check", "--diff"],
        capture_output=True, text=True, env=env, timeout=900,
    )
    report = hosttools.json_report(run.stdout)
    stats = report["stats"]
    print(f"check run after converge, rc {run.returncode}: {stats}")
    assert sorted(stats) == sorted(hosttools.platform_names()), stats
    assert run.returncode == 0, (failed_tasks(report), run.stderr[-2000:])
    for host, counts in stats.items():
        assert counts["failures"] == 0 and counts["unreachable"] == 0, (host, failed_tasks(report))
        assert counts["changed"] == 0, (host, changed_tasks(report))
        assert counts["ok"] > 0, (host, counts)
