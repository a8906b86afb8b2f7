import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.environ["MOLECULE_PROJECT_DIRECTORY"], "molecule", "shared"))

import hosttools  # noqa: E402


@pytest.fixture(scope="session")
def fleet():
    """{host name: (testinfra host, merged inventory vars)} for every platform of the scenario."""
    return {name: (hosttools.podman_host(name), hosttools.inventory_vars(name)) for name in hosttools.platform_names()}


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    hosttools.attach_journal_on_failure(item, call, hosttools.platform_names())
    yield
