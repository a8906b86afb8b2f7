"""Deliberately broken copies of the runtime, to show the crash-state check can fail.

``broken_copy(dest, break_name)`` copies files/hotcold to ``dest/hotcold`` and edits its mover.py;
the archiver then runs from ``dest`` (PYTHONPATH). The repository's runtime is never touched.
"""

import os
import shutil

import hchelpers

# name -> (text in files/hotcold/mover.py, what replaces it)
BREAKS = {
    # step 2 gone: the copies are not made durable before they are renamed into place and the RAM
    # copies unlinked (ext4's delayed allocation leaves such files empty after a power cut)
    "no-syncfs": ("            sync(path)\n", "            pass  # BROKEN: syncfs removed\n"),
    # step 6 before step 3: the RAM copy is unlinked while the SD copy is still a temp file
    "unlink-before-rename": ("    renamed = _rename_all(copied, res)\n",
                             "    for it in copied:  # BROKEN: RAM unlink before the rename\n"
                             "        unlink_quiet(it.src)\n"
                             "    renamed = _rename_all(copied, res)\n"),
}


def broken_copy(dest, break_name):
    """Given a folder and a BREAKS name, make a runtime copy there with that break; returns the folder
    to put on PYTHONPATH."""
    old, new = BREAKS[break_name]
    shutil.copytree(os.path.join(hchelpers.FILES, "hotcold"), os.path.join(dest, "hotcold"),
                    ignore=shutil.ignore_patterns("__pycache__"))
    path = os.path.join(dest, "hotcold", "mover.py")
    with open(path) as f:
        text = f.read()
    if text.count(old) != 1:
        raise ValueError(f"break {break_name!r}: {old!r} is not exactly once in {path}; update BREAKS")
    with open(path, "w") as f:
        f.write(text.replace(old, new))
    return dest
