"""Fixtures of the power-cut tests: fail (never skip) where the machine cannot stack FUSE, loop and ext4."""

import os

import pc_stack
import pytest
from hchelpers import require_root, require_tool

HERE = os.path.dirname(os.path.abspath(__file__))


@pytest.fixture
def sd_stack_ok():
    """Fail, naming what is missing, unless root, /dev/fuse, libfuse2 (fusepy), losetup, mkfs.ext4 and
    fusermount are all here."""
    require_root()
    if not os.path.exists("/dev/fuse"):
        pytest.fail("no /dev/fuse: the power-cut tests need FUSE", pytrace=False)
    try:
        import fuse  # noqa: F401  (fusepy; raises EnvironmentError without libfuse2)
    except (ImportError, OSError) as e:
        pytest.fail(f"fusepy over libfuse2 not usable: {e} (scripts/setup-host.sh, requirements-dev.txt)",
                    pytrace=False)
    for tool in ("losetup", "mkfs.ext4", "fusermount"):
        require_tool(tool)


@pytest.fixture
def mounts():
    """A pc_stack.Mounts, undone after the test."""
    m = pc_stack.Mounts()
    yield m
    m.close()
