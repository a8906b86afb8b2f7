"""pytest fixtures for a scenario with one platform; its conftest.py imports them (from single_host import *)."""

import hosttools
import pytest

HOST = hosttools.platform_names()[0]


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
