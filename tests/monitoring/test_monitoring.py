"""The fleet monitoring files (monitoring/) against what hotcold really exports.

A real `hotcold health` run (tmpfs hot folder, a live heartbeat, captures in RAM) writes hotcold.prom; its
metric names are the only names the alert rules and the Grafana dashboard may read. promtool lints the
textfile the way Prometheus would parse it.
"""

import json
import os
import re
import subprocess
import time

import pytest
import yaml
from hchelpers import produce
from promql_names import metric_names, template_query

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RULES = os.path.join(REPO, "monitoring", "prometheus", "hotcold-alerts.yml")
DASHBOARD = os.path.join(REPO, "monitoring", "grafana", "hotcold-fleet.json")
# Labels Prometheus adds to every scraped series (the rest must come from the textfile).
SCRAPE_LABELS = {"instance", "job"}


def healthy_host(env, now):
    """A device with everything a host exports: tmpfs, captures of every kind, a heartbeat serving it."""
    env.add_device("cam1")
    for kind in ("captures", "thumbnails", "segments"):
        for i in range(3):
            produce(env.hot("cam1", kind), kind, i, mtime=now - 1 + i * 0.1)
    os.makedirs(env.run_dir, exist_ok=True)
    counters = {"archived": 10, "dropped": 1, "skipped": 2, "expired": 3, "errors": 4, "sd_ok": True}
    with open(os.path.join(env.run_dir, "archiver.json"), "w") as f:
        budget = {"gb_per_day": 100, "day": "2026-01-01", "spent_bytes": 41 * 10**9, "pace_bytes": 40 * 10**9,
                  "thinning": ["captures"]}
        json.dump({"pid": os.getpid(), "time": now, "started": now - 60, "devices": {"cam1": counters},
                   "budget": budget}, f)


@pytest.fixture
def textfile(env):
    """The text of hotcold.prom written by a real `hotcold health` run on a healthy host."""
    now = time.time()
    healthy_host(env, now)
    r = env.cli("health", now=now)
    assert r.returncode == 0, r.stdout + r.stderr
    with open(env.prom) as f:
        return f.read()


def exported(text):
    """{metric name: set of label names} of the samples in a textfile."""
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            series = line.rsplit(" ", 1)[0]
            name, _, labels = series.partition("{")
            out.setdefault(name, set()).update(p.split("=")[0] for p in labels.rstrip("}").split(",") if p)
    return out


def dashboard_queries(dash):
    """(where, PromQL) of every panel target and template variable of a dashboard, rows' panels included."""
    queries = []

    def walk(panels):
        for p in panels:
            for t in p.get("targets", []):
                queries.append((f"panel {p['title']!r} target {t['refId']}", t["expr"]))
            walk(p.get("panels", []))

    walk(dash["panels"])
    for v in dash["templating"]["list"]:
        if v["type"] == "query":
            query = v["query"]["query"] if isinstance(v["query"], dict) else v["query"]
            expr, label = template_query(query)
            queries.append((f"variable {v['name']}", expr))
            queries.append((f"variable {v['name']} label", label))
    return queries


