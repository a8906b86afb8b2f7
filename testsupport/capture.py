"""The capture role's FFmpeg launcher outside a host, for tests/integration/test_capture_rtsp.py and
bench/b6_capture_cpu.py: rendered with the role's own templates and variables (tests/integration/render-capture.yml),
run with the device's environment file as systemd would read it."""

import json
import os
import shutil
import subprocess

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PLAYBOOK = os.path.join(REPO, "tests", "integration", "render-capture.yml")


def ansible_playbook():
    """The project venv's ansible-playbook, else the one on PATH."""
    venv = os.path.join(os.environ.get("VIRTUAL_ENV") or os.path.join(REPO, ".venv"), "bin", "ansible-playbook")
    return venv if os.path.exists(venv) else shutil.which("ansible-playbook") or "ansible-playbook"


def render(out, devices, settings):
    """Render into ``out`` the launcher (hotcold-capture) and <device>.env for each of ``devices``
    (hotcold_devices entries) with ``settings`` as hotcold_capture."""
    extra = os.path.join(out, "vars.json")
    with open(extra, "w") as f:
        json.dump({"out": out, "hotcold_devices": devices, "hotcold_capture": settings}, f)
    r = subprocess.run([ansible_playbook(), "-i", "localhost,", PLAYBOOK, "-e", f"@{extra}"],
                       capture_output=True, text=True, timeout=300,
                       env=dict(os.environ, ANSIBLE_CONFIG=os.path.join(REPO, "ansible.cfg")))
    if r.returncode != 0:
        raise RuntimeError(f"rendering the capture templates failed: {(r.stdout + r.stderr)[-2000:]}")
    return os.path.join(out, "hotcold-capture")


def read_env(path):
    """An EnvironmentFile as systemd reads the role's: KEY=VALUE, a value optionally in double quotes."""
    env = {}
    with open(path) as f:
        for line in f:
            if "=" in line and not line.startswith("#"):
                key, value = line.rstrip("\n").split("=", 1)
                if value.startswith('"') and value.endswith('"'):
                    value = value[1:-1].replace('\\"', '"').replace("\\\\", "\\")
                env[key] = value
    return env


def launch(launcher, device, env_file, hot, **popen):
    """Start the launcher for ``device`` with its environment file, writing into ``hot`` (a mounted tmpfs),
    in a session of its own. The launcher execs FFmpeg: the returned process's pid is FFmpeg's."""
    env = {**os.environ, **read_env(env_file), "HOTCOLD_HOT_DIR": hot, "TZ": "UTC"}
    return subprocess.Popen(["/bin/bash", launcher, device], env=env, start_new_session=True, **popen)
