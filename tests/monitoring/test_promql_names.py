"""The metric-name reader the dashboard and rule checks rely on: finds every metric, and nothing else."""

import pytest
from promql_names import metric_names, template_query

CASES = [
    ("hotcold_sd_ok == 0", {"hotcold_sd_ok"}),
    ('hotcold_health_status{instance=~"$instance", device="capture1"} > 1', {"hotcold_health_status"}),
    ("increase(hotcold_dropped_files_total[15m]) > 0", {"hotcold_dropped_files_total"}),
    ("sum by (instance, device) (rate(hotcold_archived_files_total[$__rate_interval]))",
     {"hotcold_archived_files_total"}),
    ("hotcold_health_status unless on(instance, device) hotcold_sd_ok", {"hotcold_health_status", "hotcold_sd_ok"}),
    ("time() - hotcold_health_check_timestamp_seconds > 3e2", {"hotcold_health_check_timestamp_seconds"}),
    ("count(hotcold_health_status == 2) or vector(0)", {"hotcold_health_status"}),
    ('label_replace(hotcold_hot_files, "x", "node_load1", "kind", "(.*)")', {"hotcold_hot_files"}),
    ("hotcold_hot_files / ignoring(kind) group_left hotcold_tmpfs_size_bytes offset 5m",
     {"hotcold_hot_files", "hotcold_tmpfs_size_bytes"}),
    ("max_over_time(hotcold_capture_age_seconds[1h:1m])", {"hotcold_capture_age_seconds"}),
    ("node_load1 > on(instance) group_left() up", {"node_load1", "up"}),
]


@pytest.mark.parametrize("expr,names", CASES, ids=[c[0] for c in CASES])
def test_metric_names(expr, names):
    assert metric_names(expr) == names


def test_template_query():
    assert template_query('label_values(hotcold_health_status{instance=~"$instance"}, device)') == (
        'hotcold_health_status{instance=~"$instance"}', "device")
    assert template_query("hotcold_sd_ok") == ("hotcold_sd_ok", None)
