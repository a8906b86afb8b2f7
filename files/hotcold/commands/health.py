"""``hotcold health``: checks per device; table (or with ``--json`` the JSON document, the same as
``hotcold status --json``) on stdout; exit 0 OK / 1 WARN / 2 CRIT; Prometheus textfile (node_exporter
textfile collector) written atomically."""

import json
import logging

from hotcold.healthchecks import evaluate, overall, render_table, render_textfile, write_textfile
from hotcold.statusview import document

HELP = "check every device; exit 0 OK, 1 WARN, 2 CRIT; write the Prometheus textfile"
log = logging.getLogger("hotcold.health")


def add_arguments(p):
    p.add_argument("--no-textfile", action="store_true", help="do not write health.textfile_path")
    p.add_argument("--json", action="store_true", help="print the JSON document instead of the table")


def run(config, args, clock):
    now = clock.time()
    results, doc = evaluate(config, now)
    if args.json:
        print(json.dumps(document(config, now, (results, doc)), indent=2))
    else:
        print(render_table(results, now, config.tz), end="")
    if not args.no_textfile:
        path = config.health.textfile_path
        try:
            write_textfile(path, render_textfile(results, now, config))
        except OSError as e:
            log.error("cannot write the Prometheus textfile %s: %s", path, e)
    return overall(results)
