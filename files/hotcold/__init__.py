"""hotcold: RAM hot storage -> SD card cold archive for video-capture hosts.

Runs with Debian's python3 and Debian packages only (python3-yaml, python3-jsonschema,
python3-pyinotify, python3-systemd). See files/README.md and docs/DESIGN.md.
"""

__version__ = "1.0.0"
