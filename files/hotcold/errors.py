"""Exceptions and exit codes shared by the modules."""

# Bad config or bad arguments: UNKNOWN, as monitoring plugins say, never 2, which `hotcold health` uses for CRIT.
EXIT_USAGE = 3


class ConfigError(Exception):
    """A bad config: carries the key path, the offending value and the reason."""

    def __init__(self, path, value, why):
        super().__init__(f"{path}: {value}: {why}")
        self.path = path
        self.value = value
        self.why = why

    def __str__(self):
        return f"{self.path}: {_show(self.value)}: {self.why}"


def _show(value):
    if isinstance(value, str):
        return repr(value) if value == "" or value != value.strip() else value
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class ConfigListError(Exception):
    """Several config errors found at once (all are reported)."""

    def __init__(self, errors):
        super().__init__("; ".join(str(e) for e in errors))
        self.errors = list(errors)
