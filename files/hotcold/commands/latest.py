"""``hotcold latest DEVICE``: print the newest capture's path if it is fresh, else exit 1 with why."""

import sys

from hotcold.errors import EXIT_USAGE
from hotcold.latest import NoFreshCaptureError, find_latest
from hotcold.layout import DeviceLayout

HELP = "print the path of the device's newest capture (exit 1 if none is fresh)"


def add_arguments(p):
    p.add_argument("device")


def run(config, args, clock):
    if args.device not in config.devices:
        print(f"hotcold: latest: unknown device {args.device!r} (configured: {', '.join(config.devices)})",
              file=sys.stderr)
        return EXIT_USAGE
    lay = DeviceLayout(config.base_path, args.device)
    try:
        path, age, how = find_latest(lay.hot_dir("captures"), clock.time(), config.health.max_capture_age_seconds)
    except NoFreshCaptureError as e:
        print(f"hotcold: latest {args.device}: {e}", file=sys.stderr)
        return 1
    print(path)
    return 0
