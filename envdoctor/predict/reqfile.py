"""Reads pip requirements files (includes, options, hashes, URLs, paths) the way pip does, without pip.

The rules follow pip's ``req/req_file.py`` and ``req/constructors.py``: lines are split with
``str.splitlines``, ``\\``-continuations are joined first, then comments (``#`` at the start or after
whitespace) are stripped, then ``${UPPER_CASE}`` variables are expanded. Each line is split, at the
first space-separated token starting with ``-``, into a requirement and its options. Nothing is
fetched and nothing is written; errors say ``FILE:LINE: what is wrong`` with credentials masked.
"""

from __future__ import annotations

import codecs
import os
import re
import shlex
import stat
import urllib.parse
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from packaging.markers import InvalidMarker, Marker
from packaging.utils import parse_wheel_filename

from envdoctor.errors import UsageError
from envdoctor.redact import redact
from envdoctor.versions import InvalidRequirement, NormalizedName, Requirement, canonical, parse_requirement

if TYPE_CHECKING:
    from envdoctor.versions import MarkerEnvironment

__all__ = ["Line", "RequirementsError", "RequirementsFile", "parse_requirements_text", "read_requirements"]

MAX_BYTES = 256 * 1024 * 1024
"""A larger "requirements file" is a mistake (or /dev/zero); refuse it instead of filling memory."""

