"""journald records about a device carry DEVICE=<device> (`journalctl DEVICE=capture1`).

No journald runs on this machine (no systemd as PID 1), so the entries are taken where python3-systemd
hands them to journald: systemd.journal.sendv, which receives the "FIELD=value" lines of one entry. All
else is real: sysd.setup_logging's JournalHandler (as under systemd), the archiver on real tmpfs hot
folders and a real read-only SD. The molecule default scenario checks `journalctl DEVICE=capture1` on a
host with journald (molecule/default/tests/test_2_services.py).
"""

import logging
import os
import shutil
import subprocess
import time

import pytest
from hchelpers import produce
from systemd import journal

from hotcold import sysd
from hotcold.archiver import Archiver
from hotcold.clock import FixedClock


@pytest.fixture
def journal_entries(monkeypatch):
    """The entries the real JournalHandler (installed by sysd.setup_logging under systemd) sends, each as
    {FIELD: value} as journald would receive it."""
    entries = []

    def sendv(*lines):
        entries.append(dict(str(line).split("=", 1) for line in lines))

    monkeypatch.setattr(journal, "sendv", sendv)
    root = logging.getLogger()
    level = root.level
    handler = sysd.setup_logging(environ={"INVOCATION_ID": "0" * 32})
    assert isinstance(handler, journal.JournalHandler)
    yield entries
    root.removeHandler(handler)
    root.setLevel(level)


def test_setup_logging_uses_the_journal_only_under_systemd():
    root = logging.getLogger()
    level = root.level
    try:
        assert isinstance(sysd.setup_logging(environ={"JOURNAL_STREAM": "8:1234"}), journal.JournalHandler)
        handler = sysd.setup_logging(environ={})
        assert type(handler) is logging.StreamHandler
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


def test_device_logger_and_device_field_set_the_field(journal_entries):
    log = logging.getLogger("hotcold.test")
    sysd.device_logger(log, "capture1").warning("capture1: one")
    log.info("capture2: two", extra=sysd.device_field("capture2"))
    log.info("about no device")
    assert [(e["MESSAGE"], e.get("DEVICE")) for e in journal_entries] == [
        ("capture1: one", "capture1"), ("capture2: two", "capture2"), ("about no device", None)]
    assert [e["PRIORITY"] for e in journal_entries] == ["4", "6", "6"]
    assert all(e["SYSLOG_IDENTIFIER"] == "hotcold" for e in journal_entries)


def test_the_archivers_records_about_a_device_carry_it(env, journal_entries):
    """cam2's hot folder is missing (logged by the archiver), cam1's SD is read-only (logged by its SD
    state: failing, the 4 files beyond the limit held in RAM, far below the high water; then by the flush,
    which leaves all 9 in RAM): each record names its device in DEVICE=."""
    env.sd_tmpfs("4M")
    env.add_device("cam1")
    env.add_device("cam2", mount=False)
    shutil.rmtree(env.hot("cam2"))
    now = time.time()
    for n in range(9):
        produce(env.hot("cam1", "captures"), "captures", n, mtime=now - 9 + n)
    subprocess.run(["mount", "-o", "remount,ro", env.base], check=True)
    arch = Archiver(env.config(), FixedClock(now))
    arch.run_once()
    assert not arch.flush()  # the SD takes nothing: the flush leaves files in RAM
    messages = {}
    for e in journal_entries:
        messages.setdefault(e.get("DEVICE"), []).append(e["MESSAGE"])
    assert any(m.startswith("cam2: hot folder") and m.endswith("is missing") for m in messages["cam2"]), messages
    assert any(m.startswith("cam1: the SD card cannot take files") for m in messages["cam1"]), messages
    assert not any(m.startswith("cam1: dropped") for m in messages["cam1"]), messages
    assert any(m.startswith("cam1: flush left 9 file(s) in RAM") for m in messages["cam1"]), messages
    for e in journal_entries:  # every record whose text starts with a device carries that device
        for dev in ("cam1", "cam2"):
            if e["MESSAGE"].startswith(dev + ":"):
                assert e.get("DEVICE") == dev, e
    assert sorted(os.listdir(env.hot("cam1", "captures"))) == [f"capture_{n}.jpg" for n in range(9)] + ["latest.jpg"]
