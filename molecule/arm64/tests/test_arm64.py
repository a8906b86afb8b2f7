"""The arm64 hosts: an aarch64 userland converged by site.yml, capturing and archiving like any other host.

Shared by the arm64 scenario (one host) and the fleet scenario (fleet-arm): molecule/fleet/tests links here.
"""

import time


def emulated_hosts(fleet):
    """{name: (host, vars)} of the scenario's arm64 hosts: those its inventory runs under qemu-user."""
    hosts = {name: pair for name, pair in fleet.items() if pair[1].get("molecule_qemu_user")}
    assert hosts, "no host of this scenario sets molecule_qemu_user"
    return hosts


def test_the_host_runs_arm64_binaries(fleet):
    for name, (host, _) in emulated_hosts(fleet).items():
        assert host.check_output("uname -m") == "aarch64", name
        assert host.check_output("dpkg --print-architecture") == "arm64", name


def test_ffmpeg_captures_and_the_archiver_moves_files_to_sd_hour_folders(fleet):
    for name, (host, hostvars) in emulated_hosts(fleet).items():
        base = hostvars["hotcold_base_path"]
        device = hostvars["hotcold_devices"][0]["name"]
        limit = hostvars["hotcold_hot_limits"]["thumbnails"]
        assert host.service(f"hotcold-capture@{device}").is_running, name
        assert host.service("hotcold-archiver").is_running, name
        # Emulated FFmpeg is slow: wait (bounded) until more thumbnails exist than RAM keeps, so some must have moved.
        deadline = time.monotonic() + 300
        archived = []
        while time.monotonic() < deadline:
            out = host.run(f"find {base}/{device}/thumbnails -regex '.*/[0-9]+/[^/]*\\.jpg' -type f")
            archived = [line for line in out.stdout.splitlines() if line.strip()]
            if archived:
                break
            time.sleep(5)
        assert archived, f"no thumbnail reached an SD hour folder of {name}'s {device} within 300 s"
        hours = {path.split("/")[-2] for path in archived}
        assert hours <= {str(h) for h in range(24)}, (name, hours)
        hot = host.check_output(f"find {base}/{device}/hot/thumbnails -maxdepth 1 -name '*.jpg' | wc -l")
        assert int(hot) <= limit + 5, f"{name}: RAM holds {hot} thumbnails, keep is {limit}"
