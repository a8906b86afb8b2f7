"""hotcold latest DEVICE: O(1) through latest.jpg, scan fallback, refuses stale captures."""

import os
import time

import pytest
from hchelpers import produce

from hotcold import latest


def test_fresh_capture_through_the_link_without_scanning(env, monkeypatch):
    env.add_device("cam1")
    hot = env.hot("cam1", "captures")
    now = time.time()
    for n in range(50):
        produce(hot, "captures", n, mtime=now - 5 + n * 0.1)
    latest.swap_link(hot, "capture_49.jpg")
    r = env.cli("latest", "cam1", now=now)
    assert r.returncode == 0 and r.stdout.strip() == os.path.join(hot, "capture_49.jpg")

    def no_scan(*a, **k):
        raise AssertionError("scandir called although latest.jpg is fresh")

    monkeypatch.setattr(os, "scandir", no_scan)
    monkeypatch.setattr(os, "listdir", no_scan)
    path, age, how = latest.find_latest(hot, now, 3.0)
    assert path.endswith("capture_49.jpg") and how == "latest.jpg" and age == pytest.approx(0.1, abs=0.01)


@pytest.mark.parametrize("link", ["missing", "dangling", "stale"])
def test_falls_back_to_a_scan(env, link):
    env.add_device("cam1")
    hot = env.hot("cam1", "captures")
    now = time.time()
    for n in range(5):
        produce(hot, "captures", n, mtime=now - 1 + n * 0.1)
    if link == "dangling":
        latest.swap_link(hot, "capture_999.jpg")
    elif link == "stale":  # archiver down: the link still points at an old capture
        produce(hot, "captures", 0, mtime=now - 60)
        latest.swap_link(hot, "capture_0.jpg")
    r = env.cli("latest", "cam1", now=now)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == os.path.join(hot, "capture_4.jpg")


def test_refuses_an_old_capture_with_a_reason(env):
    env.add_device("cam1")
    hot = env.hot("cam1", "captures")
    now = time.time()
    produce(hot, "captures", 7, mtime=now - 10)
    latest.swap_link(hot, "capture_7.jpg")
    r = env.cli("latest", "cam1", now=now)
    assert r.returncode == 1 and r.stdout == ""
    assert "hotcold: latest cam1: newest capture capture_7.jpg is 10.0 s old (limit 3 s)" in r.stderr


def test_no_capture_at_all(env):
    env.add_device("cam1")
    r = env.cli("latest", "cam1")
    assert r.returncode == 1 and "no capture in" in r.stderr


def test_unknown_device(env):
    env.add_device("cam1")
    r = env.cli("latest", "cam9")
    assert r.returncode == 3 and "unknown device 'cam9'" in r.stderr
