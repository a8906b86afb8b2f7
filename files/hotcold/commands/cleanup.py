"""``hotcold cleanup``: delete expired SD hour folders (cron, hourly)."""

from hotcold.retention import cleanup

HELP = "delete SD hour folders older than their kind's retention"


def add_arguments(p):
    pass


def run(config, args, clock):
    expired, swept = cleanup(config, clock.time())
    for e in expired:
        what = f"{e.files} file(s) deleted" if e.removed else "already gone (another run)"
        print(f"{e.device}: {e.kind}/{e.hour} of {e.day} expired: {what}")
    if swept:
        print(f"swept {swept} leftover trash folder(s)")
    if not expired and not swept:
        print("nothing expired")
    return 0
