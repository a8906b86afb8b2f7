"""``hotcold status``: a compact table per device."""

from hotcold.statusview import render

HELP = "show what is in RAM and on the SD per device"


def add_arguments(p):
    pass


def run(config, args, clock):
    print(render(config, clock.time()), end="")
    return 0
