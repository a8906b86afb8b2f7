"""``hotcold status``: a compact table per device, or with ``--json`` the JSON document for scripts
(the same document as ``hotcold health --json``)."""

import json

from hotcold.statusview import document, render

HELP = "show what is in RAM and on the SD per device (--json: the document for scripts)"


def add_arguments(p):
    p.add_argument("--json", action="store_true", help="print the JSON document instead of the table")


def run(config, args, clock):
    now = clock.time()
    if args.json:
        print(json.dumps(document(config, now), indent=2))
    else:
        print(render(config, now), end="")
    return 0
