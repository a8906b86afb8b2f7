"""Load and validate the config file.

The file (YAML, or JSON when it ends in ``.json`` or starts with ``{``) is validated against
``schema.yaml`` with python3-jsonschema (Draft 7: Debian bookworm ships 4.10). Checks a schema cannot
express (duplicate device names, a time zone that exists, no ``..`` in paths) run afterwards. Every
problem becomes a ConfigError naming the key path, the value and the reason; the CLI prints them as
``hotcold: config error: <key path>: <value>: <why>`` and exits 3 (UNKNOWN) before doing anything.
"""

import copy
import json
import os
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

import jsonschema
import yaml

from hotcold.errors import ConfigError, ConfigListError

SCHEMA_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "schema.yaml")
_schema_cache = None


def schema():
    global _schema_cache
    if _schema_cache is None:
        with open(SCHEMA_PATH, encoding="utf-8") as f:
            _schema_cache = yaml.safe_load(f)
    return _schema_cache


@dataclass(frozen=True)
class BudgetSettings:
    gb_per_day: float | None  # None: no wear budget
    order: tuple  # the kinds thinned in turn when ahead of the pace
    min_interval_seconds: dict  # a thinned kind keeps one file per this many seconds


@dataclass(frozen=True)
class ArchiveSettings:
    rescan_seconds: float
    batch_seconds: float
    checkpoint_seconds: float
    segment_margin: int
    high_water_percent: int
    evict_floor_hours: int
    every_nth: dict
    budget: BudgetSettings


@dataclass(frozen=True)
class SdCard:
    size_gb: float | None  # None: the size /sys reports
    rated_cycles: int


@dataclass(frozen=True)
class HealthSettings:
    sd_min_life_years: float
    warn_percent: int
    max_capture_age_seconds: float
    heartbeat_max_age_seconds: float
    sd_min_free_percent: int
    tmpfs_warn_percent: int
    textfile_path: str


@dataclass(frozen=True)
class Config:
    base_path: str
    url_prefix: str
    run_dir: str
    timezone: str
    devices: tuple
    hot_limits: dict
    retention_hours: dict
    archive: ArchiveSettings
    health: HealthSettings
    sd_card: SdCard
    source: str = ""
    raw: dict = field(default_factory=dict, compare=False, repr=False)

    @property
    def tz(self):
        return ZoneInfo(self.timezone)


# ---------------------------------------------------------------- reading the file


