"""``hotcold health``: checks per device; table on stdout; exit 0 OK / 1 WARN / 2 CRIT;
Prometheus textfile (node_exporter textfile collector) written atomically."""

import logging

from hotcold.healthchecks import evaluate, overall, render_table, render_textfile, write_textfile

HELP = "check every device; exit 0 OK, 1 WARN, 2 CRIT; write the Prometheus textfile"
log = logging.getLogger("hotcold.health")


def add_arguments(p):
    p.add_argument("--no-textfile", action="store_true", help="do not write health.textfile_path")


def run(config, args, clock):
    now = clock.time()
    results, _ = evaluate(config, now)
    print(render_table(results, now, config.tz), end="")
    if not args.no_textfile:
        path = config.health.textfile_path
        try:
            write_textfile(path, render_textfile(results, now, config))
        except OSError as e:
            log.error("cannot write the Prometheus textfile %s: %s", path, e)
    return overall(results)
