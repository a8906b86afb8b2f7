"""The SD wear budget's inventory variables reach the runtime: the config's archive section as
roles/archiver renders it (vars/main.yml, Ansible's own templar) loads in hotcold's config loader with the
values the inventory gave, for the defaults, the SD saver preset and one interval for every kind."""

import json
import sys

import pytest
import yaml
from role_defaults import COMMON_VARS, ROOT, load, raw_defaults

sys.path.insert(0, str(ROOT / "files"))
from ansible.parsing.dataloader import DataLoader  # noqa: E402
from ansible.template import Templar  # noqa: E402

from hotcold.config.loader import load_data  # noqa: E402

ROLE = ROOT / "roles" / "archiver"
PRESET = ROOT / "inventory" / "presets" / "sd-saver.yml"


def rendered_archive(inventory):
    """Given inventory variables, return the config's archive section the archiver role writes, loaded by
    the runtime (hotcold.config.loader.ArchiveSettings)."""
    variables = {**load(COMMON_VARS), **load(ROLE / "vars" / "main.yml"), **raw_defaults("archiver"), **inventory}
    variables["role_path"] = str(ROLE)
    section = load(ROLE / "vars" / "main.yml")["_archiver_config_content"]["archive"]
    archive = json.loads(json.dumps(Templar(loader=DataLoader(), variables=variables).template(section)))
    return load_data({"devices": ["capture1"], "archive": archive}).archive


CASES = {
    "default": ({}, None, ("captures", "thumbnails"), {"captures": 10, "thumbnails": 1, "segments": 2}),
    "sd-saver preset": (yaml.safe_load(PRESET.read_text()), 130, ("captures", "thumbnails"),
                        {"captures": 60, "thumbnails": 2, "segments": 2}),
    "one interval": ({"hotcold_sd_budget_gb_per_day": 3.5, "hotcold_sd_budget_min_interval": 30,
                      "hotcold_sd_budget_order": ["thumbnails", "segments"]}, 3.5, ("thumbnails", "segments"),
                     {"captures": 30, "thumbnails": 30, "segments": 30}),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_inventory_budget_reaches_the_runtime(case):
    inventory, gb, order, intervals = CASES[case]
    b = rendered_archive(inventory).budget
    assert (b.gb_per_day, b.order, b.min_interval_seconds) == (gb, order, intervals)
