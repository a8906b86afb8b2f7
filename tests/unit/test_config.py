"""Config: the example loads, JSON works, every bad config exits 3 (UNKNOWN) naming the key and the value."""

import os

import hchelpers
import pytest
import yaml
from record import record

from hotcold.config import load_config, load_data
from hotcold.config.loader import schema
from hotcold.errors import ConfigListError

EXAMPLE = os.path.join(hchelpers.FILES, "hotcold.example.yml")


def test_example_config_loads_and_documents_every_key():
    cfg = load_config(EXAMPLE)
    assert cfg.devices == ("capture1", "capture2")
    assert cfg.hot_limits == {"captures": 100, "thumbnails": 100, "segments": 10}
    with open(EXAMPLE) as f:
        raw = yaml.safe_load(f)

    def keys(sch, data, prefix=""):
        for k, sub in sch.get("properties", {}).items():
            assert k in data, f"example config does not show {prefix}{k}"
            sub = schema()["definitions"][sub["$ref"].rsplit("/", 1)[1]] if "$ref" in sub else sub
            if sub.get("type") == "object":
                keys(sub, data[k], f"{prefix}{k}.")

    keys(schema(), raw)


def test_defaults_are_the_plans(write_config):
    cfg = load_config(write_config({"devices": ["capture1"]}))
    assert cfg.base_path == "/var/www/html/stream"
    assert cfg.url_prefix == "/host/stream"
    assert cfg.run_dir == "/run/hotcold"
    assert cfg.retention_hours == {"captures": 1, "thumbnails": 24, "metadata": 24, "segments": 24}
    assert cfg.archive.segment_margin == 2
    assert cfg.archive.every_nth == {"captures": 1, "thumbnails": 1}
    assert cfg.health.max_capture_age_seconds == 3
    assert cfg.health.textfile_path == "/var/lib/prometheus/node-exporter/hotcold.prom"


def test_json_config_is_accepted(write_config):
    p = write_config({"devices": ["a", "b"], "hot_limits": {"segments": 4}, "timezone": "Europe/Paris"}, "c.json")
    cfg = load_config(p)
    assert cfg.devices == ("a", "b") and cfg.hot_limits["segments"] == 4 and cfg.hot_limits["captures"] == 100
    assert str(cfg.tz) == "Europe/Paris"


BAD = [
    # (what, config data, expected "key path: value: " prefix, words in the reason)
    ("unknown top-level key", {"devices": ["a"], "bsae_path": "/x"}, "bsae_path: /x: ", "unknown key"),
    ("unknown nested key", {"devices": ["a"], "archive": {"batch": 1}}, "archive.batch: 1: ", "unknown key"),
    ("path traversal name", {"devices": ["../x"]}, "devices[0]: ../x: ", "bad device name"),
    ("empty name", {"devices": ["ok", ""]}, "devices[1]: '': ", "bad device name"),
    ("upper case name", {"devices": ["Cam1"]}, "devices[0]: Cam1: ", "bad device name"),
    ("too long name", {"devices": ["a" * 33]}, f"devices[0]: {'a' * 33}: ", "bad device name"),
    ("duplicate", {"devices": ["cam1", "cam2", "cam1"]}, "devices[2]: cam1: ", "duplicate"),
    ("no devices", {"devices": []}, "devices: []: ", "at least"),
    ("devices missing", {"base_path": "/x"}, "devices: (missing): ", "required"),
    ("zero limit", {"devices": ["a"], "hot_limits": {"captures": 0}}, "hot_limits.captures: 0: ", "positive"),
    ("negative limit", {"devices": ["a"], "hot_limits": {"segments": -3}}, "hot_limits.segments: -3: ", "positive"),
    ("retention 0", {"devices": ["a"], "retention_hours": {"captures": 0}}, "retention_hours.captures: 0: ", ">= 1"),
    ("retention 25", {"devices": ["a"], "retention_hours": {"segments": 25}}, "retention_hours.segments: 25: ",
     "<= 24"),
    ("wrong type", {"devices": ["a"], "hot_limits": {"thumbnails": "many"}}, "hot_limits.thumbnails: many: ",
     "integer"),
    ("bool for int", {"devices": ["a"], "archive": {"segment_margin": True}}, "archive.segment_margin: true: ",
     "integer"),
    ("float for int", {"devices": ["a"], "hot_limits": {"captures": 1.5}}, "hot_limits.captures: 1.5: ", "integer"),
    ("devices not a list", {"devices": "cam1"}, "devices: cam1: ", "list"),
    ("relative base_path", {"devices": ["a"], "base_path": "var/www"}, "base_path: var/www: ", "absolute"),
    ("base_path with ..", {"devices": ["a"], "base_path": "/var/../etc"}, "base_path: /var/../etc: ", ".."),
    ("relative run_dir", {"devices": ["a"], "run_dir": "run"}, "run_dir: run: ", "absolute"),
    ("bad time zone", {"devices": ["a"], "timezone": "Mars/Olympus"}, "timezone: Mars/Olympus: ", "time zone"),
    ("high water 0", {"devices": ["a"], "archive": {"high_water_percent": 0}}, "archive.high_water_percent: 0: ",
     ">= 1"),
    ("every_nth 0", {"devices": ["a"], "archive": {"every_nth": {"captures": 0}}}, "archive.every_nth.captures: 0: ",
     ">="),
    ("not a mapping", ["devices"], "(top level): list: ", "mapping"),
]


