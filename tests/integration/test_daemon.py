"""The archiver daemon as systemd runs it: sd_notify, inotify latency, heartbeat, SIGTERM flush,
``flush`` while it runs."""

import json
import os
import signal
import socket
import threading
import time

import pytest
from hchelpers import produce, read, sha256, write_live


@pytest.fixture
def notify_socket(tmp_path):
    """A stand-in for systemd's notify socket, read continuously like systemd does."""
    path = str(tmp_path / "notify.sock")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(path)
    s.settimeout(0.05)
    msgs = []
    done = threading.Event()

    def reader():
        while not done.is_set():
            try:
                msgs.append(s.recv(4096).decode())
            except socket.timeout:
                pass

    t = threading.Thread(target=reader, daemon=True)
    t.start()

    def drain():
        return list(msgs)

    yield path, drain
    done.set()
    t.join(timeout=2)
    s.close()


def start(env, notify=None, **cfg):
    env.write_config(**cfg)
    extra = {"NOTIFY_SOCKET": notify} if notify else {}
    with open(os.path.join(env.tmp, "daemon.log"), "ab") as err:
        return env.popen("archive", env=extra, stderr=err)


def stop(p, sig=signal.SIGTERM, timeout=20):
    p.send_signal(sig)
    return p.wait(timeout=timeout)


def log(env):
    with open(os.path.join(env.tmp, "daemon.log")) as f:
        return f.read()


def test_ready_watchdog_status_and_heartbeat(env, notify_socket, wait_for):
    path, drain = notify_socket
    env.add_device("cam1")
    env.add_device("cam2")
    p = start(env, notify=path)
    try:
        wait_for(lambda: any("READY=1" in m for m in drain()), what="READY=1")
        wait_for(lambda: sum("WATCHDOG=1" in m for m in drain()) >= 2, what="WATCHDOG=1 pings")
        wait_for(lambda: any("STATUS=" in m and "cam2: 0 archived, 0 dropped" in m for m in drain()),
                 what="STATUS line")
        hb = os.path.join(env.run_dir, "archiver.json")
        doc = json.loads(read(hb))
        assert doc["pid"] == p.pid and set(doc["devices"]) == {"cam1", "cam2"}
        for d in doc["devices"].values():
            for k in ("archived", "dropped", "errors", "sd_ok"):
                assert k in d
        t1 = doc["time"]
        wait_for(lambda: json.loads(read(hb))["time"] > t1, timeout=5, what="heartbeat rewritten")
    finally:
        assert stop(p) == 0, log(env)
    assert any("STOPPING=1" in m for m in drain())


def test_files_reach_the_sd_within_one_second_of_becoming_eligible(env, wait_for):
    env.add_device("cam1")
    p = start(env, hot_limits={"captures": 5, "thumbnails": 5, "segments": 3},
              archive={"rescan_seconds": 30, "batch_seconds": 0.25})  # only inotify can be this fast
    try:
        wait_for(lambda: os.path.exists(os.path.join(env.run_dir, "archiver.json")), what="daemon start")
        hot = env.hot("cam1", "captures")
        lat = []
        for n in range(12):
            produce(hot, "captures", n)
            if n >= 5:  # capture n makes capture n-5 eligible
                t0 = time.monotonic()
                name = f"capture_{n - 5}.jpg"
                wait_for(lambda name=name: name in env.archived_files("cam1"),
                         timeout=3, step=0.01, what=f"capture_{n - 5} on the SD")
                lat.append(time.monotonic() - t0)
            time.sleep(0.05)
        # segments: eligible when the live playlist moves on
        seg = env.hot("cam1", "segments")
        for n in range(100, 110):
            produce(seg, "segments", n)
        write_live(seg, list(range(105, 110)))
        t0 = time.monotonic()
        wait_for(lambda: not os.path.exists(os.path.join(seg, "segment_102.ts")), timeout=3, step=0.01,
                 what="segment_102 archived")
        lat.append(time.monotonic() - t0)
        assert os.path.exists(os.path.join(seg, "segment_103.ts")), "margin of 2 kept"
        print(f"\nSD latency after becoming eligible: min {min(lat):.3f}s max {max(lat):.3f}s")
        assert max(lat) < 1.0, lat
        assert os.readlink(os.path.join(hot, "latest.jpg")) == "capture_11.jpg"
    finally:
        assert stop(p) == 0, log(env)


