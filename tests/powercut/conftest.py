"""Fixtures of the power-cut tests: skip cleanly where the machine cannot stack FUSE, loop and ext4."""

import os
import shutil

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))


@pytest.fixture
def sd_stack_ok():
    """Skip unless root, /dev/fuse, libfuse2 (fusepy), losetup and mkfs.ext4 are all here."""
    if os.geteuid() != 0:
        pytest.skip("loop devices and FUSE mounts need root")
    if not os.path.exists("/dev/fuse"):
        pytest.skip("no /dev/fuse")
    try:
        import fuse  # noqa: F401  (fusepy; raises EnvironmentError without libfuse2)
    except (ImportError, OSError) as e:
        pytest.skip(f"fusepy over libfuse2 not usable: {e} (scripts/setup-host.sh, requirements-dev.txt)")
    for tool in ("losetup", "mkfs.ext4", "fusermount"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} not installed")
