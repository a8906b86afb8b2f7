"""Every role documents exactly the variables it defaults (meta/argument_specs.yml mirrors
defaults/main.yml, with the same default values), prefixes them with its name, and installs only
packages the test image has."""

import json
import pathlib

import pytest
import yaml
from role_defaults import raw_defaults, rendered_defaults

ROOT = pathlib.Path(__file__).resolve().parents[2]
ROLES = sorted(p.name for p in (ROOT / "roles").iterdir() if (p / "tasks" / "main.yml").is_file())


def load(path):
    with open(path, encoding="utf-8") as f:
        return yaml.safe_load(f) or {}


def test_the_seven_roles_exist():
    assert ROLES == sorted(["archiver", "capture", "cleanup", "health", "hot_storage", "rollout_gate",
                            "stream_endpoints"])


@pytest.mark.parametrize("role", ROLES)
def test_argument_specs_mirror_defaults(role):
    defaults = load(ROOT / "roles" / role / "defaults" / "main.yml")
    options = load(ROOT / "roles" / role / "meta" / "argument_specs.yml")["argument_specs"]["main"]["options"]
    assert set(options) == set(defaults), (
        f"{role}: only in defaults {sorted(set(defaults) - set(options))}, "
        f"only in argument_specs {sorted(set(options) - set(defaults))}"
    )


def plain(value):
    """Given a value Ansible rendered (tagged str/dict/list), return it as plain JSON data."""
    return json.loads(json.dumps(value))


@pytest.mark.parametrize("role", ROLES)
def test_argument_specs_carry_the_defaults(role):
    """A spec's `default:` is what defaults/main.yml gives with no inventory variable set; a default that
    points into the repository (role_path) is documented as written. Dict suboptions carry their key's default."""
    raw, rendered = raw_defaults(role), rendered_defaults(role)
    options = load(ROOT / "roles" / role / "meta" / "argument_specs.yml")["argument_specs"]["main"]["options"]
    for name, spec in options.items():
        assert "required" not in spec, f"{role}: {name} is required although defaults/main.yml sets it"
        assert "default" in spec, f"{role}: {name} has no default: in meta/argument_specs.yml"
        want = raw[name] if "role_path" in str(raw[name]) else plain(rendered[name])
        assert spec["default"] == want, (
            f"{role}: {name}: argument_specs default {spec['default']!r}, defaults/main.yml {want!r}"
        )
        for key, sub in spec.get("options", {}).items():
            if "default" in sub:
                assert sub["default"] == want[key], (
                    f"{role}: {name}.{key}: argument_specs default {sub['default']!r}, defaults/main.yml {want[key]!r}"
                )


def test_common_role_variables_are_internal():
    """roles/common holds only internal variables (prefix _common_), never a default an inventory sets."""
    common = ROOT / "roles" / "common"
    assert not (common / "defaults").exists()
    names = load(common / "vars" / "main.yml")
    assert names and all(name.startswith("_common_") for name in names), sorted(names)


@pytest.mark.parametrize("role", ROLES)
def test_roles_depend_on_common(role):
    meta = load(ROOT / "roles" / role / "meta" / "main.yml")
    assert {"role": "common"} in meta["dependencies"], f"{role}: meta/main.yml does not depend on common"


@pytest.mark.parametrize("role", ROLES)
def test_variables_are_prefixed_with_the_role_name(role):
    defaults = load(ROOT / "roles" / role / "defaults" / "main.yml")
    internal = load(ROOT / "roles" / role / "vars" / "main.yml")
    assert all(name.startswith(f"{role}_") for name in defaults), sorted(defaults)
    assert all(name.startswith(f"_{role}_") for name in internal), sorted(internal)


@pytest.mark.parametrize("role", ROLES)
def test_every_option_is_described_and_typed(role):
    options = load(ROOT / "roles" / role / "meta" / "argument_specs.yml")["argument_specs"]["main"]["options"]
    for name, spec in options.items():
        assert spec.get("description"), f"{role}: {name} has no description"
        assert spec.get("type"), f"{role}: {name} has no type"


@pytest.mark.parametrize("role", ROLES)
def test_templates_start_with_ansible_managed(role):
    for template in (ROOT / "roles" / role / "templates").glob("*.j2"):
        lines = template.read_text(encoding="utf-8").splitlines()
        head = lines[1] if lines[0].startswith("#!") else lines[0]
        assert head == "{{ ansible_managed | comment }}", template


@pytest.mark.parametrize("role", ROLES)
def test_role_packages_are_in_the_test_image(role):
    """The test containers have no network: every package a role installs must be baked into the image."""
    image = {
        line.strip()
        for line in (ROOT / "images" / "packages.txt").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    }
    defaults = load(ROOT / "roles" / role / "defaults" / "main.yml")
    packages = defaults.get(f"{role}_packages", [])
    assert set(packages) <= image, f"{role}: {sorted(set(packages) - image)} missing from images/packages.txt"