def test_sigterm_flushes_everything_then_exits_0(env, wait_for):
    env.add_device("cam1")
    p = start(env)
    made = {}
    try:
        wait_for(lambda: os.path.exists(os.path.join(env.run_dir, "archiver.json")), what="daemon start")
        for kind in ("captures", "thumbnails", "segments"):
            for n in range(8):
                path, h = produce(env.hot("cam1", kind), kind, n)
                made[os.path.basename(path)] = h
        write_live(env.hot("cam1", "segments"), list(range(4, 8)))
        time.sleep(0.5)
    finally:
        assert stop(p) == 0, log(env)
    arch = env.archived_files("cam1")
    assert set(arch) == set(made), "everything in RAM reached the SD"
    for name, h in made.items():
        assert sha256(arch[name]) == h
    for kind in ("captures", "thumbnails", "segments"):
        assert not [n for n in os.listdir(env.hot("cam1", kind)) if n.startswith(("capture_", "segment_"))]
    hour = os.path.basename(os.path.dirname(arch["segment_0.ts"]))
    assert os.path.exists(os.path.join(env.archive("cam1", "segments", hour), "archive.m3u8"))
    assert os.path.exists(os.path.join(env.archive("cam1", "segments", hour), "index.json"))
    assert os.path.exists(os.path.join(env.archive("cam1", "thumbnails", hour), "index.json"))
    assert env.temp_files("cam1") == []


def test_flush_command_asks_the_running_daemon(env, wait_for):
    env.add_device("cam1")
    p = start(env)
    try:
        wait_for(lambda: os.path.exists(os.path.join(env.run_dir, "archiver.json")), what="daemon start")
        for n in range(4):
            produce(env.hot("cam1", "captures"), "captures", n)
        r = env.cli("flush", timeout=30)
        assert r.returncode == 0, r.stderr
        assert f"flushed by the running archiver (pid {p.pid})" in r.stdout
        assert not [n for n in os.listdir(env.hot("cam1", "captures")) if n.startswith("capture_")]
        assert p.poll() is None, "the daemon keeps running after a flush"
        r = env.cli("archive", "--once")
        assert r.returncode == 1 and "another archiver is running" in r.stderr
    finally:
        assert stop(p) == 0, log(env)


def test_flush_command_without_daemon(env):
    env.add_device("cam1")
    made = {}
    for n in range(4):
        path, h = produce(env.hot("cam1", "thumbnails"), "thumbnails", n)
        made[os.path.basename(path)] = h
    r = env.cli("flush")
    assert r.returncode == 0, r.stderr
    assert "cam1: flushed 4 file(s) to the SD, 0 left in RAM" in r.stdout
    assert {n: sha256(pth) for n, pth in env.archived_files("cam1").items()} == made


def test_logs_go_to_stderr_outside_systemd_never_to_tmp(env, wait_for):
    env.add_device("cam1")
    before = set(os.listdir("/tmp"))
    p = start(env)
    try:
        wait_for(lambda: "archiver ready" in log(env), what="ready log line")
    finally:
        assert stop(p) == 0
    assert "stopped" in log(env)
    assert not [n for n in set(os.listdir("/tmp")) - before if "hotcold" in n or n.endswith(".log")]