def check_refused(data, prefix, why):
    with pytest.raises(ConfigListError) as ei:
        load_data(data)
    msgs = [str(e) for e in ei.value.errors]
    hits = [m for m in msgs if m.startswith(prefix) and why in m]
    assert hits, msgs
    return hits[0]


@pytest.mark.parametrize("what,data,prefix,why", BAD, ids=[b[0] for b in BAD])
def test_bad_config_is_refused_naming_key_and_value(what, data, prefix, why):
    check_refused(data, prefix, why)


@pytest.mark.reliability
def test_every_bad_config_is_refused_recorded():
    """Issue 7, case 7: all cases at once, for docs/RELIABILITY.md."""
    msgs = {what: check_refused(data, prefix, why) for what, data, prefix, why in BAD}
    record("bad_input", "invalid runtime config (hotcold.yml, validated against the schema at load)",
           tried=len(BAD), source="tests/unit/test_config.py", refused=len(msgs), cases=[b[0] for b in BAD],
           example=msgs["path traversal name"])


def test_cli_bad_config_exits_3_before_doing_anything(env, write_config):
    run_dir = os.path.join(env.tmp, "run-never")
    env.cfg_path = write_config({"devices": ["cam1", "../x"], "base_path": env.base, "run_dir": run_dir,
                                 "hot_limits": {"captures": 0}})
    for cmd in (["archive", "--once"], ["archive"], ["flush"], ["cleanup"], ["health"], ["status"],
                ["latest", "cam1"]):
        r = env.cli(*cmd, timeout=20)
        assert r.returncode == 3, (cmd, r.stdout, r.stderr)
        assert "hotcold: config error: devices[1]: ../x: bad device name" in r.stderr
        assert "hotcold: config error: hot_limits.captures: 0: " in r.stderr
        assert r.stdout == ""
    assert not os.path.exists(run_dir)
    assert os.listdir(env.base) == []


def test_cli_missing_config_file(env):
    env.cfg_path = os.path.join(env.tmp, "nope.yml")
    r = env.cli("status")
    assert r.returncode == 3
    assert r.stderr.strip() == f"hotcold: config error: --config: {env.cfg_path}: no such file"


def test_cli_broken_yaml_names_the_line(env, write_config):
    env.cfg_path = write_config("devices: [cam1\nbase_path: /x\n")
    r = env.cli("status")
    assert r.returncode == 3
    assert "hotcold: config error: --config: " in r.stderr and "invalid YAML at line" in r.stderr


def test_cli_empty_file(env, write_config):
    env.cfg_path = write_config("")
    r = env.cli("status")
    assert r.returncode == 3
    assert "hotcold: config error: (top level): empty: the config must be a mapping" in r.stderr


def test_all_errors_are_reported_at_once():
    with pytest.raises(ConfigListError) as ei:
        load_data({"devices": ["a", "a"], "hot_limits": {"captures": 0}, "nope": 1})
    paths = sorted(e.path for e in ei.value.errors)
    assert paths == ["devices[1]", "hot_limits.captures", "nope"]


def test_json_errors_are_config_errors(write_config):
    p = write_config("{not json", "c.json")
    with pytest.raises(ConfigListError) as ei:
        load_config(p)
    assert "invalid JSON" in str(ei.value)
