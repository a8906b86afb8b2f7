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
