"""The SD-failure state of one device (hotcold.sdstate): fail, wait, drop, resume. Root-free: plain files."""

import errno
import logging

from hotcold.hotfiles import HotFile
from hotcold.sdstate import SdState

log = logging.getLogger("hotcold.archiver")


def make(tmp_path, n):
    files = []
    for i in range(1, n + 1):
        p = tmp_path / f"capture_{i}.jpg"
        p.write_bytes(b"x")
        files.append(HotFile("captures", p.name, i, float(i), 1, str(p)))
    return files


def test_a_failure_is_counted_logged_once_and_retried_after_rescan_seconds(caplog):
    counters = {"errors": 0, "dropped": 0}
    sd = SdState("cam1", 10.0, counters, log)
    assert sd.ok and not sd.waiting(0.0, flush=False)
    err = OSError(errno.ENOSPC, "No space left on device")
    with caplog.at_level(logging.ERROR):
        sd.failed(err, 100.0)
        sd.failed(err, 101.0)  # the same error again: counted, not logged again
    assert not sd.ok and sd.error == "ENOSPC: No space left on device"
    assert counters["errors"] == 2 and caplog.text.count("cannot take files") == 1
    assert sd.waiting(110.0, flush=False) and not sd.waiting(111.0, flush=False)
    assert not sd.waiting(105.0, flush=True)  # a flush always tries the SD


def test_drop_deletes_counts_and_returns_the_paths(tmp_path, caplog):
    counters = {"errors": 0, "dropped": 0}
    sd = SdState("cam1", 10.0, counters, log)
    sd.failed(OSError(errno.EROFS, "Read-only file system"), 0.0)
    files = make(tmp_path, 3)
    (tmp_path / "capture_2.jpg").unlink()  # gone already: not counted, still not in RAM
    with caplog.at_level(logging.WARNING):
        gone = sd.drop(files)
    assert gone == {f.path for f in files}
    assert counters["dropped"] == 2 and list(tmp_path.iterdir()) == []
    assert "dropped captures/capture_1.jpg (SD not writable: EROFS: Read-only file system)" in caplog.text


def test_archiving_resumes_when_a_batch_reaches_the_sd(caplog):
    sd = SdState("cam1", 10.0, {"errors": 0, "dropped": 0}, log)
    sd.took_files()  # while ok: nothing to say
    sd.failed(OSError(errno.EIO, "Input/output error"), 0.0)
    with caplog.at_level(logging.INFO):
        sd.took_files()
    assert sd.ok and sd.error is None and caplog.text.count("archiving resumed") == 1