_ENV_VAR = re.compile(r"\$\{([A-Z0-9_]+)\}")
_CODING = re.compile(rb"coding[:=]\s*([-\w.]+)")
_EXTRAS = re.compile(r"^(.+)(\[[^\]]+\])$")
_EGG = re.compile(r"[#&]egg=([^&]*)")
_SCHEME_LIKE = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
_BOMS = (  # UTF-32 first: its little-endian BOM starts with UTF-16's
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
_VCS = ("git", "hg", "svn", "bzr")
_VCS_SCHEMES = frozenset(
    [
        "git+http",
        "git+https",
        "git+ssh",
        "git+git",
        "git+file",
        "hg+file",
        "hg+http",
        "hg+https",
        "hg+ssh",
        "hg+static-http",
        "svn+ssh",
        "svn+http",
        "svn+https",
        "svn+svn",
        "svn+file",
        "bzr+http",
        "bzr+https",
        "bzr+ssh",
        "bzr+sftp",
        "bzr+ftp",
        "bzr+lp",
        "bzr+file",
    ]
)
_URL_SCHEMES = frozenset({"http", "https", "file", "ftp"}) | _VCS_SCHEMES
_ARCHIVES = (
    ".zip",
    ".whl",
    ".tar.bz2",
    ".tbz",
    ".tar.gz",
    ".tgz",
    ".tar",
    ".tar.xz",
    ".txz",
    ".tlz",
    ".tar.lz",
    ".tar.lzma",
)
_STRONG_HASHES = ("sha256", "sha384", "sha512")

# pip's SUPPORTED_OPTIONS + SUPPORTED_OPTIONS_REQ: spelling -> (canonical long name, takes a value)
_LONG: dict[str, tuple[str, bool]] = {
    "--index-url": ("--index-url", True),
    "--pypi-url": ("--index-url", True),
    "--extra-index-url": ("--extra-index-url", True),
    "--no-index": ("--no-index", False),
    "--constraint": ("--constraint", True),
    "--requirement": ("--requirement", True),
    "--editable": ("--editable", True),
    "--find-links": ("--find-links", True),
    "--no-binary": ("--no-binary", True),
    "--only-binary": ("--only-binary", True),
    "--prefer-binary": ("--prefer-binary", False),
    "--require-hashes": ("--require-hashes", False),
    "--pre": ("--pre", False),
    "--trusted-host": ("--trusted-host", True),
    "--use-feature": ("--use-feature", True),
    "--global-option": ("--global-option", True),
    "--hash": ("--hash", True),
    "--config-settings": ("--config-settings", True),
}
_SHORT = {
    "-i": "--index-url",
    "-c": "--constraint",
    "-r": "--requirement",
    "-e": "--editable",
    "-f": "--find-links",
    "-C": "--config-settings",
}
_PASS_THROUGH = frozenset({"--prefer-binary", "--only-binary", "--no-binary", "--require-hashes", "--use-feature"})
_PER_REQUIREMENT = frozenset({"--global-option", "--config-settings"})


@dataclass(frozen=True)
class Line:
    """One requirement (or constraint) of a requirements file set."""

    text: str
    """As pip gets it: continuations joined, comment stripped, variables expanded, options removed."""
    file: str
    lineno: int
    """1-based line where the (possibly continued) line starts."""
    requirement: Requirement | None
    """For named lines (``name @ url`` included; wheel file names and ``#egg=`` give a name too)."""
    url: str | None
    """URL, VCS URL or local path (as written, extras and markers removed), else None."""
    editable: bool = False
    hashes: tuple[str, ...] = ()
    """``algo:digest`` from ``--hash`` options, in order."""
    constraint: bool = False
    marker: Marker | None = None
    extras: frozenset[str] = frozenset()
    """Normalized (PEP 685), also for nameless lines (``.[dev]``)."""
    options: tuple[str, ...] = ()
    """Other per-requirement options (``--config-settings=K=V``, ``--global-option=X``)."""

    @property
    def name(self) -> NormalizedName | None:
        return None if self.requirement is None else canonical(self.requirement.name)

    def applies(self, env: MarkerEnvironment, extra: str = "") -> bool:
        """Whether the line's marker holds in ``env`` (a line without a marker always applies)."""
        return env.holds(self.marker, extra)


Origin = tuple[str, str, int]
"""(option text, file, lineno)"""


@dataclass(frozen=True)
class RequirementsFile:
    """A top-level requirements file and everything it includes (``-r``) or constrains with (``-c``)."""

    lines: tuple[Line, ...] = ()
    index_url: str | None = None
    """The last ``-i``/``--index-url`` seen."""
    extra_index_urls: tuple[str, ...] = ()
    find_links: tuple[str, ...] = ()
    """Local paths made relative to their file when that exists there, as pip does."""
    trusted_hosts: tuple[str, ...] = ()
    no_index: bool = False
    pre: bool = False
    other_options: tuple[Origin, ...] = ()
    """Options that leave the set of requirements alone (``--only-binary=:all:``), to pass through."""
    ignored_options: tuple[Origin, ...] = ()
    """What pip parses and silently ignores: global options on a requirement line, ``--hash`` without
    a requirement, a second ``-r`` on one line, stray words after options."""


class RequirementsError(UsageError):
    """``FILE:LINE: what is wrong`` (``FILE: what is wrong`` when about the whole file, lineno 0)."""

    def __init__(self, file: str, lineno: int, problem: str, *, environ: Mapping[str, str] | None = None) -> None:
        env = {**os.environ, **environ} if environ else None
        self.file = redact(file, env)
        self.lineno = lineno
        where = f"{file}:{lineno}" if lineno else file
        super().__init__(" ".join(redact(f"{where}: {problem}", env).splitlines()))


def read_requirements(
    path: str | os.PathLike[str], *, environ: Mapping[str, str] | None = None, display: str | None = None
) -> RequirementsFile:
    """Reads ``path`` and every file it includes; ``environ`` (default os.environ) expands ``${VAR}``;
    ``display``: the name errors give the file (default: ``path``; a copy of a pipe names the pipe)."""
    reader = _Reader(environ)
    display = os.fspath(path) if display is None else display
    local = reader.local_path(os.fspath(path), display, 0)
    data = reader.read_bytes(local, display, display, 0)
    text = reader.decode(data, display)
    reader.run(display, os.path.realpath(local), os.path.dirname(local), text)
    return reader.result()


def parse_requirements_text(
    text: str,
    *,
    file: str = "<string>",
    environ: Mapping[str, str] | None = None,
    base_dir: str | os.PathLike[str] | None = None,
) -> RequirementsFile:
    """Like read_requirements for ``text`` itself; ``-r``/``-c`` paths are relative to ``base_dir``
    (default: the current directory)."""
    reader = _Reader(environ)
    reader.check_nul(text, file)
    reader.run(file, None, "" if base_dir is None else os.fspath(base_dir), text)
    return reader.result()


class _LineError(Exception):
    """A problem with the line being read; the reader adds file and line."""


@dataclass
class _Frame:
    file: str
    real: str | None
    base: str
    constraint: bool
    lines: Iterator[tuple[int, str]]


class _Reader:
    def __init__(self, environ: Mapping[str, str] | None) -> None:
        self.environ: Mapping[str, str] = os.environ if environ is None else environ
        self.lines: list[Line] = []
        self.index_url: str | None = None
        self.extra_index_urls: list[str] = []
        self.find_links: list[str] = []
        self.trusted_hosts: list[str] = []
        self.no_index = False
        self.pre = False
        self.other: list[Origin] = []
        self.ignored: list[Origin] = []

    def error(self, file: str, lineno: int, problem: str) -> RequirementsError:
        return RequirementsError(file, lineno, problem, environ=self.environ)

    def result(self) -> RequirementsFile:
        return RequirementsFile(
            lines=tuple(self.lines),
            index_url=self.index_url,
            extra_index_urls=tuple(self.extra_index_urls),
            find_links=tuple(self.find_links),
            trusted_hosts=tuple(self.trusted_hosts),
            no_index=self.no_index,
            pre=self.pre,
            other_options=tuple(self.other),
            ignored_options=tuple(self.ignored),
        )

    # ---- files ----

    def local_path(self, target: str, file: str, lineno: int) -> str:
        """``target`` as a local path; http(s) and remote file: URLs are refused."""
        scheme = target.split(":", 1)[0].lower() if ":" in target else ""
        if scheme in ("http", "https"):
            what = "a remote requirements file" if lineno == 0 else f"{_show(target)} is a remote requirements file"
            raise self.error(
                file,
                lineno,
                f"{what}; envdoctor does not fetch remote requirement files (download it and pass the local copy)",
            )
        if scheme == "file":
            try:
                parts = _urlsplit(target)
            except _LineError as exc:
                raise self.error(file, lineno, str(exc)) from None
            if parts.netloc not in ("", "localhost"):
                raise self.error(file, lineno, f"{_show(target)}: file URLs on another host are not read")
            return urllib.parse.unquote(parts.path)
        return target

    def read_bytes(self, path: str, shown: str, file: str, lineno: int) -> bytes:
        """Bytes of ``path``; problems are reported at ``file:lineno`` (the including line, or 0)."""
        it = "it" if lineno == 0 else _show(shown)
        looked = f" (looked for {_show(path)})" if lineno and path != shown else ""
        try:
            mode = os.stat(path).st_mode
        except (FileNotFoundError, NotADirectoryError):
            raise self.error(file, lineno, "no such file" if lineno == 0 else f"no such file {it}{looked}") from None
        except OSError as exc:
            raise self.error(file, lineno, f"cannot read {it}: {exc.strerror}") from None
        if stat.S_ISDIR(mode):
            raise self.error(file, lineno, f"{'' if lineno == 0 else it + ' '}is a directory, not a requirements file")
        if not (stat.S_ISREG(mode) or stat.S_ISFIFO(mode)):
            raise self.error(file, lineno, f"{'' if lineno == 0 else it + ' '}is not a regular file")
        try:
            with open(path, "rb") as f:
                data = f.read(MAX_BYTES + 1)
        except OSError as exc:
            raise self.error(file, lineno, f"cannot read {it}: {exc.strerror}") from None
        if len(data) > MAX_BYTES:
            raise self.error(file, lineno, f"{it} is larger than {MAX_BYTES // 2**20} MiB; not a requirements file")
        return data

    def decode(self, data: bytes, file: str) -> str:
        """pip's auto_decode (BOM, then a PEP 263 coding line), else strict UTF-8 (no locale guess)."""
        encoding = "utf-8"
        for bom, name in _BOMS:
            if data.startswith(bom):
                data, encoding = data[len(bom) :], name
                break
        else:
            for head in data.split(b"\n", 2)[:2]:
                match = _CODING.search(head) if head[:1] == b"#" else None
                if match:
                    encoding = match.group(1).decode("ascii")
                    break
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError as exc:
            lineno = data.count(b"\n", 0, exc.start) + 1
            raise self.error(
                file,
                lineno,
                f"cannot be decoded as {encoding} (byte 0x{data[exc.start]:02x}); is it a binary file? "
                "requirements files are text, UTF-8 unless a coding line says otherwise",
            ) from None
        except (UnicodeError, LookupError) as exc:  # an unknown or non-text codec in a coding line
            raise self.error(file, 1, f"cannot be decoded as {encoding!r}: {_first_line(exc)}") from None
        self.check_nul(text, file)
        return text

    def check_nul(self, text: str, file: str) -> None:
        at = text.find("\x00")
        if at != -1:
            lineno = text.count("\n", 0, at) + 1
            raise self.error(file, lineno, "contains a NUL character; is it a binary file?")

    # ---- the walk over includes ----

    def run(self, file: str, real: str | None, base: str, text: str) -> None:
        seen: set[tuple[str, bool]] = set() if real is None else {(real, False)}
        stack = [_Frame(file, real, base, False, _logical_lines(text, self.environ))]
        while stack:
            frame = stack[-1]
            item = next(frame.lines, None)
            if item is None:
                stack.pop()
                continue
            lineno, line = item
            try:
                include = self.handle(frame, lineno, line)
            except _LineError as exc:
                raise self.error(frame.file, lineno, str(exc)) from None
            if include is None:
                continue
            target, constraint = include
            path = self.local_path(target, frame.file, lineno)
            if path == target:  # pip: relative to the including file's folder
                path = os.path.join(frame.base, target)
            real_path = os.path.realpath(path)
            chain = [f.real for f in stack]
            if real_path in chain:
                names = [f.file for f in stack[chain.index(real_path) :]] + [path]
                raise self.error(frame.file, lineno, f"include cycle: {' -> '.join(names)}")
            if (real_path, constraint) in seen:  # read each file once (pip would repeat its lines)
                continue
            seen.add((real_path, constraint))
            data = self.read_bytes(path, target, frame.file, lineno)
            lines = _logical_lines(self.decode(data, path), self.environ)
            stack.append(_Frame(path, real_path, os.path.dirname(path), constraint, lines))

    def handle(self, frame: _Frame, lineno: int, line: str) -> tuple[str, bool] | None:
        """Records one logical line; returns (target, constraint) of an include to read next."""
        args, options_text = _break_args_options(line)
        args = args.strip()
        try:
            tokens = shlex.split(options_text) if options_text else []
        except ValueError as exc:
            raise _LineError(f"cannot split options {_show(options_text)}: {exc}") from None
        options, strays = _parse_options(tokens)

        def keep_only(keep: frozenset[str], used: str = "") -> tuple[str, ...]:
            """Options named in ``keep`` as text; the rest, but ``used``, are recorded as ignored."""
            kept = [_option_text(n, v) for n, v in options if n in keep]
            self.ignored.extend((_option_text(n, v), frame.file, lineno) for n, v in options if n not in keep | {used})
            self.ignored.extend((stray, frame.file, lineno) for stray in strays)
            return tuple(kept)

        if args:
            hashes = tuple(value for name, value in options if name == "--hash" and value)
            kept = keep_only(_PER_REQUIREMENT, used="--hash")
            self.add(_requirement_line(args, frame, lineno, hashes=hashes, options=kept))
            return None
        editable = next((i for i, (name, _) in enumerate(options) if name == "--editable"), None)
        if editable is not None:  # pip: the first -e of an options-only line, and no per-requirement --hash
            target = options.pop(editable)[1] or ""
            self.add(_editable_line(target, frame, lineno, options=keep_only(frozenset({"--config-settings"}))))
            return None
        for wanted, constraint in (("--requirement", False), ("--constraint", True)):
            index = next((i for i, (name, _) in enumerate(options) if name == wanted), None)
            if index is not None:
                target = options.pop(index)[1] or ""
                keep_only(frozenset())  # pip reads the first -r (else -c) of a line and ignores the rest
                return target, constraint
        self.apply_global(options, strays, frame, lineno)
        return None

    def add(self, line: Line) -> None:
        if line.constraint:
            problem = ""
            if line.requirement is None:
                problem = "unnamed requirements are not allowed as constraints"
            elif line.editable:
                problem = "editable requirements are not allowed as constraints"
            elif line.extras:
                problem = "constraints cannot have extras"
            if problem:
                raise _LineError(f"{problem} (pip refuses {_show(line.text)} in a -c file)")
        self.lines.append(line)

    def apply_global(self, options: list[tuple[str, str | None]], strays: list[str], frame: _Frame, n: int) -> None:
        """An options-only line: sets what pip's finder would use (pip's handle_option_line)."""
        took_find_links = False
        for name, value in options:
            if name == "--index-url":
                self.index_url = value
            elif name == "--extra-index-url" and value is not None:
                if value not in self.extra_index_urls:
                    self.extra_index_urls.append(value)
            elif name == "--no-index":
                self.no_index = True
            elif name == "--pre":
                self.pre = True
            elif name == "--trusted-host" and value is not None:
                if value not in self.trusted_hosts:
                    self.trusted_hosts.append(value)
            elif name == "--find-links" and value is not None and not took_find_links:
                took_find_links = True  # pip takes the first -f of a line only
                self.find_links.append(_find_links_value(value, frame.base))
            elif name in _PASS_THROUGH:
                self.other.append((_option_text(name, value), frame.file, n))
            else:
                self.ignored.append((_option_text(name, value), frame.file, n))
        self.ignored.extend((s, frame.file, n) for s in strays)


# ---- lines ----


def _logical_lines(text: str, environ: Mapping[str, str]) -> Iterator[tuple[int, str]]:
    """pip's preprocess: join continuations, strip comments and blanks, expand ``${VAR}``."""

    def expand(match: re.Match[str]) -> str:
        return environ.get(match.group(1)) or match.group(0)  # pip leaves unset and empty ones as written

    for lineno, joined in _joined(text):
        line = _strip_comment(joined).strip()
        if line:
            yield lineno, _ENV_VAR.sub(expand, line) if "${" in line else line


def _joined(text: str) -> Iterator[tuple[int, str]]:
    first = 0
    parts: list[str] = []
    for lineno, raw in enumerate(text.splitlines(), start=1):
        is_comment = raw.lstrip().startswith("#")
        if not raw.endswith("\\") or is_comment:
            line = " " + raw if is_comment else raw  # stays a comment once joined
            if parts:
                parts.append(line)
                yield first, "".join(parts)
                parts = []
            else:
                yield lineno, line
        else:
            if not parts:
                first = lineno
            parts.append(raw.strip("\\"))
    if parts:
        yield first, "".join(parts)


def _strip_comment(line: str) -> str:
    """pip's ``(^|\\s+)#.*$`` removal, in linear time."""
    at = line.find("#")
    while at != -1:
        if at == 0 or line[at - 1].isspace():
            return line[:at]
        at = line.find("#", at + 1)
    return line


def _break_args_options(line: str) -> tuple[str, str]:
    tokens = line.split(" ")
    for i, token in enumerate(tokens):
        if token.startswith("-"):
            return " ".join(tokens[:i]), " ".join(tokens[i:])
    return line, ""


def _parse_options(tokens: list[str]) -> tuple[list[tuple[str, str | None]], list[str]]:
    """optparse's rules for pip's line parser: ``--long=v``, ``--long v``, ``-sV``, ``-s V``, unique
    prefixes of long names; words that are not options are strays (pip drops them)."""
    options: list[tuple[str, str | None]] = []
    strays: list[str] = []
    i = 0
    while i < len(tokens):
        token = tokens[i]
        i += 1
        if token == "--":
            strays.extend(tokens[i:])
            break
        if token.startswith("--"):
            spelled, eq, value = token.partition("=")
            name, takes_value = _LONG[_long_name(spelled)]
            if not takes_value:
                if eq:
                    raise _LineError(f"option {spelled} takes no value")
                options.append((name, None))
                continue
            if not eq:
                if i >= len(tokens):
                    raise _LineError(f"option {spelled} needs a value")
                value = tokens[i]
                i += 1
        elif token.startswith("-") and len(token) > 1:
            spelled = token[:2]
            if spelled not in _SHORT:
                raise _LineError(f"unknown option {_show(spelled)} (pip does not accept it in a requirements file)")
            name = _SHORT[spelled]
            value = token[2:]
            if not value:
                if i >= len(tokens):
                    raise _LineError(f"option {spelled} needs a value")
                value = tokens[i]
                i += 1
        else:
            strays.append(token)
            continue
        options.append((name, _checked_value(name, value)))
    return options, strays


def _long_name(spelled: str) -> str:
    if spelled in _LONG:
        return spelled
    matches = sorted({_LONG[k][0] for k in _LONG if k.startswith(spelled)})
    if len(matches) == 1:
        return matches[0]
    if matches:
        raise _LineError(f"ambiguous option {_show(spelled)} (could be {', '.join(matches)})")
    raise _LineError(f"unknown option {_show(spelled)} (pip does not accept it in a requirements file)")


def _checked_value(name: str, value: str) -> str:
    if name == "--hash":
        algo, colon, digest = value.partition(":")
        if not colon:
            raise _LineError(f"--hash needs a hash name and a value, like --hash=sha256:abcde..., not {_show(value)}")
        if algo not in _STRONG_HASHES:
            raise _LineError(f"--hash algorithm {_show(algo)} is not allowed; use {', '.join(_STRONG_HASHES)}")
        if not digest:
            raise _LineError(f"--hash={algo}: has no digest")
    elif name == "--config-settings" and "=" not in value:
        raise _LineError(f"--config-settings needs KEY=VALUE, not {_show(value)}")
    elif name in ("--no-binary", "--only-binary") and value.startswith("-"):
        raise _LineError(f"{name} needs a value (:all:, :none: or package names), not {_show(value)}")
    return value


def _option_text(name: str, value: str | None) -> str:
    return name if value is None else f"{name}={value}"


def _find_links_value(value: str, base: str) -> str:
    if _scheme(value) in _URL_SCHEMES:
        return value
    joined = os.path.join(os.path.abspath(base or os.curdir), value)
    return joined if os.path.exists(joined) else value


# ---- requirements ----


def _requirement_line(
    text: str, frame: _Frame, lineno: int, *, hashes: tuple[str, ...], options: tuple[str, ...]
) -> Line:
    """pip's parse_req_from_line, judged by appearance (local paths need not exist yet)."""
    req, url, marker, extras = _classify(text)
    return _line(text, frame, lineno, req, url, hashes=hashes, marker=marker, extras=extras, options=options)


def _line(
    text: str,
    frame: _Frame,
    lineno: int,
    req: Requirement | None,
    url: str | None,
    *,
    options: tuple[str, ...],
    extras: frozenset[str],
    hashes: tuple[str, ...] = (),
    marker: Marker | None = None,
    editable: bool = False,
) -> Line:
    return Line(
        text=text,
        file=frame.file,
        lineno=lineno,
        requirement=req,
        url=url,
        editable=editable,
        hashes=hashes,
        constraint=frame.constraint,
        marker=marker,
        extras=extras,
        options=options,
    )


def _classify(text: str) -> tuple[Requirement | None, str | None, Marker | None, frozenset[str]]:
    if _scheme(text) in _URL_SCHEMES:
        url, _, marker_text = text.partition("; ")  # pip: URLs may hold a bare ";"
        url = url.strip()
        marker = _marker(marker_text)
        req = _named_from_url(url, frozenset(), marker)
        return req, url, marker, frozenset() if req is None else _extras(req)
    odd = _SCHEME_LIKE.match(text)
    if odd:
        raise _LineError(
            f"invalid requirement {_show(text)}: URL scheme {odd.group(1)!r} is not one pip installs from "
            "(http, https, file, ftp, or a VCS scheme such as git+https)"
        )
    head, _, marker_text = text.partition(";")
    head = head.strip()
    if (_looks_like_path(head) or _is_archive(head)) and (
        "@" not in head or _looks_like_path(head.split("@", 1)[0])  # else "name @ url"
    ):
        path, extras = _strip_extras(head)
        marker = _marker(marker_text)
        return _named_from_url(path, extras, marker), path, marker, extras
    req = _parse(text)
    return req, req.url, req.marker, _extras(req)


def _editable_line(text: str, frame: _Frame, lineno: int, *, options: tuple[str, ...]) -> Line:
    """pip's parse_editable: a local project folder, a file: URL, or a VCS URL with ``#egg=name``."""
    if frame.constraint:
        raise _LineError(f"editable requirements are not allowed as constraints (pip refuses {_show(text)})")
    path, extras = _strip_extras(text)
    scheme = _scheme(path)
    req: Requirement | None = None
    if scheme == "file":
        url = path
        req = _named_from_url(path, extras, None)
    elif (
        scheme not in _URL_SCHEMES
        and scheme not in _VCS
        and not _SCHEME_LIKE.match(path)
        and (_looks_like_path(path) or os.path.isdir(path))
    ):
        url = path
    else:
        url = f"{scheme}+{text}" if scheme in _VCS else text
        if _scheme(url) not in _VCS_SCHEMES:
            raise _LineError(
                f"{_show(text)} is not a valid editable requirement: it should be a path to a local project "
                "or a VCS URL (git+https://..., hg+..., svn+..., bzr+...)"
            )
        req = _named_from_url(url, frozenset(), None)
        if req is None:
            raise _LineError(f"cannot tell the project name of {_show(text)}; add #egg=NAME to the URL")
        extras = _extras(req)
    return _line(text, frame, lineno, req, url, editable=True, extras=extras, options=options)


def _named_from_url(url: str, extras: frozenset[str], marker: Marker | None) -> Requirement | None:
    """The requirement a wheel file name (``name==version``) or an ``#egg=`` fragment gives, else None."""
    suffix = f"; {marker}" if marker is not None else ""
    extra = f"[{','.join(sorted(extras))}]" if extras else ""
    filename = _filename(url)
    if filename.endswith(".whl"):
        try:
            name, version, _, _ = parse_wheel_filename(filename)
        except ValueError as exc:
            raise _LineError(f"{_show(filename)} is not a valid wheel filename: {_first_line(exc)}") from None
        return _parse(f"{name}{extra}=={version}{suffix}")
    egg = _EGG.search(url) if _scheme(url) in _URL_SCHEMES else None
    if egg is None or not egg.group(1):
        return None
    return _parse(f"{egg.group(1)}{extra}{suffix}")


def _filename(url: str) -> str:
    if _scheme(url) in _URL_SCHEMES:
        return urllib.parse.unquote(_urlsplit(url).path.rstrip("/").rsplit("/", 1)[-1])
    return os.path.basename(url.rstrip("/" + os.sep))


def _urlsplit(url: str) -> urllib.parse.SplitResult:
    try:
        return urllib.parse.urlsplit(url)
    except ValueError as exc:  # "Invalid IPv6 URL" and the like
        raise _LineError(f"invalid URL {_show(url)}: {_first_line(exc)}") from None


def _parse(text: str) -> Requirement:
    try:
        return parse_requirement(text)
    except RecursionError:
        raise _LineError(f"invalid requirement {_show(text)}: nested too deeply") from None
    except InvalidRequirement as exc:
        hint = ""
        head = text.split(";", 1)[0]
        if "=" in head and not any(op in head for op in ("==", "!=", "<=", ">=", "~=", "===")):
            hint = "; = is not a valid operator, did you mean ==?"
        raise _LineError(f"invalid requirement {_show(text)}: {_first_line(exc)}{hint}") from None


def _marker(text: str) -> Marker | None:
    text = text.strip()
    if not text:
        return None
    try:
        return Marker(text)
    except RecursionError:
        raise _LineError(f"invalid marker {_show(text)}: nested too deeply") from None
    except InvalidMarker as exc:
        raise _LineError(f"invalid marker {_show(text)}: {_first_line(exc)}") from None


def _strip_extras(path: str) -> tuple[str, frozenset[str]]:
    match = _EXTRAS.match(path)
    if not match:
        return path, frozenset()
    try:
        return match.group(1), _extras(parse_requirement("placeholder" + match.group(2)))
    except InvalidRequirement:
        raise _LineError(f"invalid extras {_show(match.group(2))} in {_show(path)}") from None


def _extras(req: Requirement) -> frozenset[str]:
    return frozenset(canonical(extra) for extra in req.extras)


def _scheme(text: str) -> str | None:
    return text.split(":", 1)[0].lower() if ":" in text else None


def _looks_like_path(text: str) -> bool:
    return os.sep in text or (os.altsep is not None and os.altsep in text) or text.startswith(".")


def _is_archive(text: str) -> bool:
    return text.lower().endswith(_ARCHIVES)


def _first_line(exc: Exception) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def _show(text: str, limit: int = 160) -> str:
    """``text`` quoted for a one-line message, long text shortened."""
    return repr(text if len(text) <= limit else f"{text[: limit - 20]}...{text[-15:]}")
