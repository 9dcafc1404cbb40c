"""Read a submitted notebook without trusting the submission folder it sits in.

Submission folders come from students (an upload, an unpacked archive, a shared file system), so the
notebook may be a symbolic link to the instructor's source notebook or to any file of the machine, a
hard link, a named pipe that blocks whoever opens it, a 100 MB file, or not a notebook at all. Every
read of a submission -- the cache key in the batch process and the grading itself -- goes through
``read_submitted``: nothing is followed, opened before it is known to be a plain file, or quoted back.

A grading reads each notebook once (``Submission``): the bytes it parses are the bytes its cache keys
and probe seeds derive from, so a file replaced while a batch runs cannot store the grade of one
content under the key of another.
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import nbformat
from nbformat import NotebookNode

from pipelines.execute import statuses
from pipelines.grade import notebook as nbtools

MAX_NOTEBOOK_MB = 64


class Rejected(Exception):
    """A submission that cannot be graded: its status and the message for the student."""

    def __init__(self, status: str, message: str) -> None:
        super().__init__(message)
        self.status = status


def _reject_links(student_dir: Path) -> None:
    """The student's folder and its assignment folder must be real folders, not links to others'."""
    for folder in (student_dir.parent, student_dir):
        try:
            mode = os.lstat(folder).st_mode
        except FileNotFoundError:
            return
        if stat.S_ISLNK(mode):
            raise Rejected(statuses.INVALID_NOTEBOOK, f"your submission folder '{folder.name}' is a link to another "
                                                      "place, not a folder; submit your own files.")


def read_submitted(student_dir: Path, name: str) -> bytes:
    """The bytes of ``student_dir/name``, read only if it is a plain file of its own (``Rejected`` else)."""
    _reject_links(student_dir)
    path = student_dir / name
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise Rejected(statuses.MISSING, f"{name} was not found in your submission folder.{_others(student_dir, name)}") from None
    except OSError:
        if os.path.islink(path):
            raise Rejected(statuses.INVALID_NOTEBOOK, f"{name} is a symbolic link, not a file: it was not followed. "
                                                      "Submit the notebook file itself.") from None
        raise Rejected(statuses.INVALID_NOTEBOOK, f"{name} could not be opened; submit the notebook file itself.") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise Rejected(statuses.INVALID_NOTEBOOK, f"{name} is not a regular file (a folder, pipe or device); "
                                                      "submit the notebook file itself.")
        if info.st_nlink > 1:
            raise Rejected(statuses.INVALID_NOTEBOOK, f"{name} is a hard link shared with another file: it was not "
                                                      "read. Submit a copy of your notebook of its own.")
        if info.st_size > MAX_NOTEBOOK_MB << 20:
            raise Rejected(statuses.INVALID_NOTEBOOK, f"{name} is larger than {MAX_NOTEBOOK_MB} MB. Clear its outputs "
                                                      "(Kernel > Restart & Clear Output), save and submit again.")
        with os.fdopen(os.dup(fd), "rb") as fh:
            return fh.read(MAX_NOTEBOOK_MB << 20)
    finally:
        os.close(fd)


def _others(student_dir: Path, name: str) -> str:
    """`` Found instead: a.ipynb`` when other notebooks are there (a renamed file is the usual cause)."""
    found = other_notebooks(student_dir, (name,))
    return f" Found instead: {', '.join(found)}; name your notebook {name}." if found else ""


def other_notebooks(student_dir: Path, graded: Collection[str]) -> list[str]:
    """``.ipynb`` entries of the folder other than the ``graded`` ones (names only: none is opened)."""
    try:
        return sorted(p.name for p in student_dir.iterdir() if p.suffix == ".ipynb" and p.name not in graded)[:5]
    except OSError:
        return []


@dataclass(frozen=True)
class Submission:
    """A student's graded notebooks as read at one moment: each one's bytes, or why it cannot be
    graded, and the names of the other notebooks in the folder."""

    files: dict[str, bytes | Rejected]
    others: tuple[str, ...]

    @classmethod
    def read(cls, student_dir: Path, notebooks: Sequence[str]) -> Submission:
        files: dict[str, bytes | Rejected] = {}
        for name in notebooks:
            try:
                files[name] = read_submitted(student_dir, name)
            except Rejected as rejected:
                files[name] = rejected
        return cls(files, tuple(other_notebooks(student_dir, notebooks)))

    def data(self, name: str) -> bytes:
        """The bytes read of notebook ``name`` (``Rejected`` when it could not be read)."""
        read = self.files[name]
        if isinstance(read, Rejected):
            raise read
        return read

    @cached_property
    def digest(self) -> str:
        """Hash of the notebooks as read: what the cache keys and the probe seeds derive from."""
        h = hashlib.sha256()
        for name, read in self.files.items():
            h.update(name.encode())
            h.update(f"<{read.status}: {read}>".encode() if isinstance(read, Rejected) else read)
        return h.hexdigest()


def parse_submitted(data: bytes, name: str, source: NotebookNode) -> NotebookNode:
    """Parse the bytes as a v4 notebook of this assignment (``Rejected`` with the reason else)."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Rejected(statuses.INVALID_NOTEBOOK, f"{name} is not a valid Jupyter notebook (it is not UTF-8 text: "
                                                  f"byte {exc.start} cannot be read). Open it in Jupyter, save it "
                                                  "again and resubmit.") from None
    try:
        nb = nbformat.reads(text, as_version=4)
        nbformat.validate(nb)
    except (ValueError, TypeError, AttributeError, nbformat.ValidationError) as exc:
        first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        raise Rejected(statuses.INVALID_NOTEBOOK, f"{name} is not a valid Jupyter notebook ({first}). Open it in "
                                                  "Jupyter, save it again and resubmit.") from None
    ours = {nbtools.grade_id(c) for c in source.cells} - {None}
    theirs = {nbtools.grade_id(c) for c in nb.cells} - {None}
    if ours and not ours & theirs:
        raise Rejected(statuses.INVALID_NOTEBOOK, f"{name} is not this assignment's notebook: none of its graded "
                                                  "cells belong to it. Submit the notebook you were given, "
                                                  "with your answers in it.")
    return nb