def test_watcher_reports_renames_into_place_and_follows_a_tmpfs_mounted_later(env):
    from hotcold.layout import DeviceLayout
    from hotcold.watcher import Watcher

    env.add_device("cam1", mount=False)
    w = Watcher({"cam1": DeviceLayout(env.base, "cam1")})
    try:
        w.ensure()
        produce(env.hot("cam1", "captures"), "captures", 1)
        assert w.poll(0.3) == [], "a hot folder that is no mount point is the SD under the tmpfs: not watched"
        # the tmpfs is mounted over hot/ after the archiver started: nothing is watched until ensure()
        env.tmpfs(env.hot("cam1"), "8M")
        for k in ("captures", "thumbnails", "segments"):
            os.makedirs(env.hot("cam1", k))
        produce(env.hot("cam1", "captures"), "captures", 2)
        assert w.poll(0.3) == []
        w.ensure()  # what every rescan does
        produce(env.hot("cam1", "captures"), "captures", 3)
        with open(os.path.join(env.hot("cam1", "thumbnails"), "capture_4_thumbnail.jpg.tmp"), "wb") as f:
            f.write(b"still being written")  # FFmpeg's temp name: no event for it
        write_live(env.hot("cam1", "segments"), [7, 8])
        got = w.poll(1.0)
        got += w.poll(0.2)
        assert ("cam1", "captures", "capture_3.jpg") in got
        assert ("cam1", "playlist", "output.m3u8") in got
        assert not [g for g in got if g[1] == "thumbnails"]
    finally:
        w.close()


def test_journald_under_systemd_stderr_otherwise():
    import logging

    from systemd.journal import JournalHandler

    from hotcold import sysd

    root = logging.getLogger()
    saved = list(root.handlers), root.level
    try:
        assert isinstance(sysd.setup_logging(environ={"INVOCATION_ID": "abc"}), JournalHandler)
        assert isinstance(sysd.setup_logging(environ={"JOURNAL_STREAM": "8:1234"}), JournalHandler)
        h = sysd.setup_logging(environ={})
        assert type(h) is logging.StreamHandler and h.stream is __import__("sys").stderr
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])


def test_flush_of_one_device_leaves_the_others_ram_alone(env, wait_for):
    """What the capture unit runs when it is stopped (its tmpfs may be unmounted next): that device's RAM to the
    SD, the other device's newest files stay in RAM; with the daemon running and without it."""
    env.add_device("cam1")
    env.add_device("cam2")
    for dev in ("cam1", "cam2"):
        for n in range(4):  # under the hot limit (5): nothing leaves RAM without a flush
            produce(env.hot(dev, "captures"), "captures", n)
    r = env.cli("flush", "--device", "cam9")
    assert r.returncode == 3 and "--device 'cam9' is not a configured device (cam1, cam2)" in r.stderr, r.stderr
    p = start(env)
    try:
        wait_for(lambda: os.path.exists(os.path.join(env.run_dir, "archiver.json")), what="daemon start")
        r = env.cli("flush", "--device", "cam1", timeout=30)
        assert r.returncode == 0, r.stderr
        assert r.stdout == f"cam1: flushed by the running archiver (pid {p.pid}), 0 file(s) left in RAM\n"
        assert len(env.archived_files("cam1")) == 4 and env.archived_files("cam2") == {}
        assert len([n for n in os.listdir(env.hot("cam2", "captures")) if n.startswith("capture_")]) == 4
        assert not [n for n in os.listdir(env.run_dir) if n.endswith(".request")]
    finally:
        assert stop(p) == 0, log(env)  # the SIGTERM flush takes cam2's too
    produce(env.hot("cam1", "captures"), "captures", 10)
    produce(env.hot("cam2", "captures"), "captures", 10)
    r = env.cli("flush", "--device", "cam2")
    assert r.returncode == 0 and r.stdout == "cam2: flushed 1 file(s) to the SD, 0 left in RAM\n", r
    assert os.path.exists(os.path.join(env.hot("cam1", "captures"), "capture_10.jpg")), "cam1 not flushed"
