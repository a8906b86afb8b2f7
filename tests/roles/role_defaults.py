"""The roles' defaults as Ansible resolves them when the inventory sets nothing: defaults/main.yml of a
role, rendered with its vars/main.yml and roles/common/vars/main.yml (its dependency) by Ansible's own
templar, so a test compares values, not Jinja text."""

import pathlib

from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar

ROOT = pathlib.Path(__file__).resolve().parents[2]
COMMON_VARS = ROOT / "roles" / "common" / "vars" / "main.yml"


def load(path):
    """Given a YAML file, return its data as Ansible loads it (strings that hold Jinja are templates)."""
    return DataLoader().load_from_file(str(path), trusted_as_template=True) or {}


def raw_defaults(role):
    """Given a role name, return its defaults/main.yml unrendered."""
    return load(ROOT / "roles" / role / "defaults" / "main.yml")


def rendered_defaults(role):
    """Given a role name, return {variable: value} of its defaults/main.yml with no inventory variable set."""
    role_dir = ROOT / "roles" / role
    variables = {**load(COMMON_VARS), **load(role_dir / "vars" / "main.yml"), **raw_defaults(role)}
    variables["role_path"] = str(role_dir)
    templar = Templar(loader=DataLoader(), variables=variables)
    return {name: templar.template(value) for name, value in raw_defaults(role).items()}


def common_vars():
    """Return roles/common/vars/main.yml rendered with no inventory variable set."""
    variables = load(COMMON_VARS)
    templar = Templar(loader=DataLoader(), variables=variables)
    return {name: templar.template(value) for name, value in variables.items()}
