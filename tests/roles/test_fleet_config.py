"""Fleet-wide settings: the LICENSE matches the roles' metadata, and Ansible verifies a real host's SSH key
(only local containers, reached through podman, turn the check off)."""

import configparser
import json
import os
import pathlib
import stat
import subprocess

import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
SPDX_TITLES = {"MIT": "MIT License"}


def test_license_file_matches_every_roles_metadata():
    licenses = {yaml.safe_load(p.read_text())["galaxy_info"]["license"] for p in ROOT.glob("roles/*/meta/main.yml")}
    assert len(licenses) == 1, f"the roles disagree: {sorted(licenses)}"
    (spdx,) = licenses
    text = (ROOT / "LICENSE").read_text()
    assert text.splitlines()[0] == SPDX_TITLES[spdx]
    assert "Permission is hereby granted, free of charge, to any person obtaining a copy" in text


def ansible_env():
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1")
    for name in ("ANSIBLE_HOST_KEY_CHECKING", "ANSIBLE_SSH_ARGS"):
        env.pop(name, None)
    return env


@pytest.fixture
def recorded_ssh(tmp_path):
    """An ssh stand-in for a host that cannot be reached here: records its arguments, then fails like an
    unreachable host. Returns (path of the executable, function reading the recorded arguments)."""
    log = tmp_path / "ssh-args"
    exe = tmp_path / "ssh"
    exe.write_text(f"#!/bin/sh\nprintf '%s\\n' \"$@\" >> {log}\nexit 255\n")
    exe.chmod(exe.stat().st_mode | stat.S_IXUSR)
    return str(exe), lambda: log.read_text() if log.exists() else ""


@pytest.mark.parametrize("extra,verifies", [([], True), (["-e", "ansible_host_key_checking=false"], False)],
                         ids=["production inventory", "check turned off (the test sees it)"])
def test_ssh_to_a_production_host_verifies_its_key(recorded_ssh, extra, verifies):
    exe, recorded = recorded_ssh
    r = subprocess.run(["ansible", "-i", str(ROOT / "inventory" / "production"), "capture-pi-01", "-m", "ping",
                        "-e", f"ansible_ssh_executable={exe}", "-e", "ansible_become=false", *extra],
                       capture_output=True, text=True, env=ansible_env(), cwd=ROOT, timeout=120)
    assert r.returncode != 0 and "UNREACHABLE" in r.stdout, r.stdout + r.stderr
    args = recorded()
    assert "capture-pi-01" in args or "192.0.2.11" in args, args
    assert ("StrictHostKeyChecking=no" not in args) is verifies, args


def test_only_the_local_container_inventory_turns_the_check_off():
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "ansible.cfg")
    assert not cfg.has_option("defaults", "host_key_checking")
    r = subprocess.run(["ansible-inventory", "-i", str(ROOT / "inventory" / "demo"), "--list"],
                       capture_output=True, text=True, env=ansible_env(), cwd=ROOT, check=True)
    hostvars = json.loads(r.stdout)["_meta"]["hostvars"]
    assert hostvars and all(v["ansible_connection"] == "containers.podman.podman" for v in hostvars.values())
    assert all(v["ansible_host_key_checking"] is False for v in hostvars.values())
    molecule = yaml.safe_load((ROOT / ".config" / "molecule" / "config.yml").read_text())
    assert molecule["driver"]["name"] == "podman"
    assert molecule["provisioner"]["config_options"]["defaults"]["host_key_checking"] is False
