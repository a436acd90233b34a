"""Reading the target's installed files, bounded: every byte here comes from the environment under test.

Only regular files are read (a FIFO, a device or a socket is never opened for a blocking read), each up
to a size cap for its kind, and a file that is larger, of another type, or unreadable is *unread*: the
reader keeps the path and the reason, and the check that wanted it reports it in one note instead of
guessing. A file is a distribution's only when its RECORD entry stays inside the distribution's site
folder (no absolute path, no ``..`` that climbs out of it). Limits are documented in README.md
("Limits per file").
"""

from __future__ import annotations

import errno
import os
import posixpath
import stat
from collections.abc import Iterator, Mapping

TYPE_CHECKING = False  # not typing's: the warm paths read cache entries through read_bytes without typing
if TYPE_CHECKING:
    from envdoctor.report import Finding

MiB = 1024 * 1024
SOURCE_LIMIT = 4 * MiB
"""A ``.py``/``.pyi`` file: read, scanned as text and parsed with ``ast`` up to this size (the largest in a
torch install is 1.4 MB; ``ast`` needs about 75 times the source in memory)."""
RECORD_LIMIT = 32 * MiB
BINARY_LIMIT = 256 * MiB
"""An extension module searched whole for the libraries it names."""
SMALL_LIMIT = 1 * MiB
"""A small file read for one value (``torch/version.py``, ``xformers/cpp_lib.json``)."""


class Unread(Exception):
    """A file that was not read, and why (``reason`` is short and printable)."""

    def __init__(self, reason: str, *, missing: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.missing = missing


def open_regular(path: str) -> tuple[int, int]:
    """A file descriptor for ``path``, opened without blocking, and its size, when it is a regular file;
    raises Unread."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    except FileNotFoundError:
        raise Unread("missing", missing=True) from None
    except OSError as exc:
        raise Unread(f"cannot be opened ({_reason(exc)})") from None
    except ValueError:  # an embedded NUL byte in a name from RECORD
        raise Unread("has an invalid name", missing=True) from None
    try:
        st = os.fstat(fd)
    except OSError as exc:
        os.close(fd)
        raise Unread(f"cannot be read ({_reason(exc)})") from None
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        raise Unread(f"is not a regular file ({_kind(st.st_mode)})")
    return fd, st.st_size


def read_bytes(path: str, limit: int) -> bytes:
    """The whole of the regular file ``path`` when it is at most ``limit`` bytes; raises Unread."""
    fd, size = open_regular(path)
    try:
        if size > limit:
            raise Unread(f"is larger than {_size(limit)} ({_size(size)})")
        parts, got = [], 0
        while got <= limit:  # usually two reads: the file, then the end
            chunk = os.read(fd, min(limit + 1 - got, max(size + 1 - got, 65536)))
            if not chunk:
                break
            parts.append(chunk)
            got += len(chunk)
    except OSError as exc:
        raise Unread(f"cannot be read ({_reason(exc)})") from None
    finally:
        os.close(fd)
    if got > limit:  # it grew while being read
        raise Unread(f"is larger than {_size(limit)}")
    return b"".join(parts)


class Reader:
    """Bounded reads that remember, per path, why a file was not read (a missing file is not noted: a
    RECORD that lists a deleted file is common and says nothing about what is installed)."""

    def __init__(self) -> None:
        self.unread: dict[str, str] = {}

    def read(self, path: str, limit: int) -> bytes | None:
        try:
            return read_bytes(path, limit)
        except Unread as exc:
            if not exc.missing:
                self.unread[path] = exc.reason
            return None

    def note(self, path: str, reason: str) -> None:
        self.unread[path] = reason


def unread_note(unread: Mapping[str, str], check: str) -> list[Finding]:
    """One note naming the files a check could not read or parse, and why (none when it read them all)."""
    if not unread:
        return []
    from envdoctor.report import Finding, Severity

    n = len(unread)
    what = "they define or import" if n > 1 else "it defines or imports"
    return [
        Finding(
            id="files-unread",
            severity=Severity.INFO,
            title=f"{n} installed file{'s' if n > 1 else ''} could not be read; what {what} is unknown",
            detail="envdoctor reads only regular files, up to a size limit per kind of file (README.md, "
            '"Limits per file"); the rest of the environment was checked.',
            evidence=tuple(f"{path}: {reason}" for path, reason in sorted(unread.items())[:20]),
            check=check,
        )
    ]


def record_entries(record: str) -> Iterator[tuple[str, str]]:
    """(relative path, hash) of each RECORD line whose file lies inside the distribution's site folder:
    absolute paths and paths that climb out with ``..`` (console scripts, data files, or a crafted
    RECORD) are not files of the distribution as far as its modules go."""
    for line in record.splitlines():  # a blank line has an empty path, which is not inside
        parts = line.rsplit(",", 2)
        path = parts[0].strip().strip('"')
        plain = path and path[0] != "/" and path[1:2] != ":" and ".." not in path and "\\" not in path
        rel = path if plain and "\0" not in path else inside_site(path)  # the common case need not ask
        if rel is not None:
            yield rel, parts[1] if len(parts) == 3 else ""


def inside_site(rel: str) -> str | None:
    """``rel`` normalised when it names a file below the site folder, else None."""
    if not rel or "\0" in rel or rel.startswith(("/", "\\")) or rel[1:2] == ":":
        return None
    if ".." not in rel and "\\" not in rel:
        return rel  # the common case: nothing to normalise
    norm = posixpath.normpath(rel.replace("\\", "/"))
    if norm in (".", "..") or norm.startswith("../") or norm.startswith("/"):
        return None
    return norm


def read_record(reader: Reader, dist_path: str) -> str | None:
    """The RECORD of the distribution whose metadata folder is ``dist_path``, as text (read within
    RECORD_LIMIT), or None when it cannot be read (``reader.unread`` says why)."""
    data = reader.read(os.path.join(dist_path, "RECORD"), RECORD_LIMIT)
    return decode_record(data) if data is not None else None


def decode_record(data: bytes) -> str:
    """RECORD as text, file names kept as the file system spells them (undecodable bytes survive as
    surrogate escapes, so the paths still open)."""
    return data.decode("utf-8", "surrogateescape")


def _reason(exc: OSError) -> str:
    return exc.strerror or errno.errorcode.get(exc.errno or 0, type(exc).__name__)


def _kind(mode: int) -> str:
    for test, name in (
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISDIR, "a folder"),
    ):
        if test(mode):
            return name
    return "not a plain file"


def _size(n: int) -> str:
    return f"{n / MiB:.0f} MiB" if n >= MiB else f"{n} bytes"
