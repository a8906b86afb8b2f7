"""Deliberately broken copies of the runtime, to show the crash-state check can fail.

``broken_copy(dest, break_name)`` copies files/hotcold to ``dest/hotcold`` and edits one module (mover.py
or checkpoint.py); the archiver then runs from ``dest`` (PYTHONPATH). The repository's runtime is never
touched.
"""

import os
import shutil

import hchelpers

# name -> (module, text in files/hotcold/<module>, what replaces it)
BREAKS = {
    # the checkpoint's flush gone: the outbox RAM copies are released while their SD copies are only in the
    # page cache (ext4's delayed allocation leaves such files empty after a power cut)
    "no-syncfs": ("checkpoint.py", "            self.sync(self.base_path)\n",
                  "            pass  # BROKEN: the checkpoint's syncfs removed\n"),
    # the RAM copy is unlinked while the SD copy is still a temp file
    "unlink-before-rename": ("mover.py", "    renamed = _rename_all(copied, res)\n",
                             "    for it in copied:  # BROKEN: RAM unlink before the rename\n"
                             "        unlink_quiet(it.src)\n"
                             "    renamed = _rename_all(copied, res)\n"),
    # the outbox RAM copies are unlinked before the checkpoint's flush instead of after it
    "release-before-flush": ("checkpoint.py", "            self.sync(self.base_path)\n",
                             "            for p in pending:  # BROKEN: released before the flush\n"
                             "                unlink_quiet(p.outbox)\n"
                             "            self.sync(self.base_path)\n"),
    # recovery keeps every visible file the last checkpoint did not cover, unverified
    "keep-unverified": ("checkpoint.py", "            if _matches(path, tail.get(key), layout, kind, d, name):\n",
                        "            if True:  # BROKEN: uncheckpointed files kept without checking them\n"),
}


def broken_copy(dest, break_name):
    """Given a folder and a BREAKS name, make a runtime copy there with that break; returns the folder
    to put on PYTHONPATH."""
    module, old, new = BREAKS[break_name]
    shutil.copytree(os.path.join(hchelpers.FILES, "hotcold"), os.path.join(dest, "hotcold"),
                    ignore=shutil.ignore_patterns("__pycache__"))
    path = os.path.join(dest, "hotcold", module)
    with open(path) as f:
        text = f.read()
    if text.count(old) != 1:
        raise ValueError(f"break {break_name!r}: {old!r} is not exactly once in {path}; update BREAKS")
    with open(path, "w") as f:
        f.write(text.replace(old, new))
    return dest
