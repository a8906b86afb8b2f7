"""scripts/reliability-report.py: the summary puts what was dropped on purpose next to what was lost, and
`--readme` rewrites only the README's marked block, from the same rows (issue 14, point 4)."""

import json
import os
import subprocess
import sys

import pytest

SCRIPT = os.path.join(os.path.dirname(__file__), "..", "..", "scripts", "reliability-report.py")
sys.path.insert(0, os.path.dirname(SCRIPT))
report = __import__("reliability-report")

ROWS = [
    {"at": "2026-12-03 10:00:00 UTC", "case": "sd_faults", "code": "abc1234", "mode": "soak", "name": "card full",
     "tried": 1, "produced": 500, "lost": 0, "torn": 0, "figures": {"archived": 300, "dropped": 200}},
    {"at": "2026-12-03 10:05:00 UTC", "case": "budget", "code": "abc1234", "mode": "soak", "name": "budget",
     "tried": 1, "produced": 90, "lost": 0, "torn": 0,
     "figures": {"per_kind": {"captures": {"thinned": 7}, "segments": {"thinned": 0}}}},
    {"at": "2026-12-03 10:09:00 UTC", "case": "powercut", "code": "abc1234", "mode": "soak", "name": "crash states",
     "tried": 4, "produced": 40, "lost": 1, "torn": 2,
     "figures": {"columns": {"written": 160, "archived_intact": 90, "in_ram_at_cut": 60, "dropped": 3, "expired": 4,
                             "lost": 1, "torn": 2, "duplicated": 5}, "recovery_p50_s": 0.1, "recovery_p99_s": 0.2}},
]


def run(tmp_path, readme_text, *extra):
    results = tmp_path / "results.jsonl"
    results.write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    readme = tmp_path / "README.md"
    readme.write_text(readme_text)
    out = tmp_path / "docs" / "RELIABILITY.md"
    proc = subprocess.run([sys.executable, SCRIPT, "--results", str(results), "--out", str(out), *extra],
                          capture_output=True, text=True)
    return proc, out, readme


def test_the_headline_names_drops_next_to_losses(tmp_path):
    proc, out, _ = run(tmp_path, "")
    assert proc.returncode == 1  # most cases NOT RUN
    text = out.read_text()
    assert "**1 lost, 2 torn, 5 duplicated; 210 dropped on purpose**" in text  # 200 + 7 thinned + 3
    assert "| 9. Power cuts (block-layer crash states, issue 14) | 1 | 4 | 40 | 3 | 1 | 2 | 5 |" in text
    assert "| crash states | 4 | 160 | 90 | 60 | 3 | 4 | 1 | 2 | 5 | 0.1 / 0.2 |" in text


def test_readme_block_is_rewritten_and_nothing_else(tmp_path):
    before, after = "# hotcold\n\n## Reliability\n\n", "\n\n## Benchmarks\n\nkept\n"
    stale = f"{report.README_BEGIN}\nold figures: 0 lost\n{report.README_END}"
    proc, _, readme = run(tmp_path, before + stale + after, "--readme", str(tmp_path / "README.md"))
    text = readme.read_text()
    assert text.startswith(before + report.README_BEGIN + "\nFrom [RELIABILITY.md](docs/RELIABILITY.md), soak run of "
                           "abc1234, recorded 2026-12-03 10:00:00 UTC to 2026-12-03 10:09:00 UTC:")
    assert text.endswith(report.README_END + after)
    assert "old figures" not in text and "210 dropped on purpose" in text, proc.stderr


@pytest.mark.parametrize("readme_text", ["# no block\n", f"{report.README_END}\n{report.README_BEGIN}\n"])
def test_a_readme_without_the_block_is_refused_before_anything_is_written(tmp_path, readme_text):
    proc, out, readme = run(tmp_path, readme_text, "--readme", str(tmp_path / "README.md"))
    assert proc.returncode != 0
    assert f"{readme}: no reliability summary block to rewrite" in proc.stderr
    assert not out.exists() and readme.read_text() == readme_text


def test_a_case_that_failed_in_the_run_says_failed_not_passed_or_not_run(tmp_path):
    proc, out, _ = run(tmp_path, "", "--failed", "disk_errors=100 of 250 EIO crash states lost files")
    text = out.read_text()
    assert proc.returncode == 1
    assert "**FAILED: 11. Disk errors" in text and "(100 of 250 EIO crash states lost files)" in text
    assert "| 11. Disk errors (EIO and read-only through the recording layer, issue 14) | FAILED |" in text
    proc, _, _ = run(tmp_path, "", "--failed", "no_such_case=x")
    assert proc.returncode != 0 and "'no_such_case=x'" in proc.stderr
