"""Pack the hotcold runtime package into a reproducible tar (runs on the Ansible controller).

usage: pack_runtime.py SRC_DIR  -> prints the path of a new temporary tar of SRC_DIR's contents.

Same sources, same bytes: entries sorted, mtimes 0, owner root, modes 0755/0644, no bytecode caches.
So the copy to the host changes only when a source file's content changes.
"""

import os
import sys
import tarfile
import tempfile


def entries(src):
    for root, dirs, files in os.walk(src):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__" and not d.startswith("."))
        rel_root = os.path.relpath(root, src)
        for name in dirs + sorted(f for f in files if not f.endswith((".pyc", ".pyo")) and not f.startswith(".")):
            full = os.path.join(root, name)
            yield full, os.path.normpath(os.path.join(rel_root, name))


def main():
    src = sys.argv[1]
    if not os.path.isfile(os.path.join(src, "__main__.py")):
        sys.exit(f"pack_runtime: {src} is not the hotcold package (no __main__.py)")
    out_dir = tempfile.mkdtemp(prefix="hotcold-runtime.")
    out = os.path.join(out_dir, "hotcold-runtime.tar")
    with tarfile.open(out, "w", format=tarfile.GNU_FORMAT) as tar:
        for full, rel in sorted(entries(src), key=lambda e: e[1]):
            if os.path.islink(full):
                continue
            info = tar.gettarinfo(full, arcname=rel)
            info.mtime = 0
            info.uid = info.gid = 0
            info.uname = info.gname = "root"
            if info.isdir():
                info.mode = 0o755
                tar.addfile(info)
            else:
                info.mode = 0o644
                with open(full, "rb") as f:
                    tar.addfile(info, f)
    print(out)


if __name__ == "__main__":
    main()
