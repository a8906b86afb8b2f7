"""The checkpoint timer: checkpoint_seconds bounds a file's wait from leaving the hot set to durable."""

import pytest

from hotcold.archiver import checkpoint_period
from hotcold.config import load_data


def archive(**over):
    return load_data({"base_path": "/b", "devices": ["d"], "archive": over}).archive


@pytest.mark.parametrize("over, period", [
    ({}, 29.0),  # the defaults: 30 s, files gathered for 1 s before they are visible
    ({"checkpoint_seconds": 30, "batch_seconds": 0.25}, 29.75),
    ({"checkpoint_seconds": 10, "batch_seconds": 10, "rescan_seconds": 10}, 5.0),  # the SD saver's window: half
    ({"checkpoint_seconds": 1, "batch_seconds": 0}, 1.0),
])
def test_the_timer_leaves_room_for_the_batch_window(over, period):
    assert checkpoint_period(archive(**over)) == period
