"""Command line: ``hotcold --config FILE <archive [--once]|flush|cleanup|health|latest DEVICE|status>``."""

import argparse
import importlib
import logging
import sys

from hotcold import __version__
from hotcold.clock import Clock
from hotcold.commands import COMMANDS
from hotcold.errors import EXIT_USAGE, ConfigError, ConfigListError

DEFAULT_CONFIG = "/etc/hotcold/hotcold.yml"


class ArgumentParser(argparse.ArgumentParser):
    """argparse, but a bad argument exits EXIT_USAGE (argparse's own 2 would read as CRIT)."""

    def error(self, message):
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def build_parser():
    p = ArgumentParser(prog="hotcold", description="RAM hot storage -> SD card archive for capture hosts")
    p.add_argument("--config", metavar="FILE", default=DEFAULT_CONFIG, help=f"config file (default {DEFAULT_CONFIG})")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    p.add_argument("--version", action="version", version=f"hotcold {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        mod = importlib.import_module(f"hotcold.commands.{name}")
        sp = sub.add_parser(name, help=mod.HELP, description=mod.HELP)
        mod.add_arguments(sp)
        sp.set_defaults(_module=mod)
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    from hotcold import sysd

    sysd.setup_logging(args.verbose)
    from hotcold.config import load_config

    try:
        config = load_config(args.config)
    except (ConfigListError, ConfigError) as e:
        errors = e.errors if isinstance(e, ConfigListError) else [e]
        for err in errors:
            print(f"hotcold: config error: {err}", file=sys.stderr)
        return EXIT_USAGE
    try:
        clock = Clock.from_env()
    except ValueError:
        print("hotcold: HOTCOLD_NOW must be seconds since the epoch", file=sys.stderr)
        return EXIT_USAGE
    try:
        return args._module.run(config, args, clock)
    except KeyboardInterrupt:
        return 130
    except Exception:
        logging.getLogger("hotcold").exception("%s failed", args.command)
        return 1
