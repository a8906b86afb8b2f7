"""Cleanup deletes an expired hour folder, keeps what is within retention, and never touches hot/."""

import json
import shlex

MAKE_EXPIRED = r"""
import json, os, sys, time
base, device = sys.argv[1], sys.argv[2]
then = time.time() - 3 * 3600          # captures keep 1 h: an hour three hours ago is expired
hour, day = time.localtime(then).tm_hour, time.strftime("%Y-%m-%d", time.localtime(then))
folder = f"{base}/{device}/captures/{hour}"
os.makedirs(folder, exist_ok=True)
with open(f"{folder}/.day", "w") as marker:
    marker.write(day + "\n")
for n in range(50):
    path = f"{folder}/capture_{int(then) * 10 + n:09d}.jpg"
    with open(path, "wb") as f:
        f.write(b"\xff\xd8old\xff\xd9")
    os.utime(path, (then, then))
os.utime(folder, (then, then))
print(json.dumps({"folder": folder, "hour": hour}))
"""


def test_cleanup_removes_expired_hour_and_leaves_hot_alone(capture_host, hostvars, devices):
    base, device = hostvars["hotcold_base_path"], devices[0]
    result = capture_host.run(
        f"runuser -u hotcold -- python3 -c {shlex.quote(MAKE_EXPIRED)} {base} {device}"
    )
    assert result.rc == 0, result.stderr
    made = json.loads(result.stdout)
    sentinel = f"{base}/{device}/hot/captures/keep-me.txt"
    capture_host.run_expect([0], f"runuser -u hotcold -- sh -c 'echo keep > {sentinel}'")
    current_hour = int(capture_host.check_output("date +%-H"))
    thumbs_before = capture_host.check_output(f"ls {base}/{device}/thumbnails/{current_hour} | wc -l")

    cleanup = capture_host.run("runuser -u hotcold -- hotcold cleanup")
    assert cleanup.rc == 0, cleanup.stderr

    assert capture_host.file(made["folder"]).is_directory, "the hour folder itself stays (0..23 always exist)"
    assert capture_host.check_output(f"ls -A {made['folder']}") == ""
    assert capture_host.file(sentinel).exists, "cleanup touched hot/"
    assert capture_host.mount_point(f"{base}/{device}/hot").exists
    thumbs_after = capture_host.check_output(f"ls {base}/{device}/thumbnails/{current_hour} | wc -l")
    assert int(thumbs_after) >= int(thumbs_before), "cleanup removed thumbnails still within retention"
    capture_host.run(f"rm -f {sentinel}")


def test_cleanup_twice_in_parallel_is_safe(capture_host):
    # A bare `wait` always returns 0: wait for each job by its pid, so either run's failure fails the test.
    result = capture_host.run(
        "runuser -u hotcold -- sh -c 'hotcold cleanup & a=$!; hotcold cleanup & b=$!; "
        "wait $a; ra=$?; wait $b; rb=$?; echo \"exit $ra $rb\"'"
    )
    assert result.stdout.strip().endswith("exit 0 0"), (result.stdout, result.stderr)
