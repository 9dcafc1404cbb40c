"""Take files out of a job folder that student code could write: regular files only, links never followed.

A sandboxed run can leave anything in its job folder: a symbolic link named like the executed notebook
that points at the instructor's source notebook, a named pipe that blocks whoever opens it, a
hundred thousand files. The trusted process (which may run as root) reads those folders only through
``copy_regular_files``: each entry is looked at without following links, each file opened with
``O_NOFOLLOW | O_NONBLOCK`` and checked to be a regular file before a byte is read.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

_CHUNK = 1 << 20


def copy_regular_files(src: Path, dst: Path, max_entries: int = 20_000) -> list[str]:
    """Copy the regular files and folders under ``src`` to ``dst``; the paths skipped (links, pipes,
    sockets, devices, entries past ``max_entries``), relative to ``src``. ``src`` itself must be a
    real folder (not a link to one), else nothing is copied."""
    skipped: list[str] = []
    try:
        if not stat.S_ISDIR(os.lstat(src).st_mode):
            return [src.name]
    except FileNotFoundError:
        return []
    dst.mkdir(parents=True, exist_ok=True)
    todo = [Path()]
    seen = 0
    while todo:
        rel = todo.pop()
        with os.scandir(src / rel) as entries:
            for entry in entries:
                seen += 1
                path = rel / entry.name
                if seen > max_entries:
                    skipped.append(str(path))
                    continue
                if entry.is_dir(follow_symlinks=False):
                    (dst / path).mkdir()
                    todo.append(path)
                elif not _copy_file(src / path, dst / path):
                    skipped.append(str(path))
    return skipped


def _copy_file(src: Path, dst: Path) -> bool:
    """Copy ``src`` if it is a regular file (opened without following a link); False otherwise."""
    try:
        fd = os.open(src, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return False
        with open(dst, "xb") as out:
            while chunk := os.read(fd, _CHUNK):
                out.write(chunk)
    finally:
        os.close(fd)
    return True
