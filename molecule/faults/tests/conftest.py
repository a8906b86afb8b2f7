import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.environ["MOLECULE_PROJECT_DIRECTORY"], "molecule", "shared"))

import hosttools  # noqa: E402

HOST = "hotcold-faults"


@pytest.fixture(scope="session")
def capture_host():
    return hosttools.podman_host(HOST)


@pytest.fixture(scope="session")
def hostvars():
    return hosttools.inventory_vars(HOST)


@pytest.fixture(scope="session")
def devices(hostvars):
    return [d["name"] for d in hostvars["hotcold_devices"]]


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    # Before the report is built, so the journal lands in the failure's report sections.
    hosttools.attach_journal_on_failure(item, call, [HOST])
    yield
