"""The hotcold config of the tests and the bench: one builder of the required fields, one writer."""

import json
import os


def merge(data, over):
    """Given a config dict and overrides, return a copy where each override replaces its key, except that
    a dict merges into a dict (one level: ``archive={"rescan_seconds": 1}`` keeps the other archive keys)."""
    out = dict(data)
    for k, v in over.items():
        out[k] = {**out[k], **v} if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def hotcold_config(base, run_dir, devices, textfile, **over):
    """Given the base path, run dir, devices and health textfile, return a config dict in UTC with
    ``over`` merged in (see ``merge``); everything else is the runtime's defaults."""
    data = {
        "base_path": str(base),
        "run_dir": str(run_dir),
        "timezone": "UTC",
        "devices": list(devices),
        "health": {"textfile_path": str(textfile)},
    }
    return merge(data, over)


def write_config(path, data):
    """Given a path and a dict (or the text itself, for a broken file), write it: JSON when the name ends in
    .json, YAML otherwise. Returns the path as a string."""
    path = str(path)
    if isinstance(data, str):
        text = data
    elif path.endswith(".json"):
        text = json.dumps(data, indent=1)
    else:
        import yaml  # only YAML callers need PyYAML (the bench writes JSON)

        text = yaml.safe_dump(data)
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path, "w") as f:
        f.write(text)
    return path