def test_textfile_passes_promtool_check_metrics(textfile):
    r = subprocess.run(["promtool", "check", "metrics"], input=textfile, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    assert not (r.stdout + r.stderr).strip(), r.stdout + r.stderr  # no lint findings either


def test_the_health_run_exported_every_metric_family(textfile):
    """The run above is a complete host: no metric is missing because its source was absent."""
    names = exported(textfile)
    declared = {line.split()[2] for line in textfile.splitlines() if line.startswith("# TYPE ")}
    assert set(names) == declared
    assert len(names) >= 15 and all(n.startswith("hotcold_") for n in names), sorted(names)


def test_alert_rules_read_only_exported_metrics(textfile):
    names = exported(textfile)
    labels = set().union(*names.values()) | SCRAPE_LABELS
    with open(RULES) as f:
        rules = [r for g in yaml.safe_load(f)["groups"] for r in g["rules"]]
    assert rules
    for rule in rules:
        used = metric_names(rule["expr"])
        assert used, f"{rule['alert']}: no metric in {rule['expr']!r}"
        assert used <= set(names), f"{rule['alert']} reads {sorted(used - set(names))}, not exported"
        templated = set(re.findall(r"\$labels\.(\w+)", json.dumps(rule["annotations"])))
        assert templated <= labels, f"{rule['alert']}: annotations name labels {sorted(templated - labels)}"
        assert rule["labels"]["severity"] in ("warning", "critical")


def test_every_alert_with_a_device_names_it(textfile):
    """An alert on a per-device metric says which device in its summary and description."""
    names = exported(textfile)
    with open(RULES) as f:
        rules = [r for g in yaml.safe_load(f)["groups"] for r in g["rules"]]
    for rule in rules:
        if any("device" in names[n] for n in metric_names(rule["expr"])):
            for key in ("summary", "description"):
                assert "$labels.device" in rule["annotations"][key], (rule["alert"], key)


def test_dashboard_reads_only_exported_metrics(textfile):
    names = exported(textfile)
    labels = set().union(*names.values()) | SCRAPE_LABELS
    with open(DASHBOARD) as f:
        dash = json.load(f)
    queries = dashboard_queries(dash)
    assert len(queries) >= 20
    for where, query in queries:
        if where.endswith(" label"):
            assert query in labels, f"{where}: {query!r} is no label of the exported series"
            continue
        used = metric_names(query)
        assert used, f"{where}: no metric in {query!r}"
        assert used <= set(names), f"{where} reads {sorted(used - set(names))}, not exported by hotcold"


def test_dashboard_queries_parse_as_promql(tmp_path):
    """promtool parses every dashboard query (Grafana's variables replaced by values they take)."""
    with open(DASHBOARD) as f:
        queries = [(w, q) for w, q in dashboard_queries(json.load(f)) if not w.endswith(" label")]
    values = {"$__rate_interval": "2m", "$instance": ".+", "$device": ".+"}
    rules = []
    for i, (where, query) in enumerate(queries):
        for var, value in values.items():
            query = query.replace(var, value)
        assert "$" not in query, f"{where}: unknown variable in {query!r}"
        rules.append({"record": f"dashboard:query_{i}", "expr": query})
    path = tmp_path / "dashboard-queries.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    r = subprocess.run(["promtool", "check", "rules", str(path)], capture_output=True, text=True)
    assert r.returncode == 0 and f"SUCCESS: {len(rules)} rules found" in r.stdout, r.stdout + r.stderr


def test_dashboard_has_an_overview_and_a_row_per_host_with_a_panel_per_device():
    with open(DASHBOARD) as f:
        dash = json.load(f)
    variables = {v["name"]: v for v in dash["templating"]["list"]}
    assert variables["instance"]["multi"] and variables["instance"]["includeAll"]
    assert variables["device"]["multi"] and variables["device"]["includeAll"]
    rows = [p for p in dash["panels"] if p["type"] == "row"]
    assert [r.get("repeat") for r in rows] == [None, "instance"], "an overview row, then a row repeated per host"
    host_row = dash["panels"].index(rows[1])
    overview = dash["panels"][1:host_row]
    per_host = dash["panels"][host_row + 1:]
    assert len(overview) >= 4 and not any("$instance" in json.dumps(p["targets"]) for p in overview)
    per_device = [p for p in per_host if p.get("repeat") == "device"]
    assert len(per_device) >= 3
    for p in per_device:
        assert all('instance=~"$instance"' in t["expr"] and 'device=~"$device"' in t["expr"] for t in p["targets"])
    ids = [p["id"] for p in dash["panels"]]
    assert len(ids) == len(set(ids))


def test_every_alert_has_a_promtool_test_firing_and_not_firing():
    """hotcold-alerts.test.yml evaluates each alert at least once with no alert expected and once with one."""
    with open(RULES) as f:
        alerts = {r["alert"] for g in yaml.safe_load(f)["groups"] for r in g["rules"]}
    with open(os.path.join(os.path.dirname(RULES), "hotcold-alerts.test.yml")) as f:
        tests = yaml.safe_load(f)["tests"]
    seen = {}
    for t in tests:
        for case in t.get("alert_rule_test", []):
            seen.setdefault(case["alertname"], set()).add(bool(case.get("exp_alerts")))
    assert set(seen) == alerts, sorted(alerts ^ set(seen))
    assert all(v == {True, False} for v in seen.values()), {k: v for k, v in seen.items() if v != {True, False}}
