"""Health: OK on a healthy host; a stopped archiver or an unmounted tmpfs makes it fail with the reason.
Runs last (file name order): it stops and restarts services."""

import time


def wait_for_health(host, expect_ok, seconds=40):
    deadline = time.time() + seconds
    while True:
        result = host.run("hotcold health")
        if (result.rc == 0) == expect_ok or time.time() > deadline:
            return result
        time.sleep(2)


def test_health_is_ok_on_a_running_host(capture_host, hostvars):
    result = wait_for_health(capture_host, expect_ok=True)
    assert result.rc == 0, result.stdout + result.stderr
    prom = capture_host.run("cat /var/lib/prometheus/node-exporter/hotcold.prom").stdout
    assert "hotcold_" in prom


def test_stopped_archiver_makes_health_fail_with_reason(capture_host):
    capture_host.run_expect([0], "systemctl stop hotcold-archiver")
    try:
        result = wait_for_health(capture_host, expect_ok=False)
        assert result.rc != 0
        assert "archiver" in result.stdout.lower()
    finally:
        capture_host.run_expect([0], "systemctl start hotcold-archiver")
    assert wait_for_health(capture_host, expect_ok=True).rc == 0


def test_unmounted_tmpfs_makes_health_fail_with_reason(capture_host, hostvars, devices):
    device = devices[-1]
    hot = f"{hostvars['hotcold_base_path']}/{device}/hot"
    # no `systemctl stop` of the capture unit first: its tmpfs upholds it while mounted, and stops it (BindsTo=)
    # once gone
    capture_host.run_expect([0], f"umount -l {hot}")
    try:
        result = wait_for_health(capture_host, expect_ok=False)
        assert result.rc == 2, result.stdout
        assert device in result.stdout and "mount" in result.stdout.lower(), result.stdout
    finally:
        # Starting the capture unit brings its mount back (BindsTo=). The archiver follows the new tmpfs by
        # itself (test_6_mount_events): no restart.
        capture_host.run_expect([0], f"systemctl start hotcold-capture@{device}")
    assert capture_host.mount_point(hot).exists
    assert wait_for_health(capture_host, expect_ok=True).rc == 0
