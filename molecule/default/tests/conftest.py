import os
import sys

sys.path.insert(0, os.path.join(os.environ["MOLECULE_PROJECT_DIRECTORY"], "molecule", "shared"))

from single_host import capture_host, devices, hostvars, pytest_runtest_makereport  # noqa: E402,F401
