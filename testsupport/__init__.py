"""What the tests (pytest) and the benchmarks (bench/run.py) share: the FFmpeg-like writer (``writer``),
the SD card and RAM mounts (``mounts``) and the hotcold config writer (``config``).

Standard library only (PyYAML for ``.yml`` configs), so the bench can import it under Debian's python3.
"""