def read_file(path):
    """Parse the file into plain data; a missing or unparsable file is a ConfigError."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except FileNotFoundError:
        raise ConfigError("--config", path, "no such file") from None
    except IsADirectoryError:
        raise ConfigError("--config", path, "is a directory, not a file") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError("--config", path, f"cannot read: {e}") from None
    if path.endswith(".json") or text.lstrip().startswith("{"):
        try:
            return json.loads(text)
        except ValueError as e:
            raise ConfigError("--config", path, f"invalid JSON: {e}") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(e, "problem", None) or "syntax error"
        raise ConfigError("--config", path, f"invalid YAML{where}: {problem}") from None


# ---------------------------------------------------------------- validation


def _key_path(parts):
    out = ""
    for p in parts:
        if isinstance(p, int):
            out += f"[{p}]"
        else:
            out += ("." if out else "") + str(p)
    return out or "(top level)"


_TYPE_WORDS = {
    "object": "a mapping",
    "array": "a list",
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "true or false",
}


def _translate(err):
    """Turn one jsonschema ValidationError into ConfigListError (one per offending key)."""
    path = list(err.absolute_path)
    v = err.validator
    s = err.schema if isinstance(err.schema, dict) else {}
    if v == "additionalProperties":
        known = set(s.get("properties", {}))
        return [
            ConfigError(_key_path(path + [k]), err.instance[k], "unknown key")
            for k in sorted(set(err.instance) - known)
        ]
    if v == "required":
        missing = [k for k in err.validator_value if k not in err.instance]
        return [ConfigError(_key_path(path + [k]), "(missing)", "required key is missing") for k in missing]
    value = err.instance
    if v == "type":
        want = err.validator_value
        want = [want] if isinstance(want, str) else want
        why = "must be " + " or ".join(_TYPE_WORDS.get(w, w) for w in want)
    elif v == "pattern":
        if s.get("pattern") == schema()["definitions"]["device_name"]["pattern"]:
            why = "bad device name: use 1 to 32 of a-z, 0-9, _ and - (pattern ^[a-z0-9_-]{1,32}$)"
        elif s.get("pattern") == "^/":
            why = "must be an absolute path (start with /)"
        else:
            why = f"must match {s.get('pattern')}"
    elif v == "minimum":
        why = f"must be >= {err.validator_value}"
    elif v == "maximum":
        why = f"must be <= {err.validator_value}"
    elif v == "exclusiveMinimum":
        why = f"must be > {err.validator_value}"
    elif v == "enum":
        why = "must be one of " + ", ".join(str(x) for x in err.validator_value)
    elif v == "uniqueItems":
        why = "must not list a kind twice"
    elif v == "minItems":
        why = f"must list at least {err.validator_value} item(s)"
    elif v == "minLength":
        why = "must not be empty"
    else:
        why = err.message
    if v in ("minimum", "maximum") and path and path[0] == "retention_hours":
        why += " (retention is 1..24 hours: hour folders are a 24-slot ring)"
    if v == "minimum" and path and path[0] in ("hot_limits",) and err.validator_value == 1:
        why = "must be a positive integer (>= 1)"
    return [ConfigError(_key_path(path), value, why)]


def _fill_defaults(data, sch, root):
    """Fill in ``default:`` values of the schema for keys the file left out (in place)."""
    if not isinstance(data, dict):
        return
    for key, sub in sch.get("properties", {}).items():
        if "$ref" in sub:
            ref = root["definitions"][sub["$ref"].rsplit("/", 1)[1]]
            sub = {**ref, **{k: v for k, v in sub.items() if k != "$ref"}}
        if key not in data and "default" in sub:
            data[key] = copy.deepcopy(sub["default"])
        if isinstance(data.get(key), dict) and sub.get("type") == "object":
            _fill_defaults(data[key], sub, root)


def _extra_checks(data):
    """Checks the schema cannot express. Runs on data that may still be invalid: guard types."""
    errors = []
    seen = {}
    devices = data.get("devices")
    for i, name in enumerate(devices if isinstance(devices, list) else []):
        if not isinstance(name, str):
            continue
        if name in seen:
            errors.append(ConfigError(f"devices[{i}]", name, f"duplicate device name (also devices[{seen[name]}])"))
        else:
            seen[name] = i
    tz = data.get("timezone", "UTC")
    if isinstance(tz, str) and tz:
        try:
            ZoneInfo(tz)
        except Exception:  # ZoneInfoNotFoundError, ValueError for path-like keys
            errors.append(ConfigError("timezone", tz,
                                      "unknown time zone (use an IANA name such as UTC or Europe/Paris)"))
    health = data.get("health") if isinstance(data.get("health"), dict) else {}
    for key, p in (("base_path", data.get("base_path")), ("run_dir", data.get("run_dir")),
                   ("health.textfile_path", health.get("textfile_path"))):
        if isinstance(p, str) and ".." in p.split("/"):
            errors.append(ConfigError(key, p, "must not contain .."))
    base = data.get("base_path")
    if isinstance(base, str) and base.startswith("/") and os.path.normpath(base) == "/":
        errors.append(ConfigError("base_path", base, "must not be /"))
    return errors


def validate(data):
    """Validate plain data; return it with defaults filled in, or raise ConfigListError."""
    if not isinstance(data, dict):
        kind = "empty" if data is None else type(data).__name__
        raise ConfigListError([ConfigError("(top level)", kind, "the config must be a mapping of keys")])
    data = copy.deepcopy(data)
    sch = schema()
    validator = jsonschema.Draft7Validator(sch)
    errors = []
    for err in sorted(validator.iter_errors(data), key=lambda e: [str(p) for p in e.absolute_path]):
        errors.extend(_translate(err))
    errors.extend(_extra_checks(data))
    if errors:
        raise ConfigListError(errors)
    _fill_defaults(data, sch, sch)
    return data


def load_data(data, source="<data>"):
    data = validate(data)
    a = data["archive"]
    h = data["health"]
    return Config(
        base_path=os.path.normpath(data["base_path"]),
        url_prefix=data["url_prefix"].rstrip("/") or "/",
        run_dir=os.path.normpath(data["run_dir"]),
        timezone=data["timezone"],
        devices=tuple(data["devices"]),
        hot_limits=dict(data["hot_limits"]),
        retention_hours=dict(data["retention_hours"]),
        archive=ArchiveSettings(
            rescan_seconds=float(a["rescan_seconds"]),
            batch_seconds=float(a["batch_seconds"]),
            checkpoint_seconds=float(a["checkpoint_seconds"]),
            segment_margin=a["segment_margin"],
            high_water_percent=a["high_water_percent"],
            evict_floor_hours=a["evict_floor_hours"],
            every_nth=dict(a["every_nth"]),
            budget=_budget(a["budget"]),
        ),
        health=HealthSettings(
            sd_min_life_years=float(h["sd_min_life_years"]),
            warn_percent=h["warn_percent"],
            max_capture_age_seconds=float(h["max_capture_age_seconds"]),
            heartbeat_max_age_seconds=float(h["heartbeat_max_age_seconds"]),
            sd_min_free_percent=h["sd_min_free_percent"],
            tmpfs_warn_percent=h["tmpfs_warn_percent"],
            textfile_path=h["textfile_path"],
        ),
        sd_card=SdCard(size_gb=data["sd_card"]["size_gb"], rated_cycles=data["sd_card"]["rated_cycles"]),
        source=source,
        raw=data,
    )


def _budget(b):
    """Given the validated ``archive.budget`` mapping, return its BudgetSettings."""
    gb = b["gb_per_day"]
    return BudgetSettings(gb_per_day=None if gb is None else float(gb), order=tuple(b["order"]),
                          min_interval_seconds={k: float(v) for k, v in b["min_interval_seconds"].items()})


def load_config(path):
    """Read, validate and return a Config; raises ConfigError / ConfigListError."""
    try:
        return load_data(read_file(path), source=path)
    except ConfigError as e:
        raise ConfigListError([e]) from None
