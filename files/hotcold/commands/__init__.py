"""One module per subcommand: each has ``add_arguments(parser)`` and ``run(config, args, clock)``."""

COMMANDS = ("archive", "flush", "cleanup", "health", "latest", "status")
