"""Every role documents exactly the variables it defaults (meta/argument_specs.yml mirrors
defaults/main.yml), prefixes them with its name, and installs only packages the test image has."""

import pathlib

import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
ROLES = sorted(p.name for p in (ROOT / "roles").iterdir() if (p / "tasks" / "main.yml").is_file())


def load(path):
    with open(path, encoding="utf-8") as f:
        return yaml.safe_load(f) or {}


def test_the_six_roles_exist():
    assert ROLES == sorted(["archiver", "capture", "cleanup", "health", "hot_storage", "stream_endpoints"])


@pytest.mark.parametrize("role", ROLES)
def test_argument_specs_mirror_defaults(role):
    defaults = load(ROOT / "roles" / role / "defaults" / "main.yml")
    options = load(ROOT / "roles" / role / "meta" / "argument_specs.yml")["argument_specs"]["main"]["options"]
    assert set(options) == set(defaults), (
        f"{role}: only in defaults {sorted(set(defaults) - set(options))}, "
        f"only in argument_specs {sorted(set(options) - set(defaults))}"
    )


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
