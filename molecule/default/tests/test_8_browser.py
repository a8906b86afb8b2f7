"""The host page in headless Chromium against this real host (nginx, FFmpeg, archiver): live picture,
24-hour strip, hour thumbnails, archived playback with seeking, clear messages. Screenshots land in
artifacts/browser-molecule/."""

import os
import subprocess


def test_host_page_in_a_real_browser():
    project = os.environ["MOLECULE_PROJECT_DIRECTORY"]
    port = os.environ.get("HOTCOLD_DEFAULT_HTTP_PORT", "18081")
    run = subprocess.run(
        [f"{project}/tests/browser/run.sh", f"http://127.0.0.1:{port}", f"{project}/artifacts/browser-molecule"],
        capture_output=True, text=True, timeout=600,
    )
    print(run.stdout)
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
