"""The roles and the runtime agree on the plan's defaults: where a role's default (rendered with no
inventory variable set) and files/hotcold/config/schema.yaml hold the same setting, the values are equal.
The pairs are named one by one below; a failure names the role variable, the schema key and both values."""

import json
import pathlib

import pytest
import yaml
from role_defaults import common_vars, load, rendered_defaults

ROOT = pathlib.Path(__file__).resolve().parents[2]
SCHEMA = ROOT / "files" / "hotcold" / "config" / "schema.yaml"

# schema key (dotted, under properties) -> role variables that hold the same setting, as (role, variable, key path)
SAME = {
    "base_path": [("archiver", "archiver_base_path", ()), ("hot_storage", "hot_storage_base_path", ()),
                  ("capture", "capture_base_path", ()), ("stream_endpoints", "stream_endpoints_base_path", ())],
    "url_prefix": [("archiver", "archiver_url_prefix", ()), ("stream_endpoints", "stream_endpoints_url_prefix", ())],
    "timezone": [("archiver", "archiver_timezone", ()), ("capture", "capture_timezone", ()),
                 ("stream_endpoints", "stream_endpoints_timezone", ())],
    "health.max_capture_age_seconds": [
        ("archiver", "archiver_health", ("max_capture_age_seconds",)),
        ("stream_endpoints", "stream_endpoints_max_capture_age_seconds", ()),
    ],
}
# Sections the archiver writes into the config whole: every key of the schema section, one pair per key.
SECTIONS = {
    "hot_limits": "archiver_hot_limits",
    "retention_hours": "archiver_retention_hours",
    "archive": "archiver_archive",
    "archive.every_nth": "archiver_archive.every_nth",
    "health": "archiver_health",
    "sd_card": "archiver_sd_card",
    "archive.budget": "archiver_sd_budget",
    "archive.budget.min_interval_seconds": "archiver_sd_budget.min_interval_seconds",
}

# Keys the archiver adds to a section from another variable (vars/main.yml: the config's archive section is
# archiver_archive plus budget: archiver_sd_budget, which the SD budget's inventory variables feed).
ADDED = {"archive": {"budget"}}


def schema():
    with open(SCHEMA, encoding="utf-8") as f:
        return yaml.safe_load(f)


def schema_node(dotted):
    """Given a dotted key like 'archive.every_nth', return its node in the schema."""
    node = schema()
    for part in dotted.split("."):
        node = node["properties"][part]
    return node


def role_value(role, variable, path):
    """Given a role, one of its defaults and a key path into it, return the rendered value as plain data."""
    value = json.loads(json.dumps(rendered_defaults(role)[variable]))
    for key in path:
        value = value[key]
    return value


def section_pairs():
    """(schema key, role, variable, key path) for every key of every section the archiver writes whole."""
    pairs = []
    for section, variable in SECTIONS.items():
        name, *inner = variable.split(".")
        for key, node in schema_node(section)["properties"].items():
            if "default" in node and node.get("type") != "object":
                pairs.append((f"{section}.{key}", "archiver", name, (*inner, key)))
    return pairs


PAIRS = [(key, role, var, path) for key, places in SAME.items() for role, var, path in places] + section_pairs()


@pytest.mark.parametrize("schema_key, role, variable, path", PAIRS,
                         ids=[f"{p[0]}={p[2]}{''.join(f'[{k}]' for k in p[3])}" for p in PAIRS])
def test_role_default_equals_schema_default(schema_key, role, variable, path):
    want = schema_node(schema_key)["default"]
    got = role_value(role, variable, path)
    where = variable + "".join(f"[{k!r}]" for k in path)
    assert got == want, f"{role}: {where}={got!r} but schema.yaml {schema_key} defaults to {want!r}"


@pytest.mark.parametrize("section", sorted(SECTIONS))
def test_archiver_sections_have_the_schema_keys(section):
    """The archiver writes these sections whole: the same keys as the schema, no more, no fewer."""
    name, *inner = SECTIONS[section].split(".")
    keys = set(role_value("archiver", name, tuple(inner))) | ADDED.get(section, set())
    want = set(schema_node(section)["properties"])
    assert keys == want, f"archiver: {SECTIONS[section]} keys {sorted(keys)}, schema.yaml {section} keys {sorted(want)}"


def test_health_textfile_path_is_in_the_health_role_directory():
    """archiver_health.textfile_path and the health role's textfile directory fall back to the same place."""
    want = schema_node("health.textfile_path")["default"]
    got = role_value("health", "health_textfile_dir", ()) + "/hotcold.prom"
    assert got == want, (
        f"health: health_textfile_dir + /hotcold.prom = {got!r} but schema.yaml health.textfile_path = {want!r}"
    )


def test_run_dir_equals_schema_default():
    got = load(ROOT / "roles" / "archiver" / "vars" / "main.yml")["_archiver_run_dir"]
    want = schema_node("run_dir")["default"]
    assert got == want, f"archiver: _archiver_run_dir={got!r} but schema.yaml run_dir defaults to {want!r}"


def test_device_pattern_equals_schema_pattern():
    got = common_vars()["_common_device_re"]
    want = schema()["definitions"]["device_name"]["pattern"]
    assert got == want, f"_common: _common_device_re={got!r} but schema.yaml definitions.device_name.pattern={want!r}"
