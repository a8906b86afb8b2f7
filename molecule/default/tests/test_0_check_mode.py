"""A check run after converge reports nothing to change (issue 16 item 1).

The README tells users to run `site.yml --check --diff` before a rollout; on a converged host it must say
"nothing to change", or users learn to ignore it. Runs first in verify, on the state converge and idempotence
left (the later tests stop services and fill the RAM on purpose). The check run on a fresh host is molecule's
own `check` step (molecule.yml). The arm64 scenario links this file: the same promise on the emulated host.
"""

import hosttools


def test_check_run_after_converge_reports_no_change():
    run, report, seconds = hosttools.site("--check", "--diff", timeout=900)
    stats = report["stats"]
    print(f"check run after converge, rc {run.returncode}, {seconds:.0f} s: {stats}")
    assert sorted(stats) == sorted(hosttools.platform_names()), stats
    assert run.returncode == 0, (hosttools.failed_tasks(report), run.stderr[-2000:])
    for host, counts in stats.items():
        assert counts["failures"] == 0 and counts["unreachable"] == 0, (host, hosttools.failed_tasks(report))
        assert counts["changed"] == 0, (host, hosttools.changed_tasks(report))
        assert counts["ok"] > 0, (host, counts)
