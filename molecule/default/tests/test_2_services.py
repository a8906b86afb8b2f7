"""Services: capture per device, the archiver (notify + watchdog), nginx and cron, enabled and running."""

import json


def test_archiver_is_a_notify_service_with_a_watchdog(capture_host):
    service = capture_host.service("hotcold-archiver")
    assert service.is_enabled
    assert service.is_running
    props = dict(
        line.split("=", 1)
        for line in capture_host.check_output(
            "systemctl show hotcold-archiver -p Type -p WatchdogUSec -p User -p Restart"
        ).splitlines()
    )
    assert props["Type"] == "notify"
    assert props["WatchdogUSec"] not in ("0", "infinity", "")
    assert props["Restart"] == "always"
    assert props["User"] == "hotcold"


def test_one_capture_unit_per_device(capture_host, devices):
    for device in devices:
        service = capture_host.service(f"hotcold-capture@{device}")
        assert service.is_enabled, device
        assert service.is_running, device


def test_nginx_and_cron_are_running(capture_host):
    for name in ("nginx", "cron"):
        assert capture_host.service(name).is_enabled, name
        assert capture_host.service(name).is_running, name


def test_cron_runs_cleanup_hourly_and_health_every_minute(capture_host):
    cleanup = capture_host.file("/etc/cron.d/hotcold-cleanup").content_string
    health = capture_host.file("/etc/cron.d/hotcold-health").content_string
    assert "hotcold cleanup" in cleanup
    assert "hotcold health" in health


def test_archiver_journal_records_carry_the_device_field(capture_host, devices):
    """`journalctl DEVICE=<device>` finds the archiver's records about that device, and only those: at
    least the one it logs per device when it starts (structured field DEVICE=, python3-systemd)."""
    for device in devices:
        out = capture_host.check_output(
            f"journalctl --no-pager -o json -u hotcold-archiver DEVICE={device} --output-fields=DEVICE,MESSAGE")
        entries = [json.loads(line) for line in out.splitlines() if line.strip()]
        assert entries, f"no journal record with DEVICE={device}"
        assert all(e["DEVICE"] == device and e["MESSAGE"].startswith(f"{device}: ") for e in entries), entries
        assert any(e["MESSAGE"].startswith(f"{device}: archiving ") for e in entries), entries


def test_capture_waits_a_bounded_time_for_the_clock_where_an_ntp_client_runs(capture_host, devices):
    """A Pi boots with a wrong clock until its NTP client steps it: where one is enabled (the image has
    Debian's systemd-timesyncd), the role bounds and enables systemd-time-wait-sync, which holds
    time-sync.target, and every capture unit is ordered after that target. In a container both units are
    skipped by their own ConditionVirtualization, so capture runs: what is checked is what systemd loaded."""
    assert capture_host.service("systemd-timesyncd").is_enabled, "the test image has no enabled NTP client"
    wait = capture_host.service("systemd-time-wait-sync")
    assert wait.is_enabled, "systemd-time-wait-sync not enabled although an NTP client is"
    timeout = capture_host.check_output("systemctl show -p TimeoutStartUSec --value systemd-time-wait-sync")
    assert timeout == "2min", f"the wait is bounded by {timeout!r}, not the role's default 120 s"
    for device in devices:
        after = capture_host.check_output(f"systemctl show -p After --value hotcold-capture@{device}").split()
        assert "time-sync.target" in after, device
        assert capture_host.service(f"hotcold-capture@{device}").is_running, device
