"""Writing a file so that a reader never sees half of it: write beside it, then rename over it.

``write_output`` is what ``--output`` does: a regular file is replaced atomically and keeps its mode
(and, for root, its owner); a symlink is followed, so the file it points to is replaced and the link
stays; a device, a pipe, a socket or a ``/dev/*`` or ``/proc/*`` path (``/dev/stdout``, ``/dev/null``)
is written as it is, never replaced.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from pathlib import Path


def write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically (a temporary file in the same folder, then os.replace).
    An existing file keeps its mode (and owner, where allowed); a new one gets 0666 less the umask.
    A symlink is followed (the file it points to is replaced; the link stays); a symlink to nothing is
    refused. Raises OSError; the temporary file never stays behind."""
    try:
        before: os.stat_result | None = os.stat(path)
    except FileNotFoundError:
        if os.path.islink(path):
            raise FileNotFoundError(errno.ENOENT, "a symlink to a missing file (not followed)") from None
        before = None
    if before is not None and stat.S_ISDIR(before.st_mode):
        raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR))
    real = Path(os.path.realpath(path)) if os.path.islink(path) else path
    tmp = real.parent / f".{real.name}.{os.urandom(4).hex()}.partial"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o666)
    try:
        if before is not None:
            os.fchmod(fd, stat.S_IMODE(before.st_mode))
            with contextlib.suppress(OSError):  # only root may give a file to someone else
                os.fchown(fd, before.st_uid, before.st_gid)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, real)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def write_output(path: Path, text: str) -> None:
    """``--output PATH``: a device, pipe, socket or /dev, /proc path is written in place; anything else
    through write_text. Raises OSError."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        mode = None
    special = mode is not None and not stat.S_ISREG(mode) and not stat.S_ISDIR(mode)
    if special or str(path).startswith(("/dev/", "/proc/")):
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(text)
        return
    write_text(path, text)
