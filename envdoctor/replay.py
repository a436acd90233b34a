"""The quickest warm ``envdoctor check``: the very output the same command printed last time, printed again
while nothing it depends on changed. The ``envdoctor`` command starts here (and ``python -m envdoctor``);
anything else goes on to envdoctor.cli.

A plain ``check`` (only ``--python``, ``--format``, ``--no-symbols``, ``--quiet``; output to a pipe or a
file, not a terminal) that ran to the end (exit 0 or 1, nothing on stderr) with no configuration file, no
notebook around it and a report the warm path stored (envdoctor.warm) leaves one more cache entry: what it
printed, its exit status, and that report's fingerprint and target. Its key is everything else the output
depends on: the command line, the current folder, every environment variable (hashed, never stored), the
user, the host name, whether stdout and stderr are terminals, the pyproject.toml files and ``.git`` folders
that configuration discovery walks past, envdoctor's version and the shipped matrix/ files. The next run
with the same key prints that output when the fingerprint still holds (envdoctor.fingerprint: stat() calls,
nothing read), without loading argparse, packaging, rich, the report classes or any check.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any

_VALUED = ("--python", "--format")
_FLAGS = ("--no-symbols", "--quiet", "-q")
_ENTRY_LIMIT = 16 * 1024 * 1024
"""A stored output larger than this is not kept (a report of tens of thousands of findings)."""


def main(argv: Sequence[str] | None = None) -> int:
    """The ``envdoctor`` command: the stored output of a warm plain ``check``, else envdoctor.cli."""
    args = list(sys.argv[1:] if argv is None else argv)
    options = plain_check(args)
    if options is not None:
        code = replay(args)
        if code is not None:
            return code
    from envdoctor.cli import main as cli_main

    if options is None:
        return cli_main(args)
    return _recorded(args, options, cli_main)


def plain_check(args: Sequence[str]) -> dict[str, str | bool] | None:
    """The options of ``check`` when ``args`` hold only the flags a replay allows, else None."""
    if not args or args[0] != "check":
        return None
    options: dict[str, str | bool] = {}
    rest = list(args[1:])
    while rest:
        arg = rest.pop(0)
        name, eq, value = arg.partition("=")
        if name in _VALUED:
            if not eq:
                if not rest:
                    return None
                value = rest.pop(0)
            options[name] = value
        elif arg in _FLAGS and not eq:
            options["--quiet" if arg == "-q" else arg] = True
        else:
            return None
    return options


def _key(args: Sequence[str]) -> str:
    from envdoctor._version import __version__
    from envdoctor.cache import FORMAT
    from envdoctor.fingerprint import data_stamp, probe_module

    cwd = os.getcwd()
    ttys = [_isatty(sys.stdout), _isatty(sys.stderr)]
    who = [os.getuid() if hasattr(os, "getuid") else None, os.uname().nodename if hasattr(os, "uname") else None]
    head = [__version__, FORMAT, list(args), cwd, sorted(os.environ.items()), ttys, who, _config_walk(cwd)]
    h = probe_module()._hasher()
    h.update(json.dumps(head, ensure_ascii=True).encode("ascii"))
    h.update(data_stamp().encode("utf-8", "surrogateescape"))
    return f"replay-{h.hexdigest()}"


def _isatty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):
        return False


def _config_walk(cwd: str) -> list[list[Any]]:
    """What configuration discovery (envdoctor.config.discover) looks at, from ``cwd`` upward: each folder's
    pyproject.toml (size and mtime) and whether it holds ``.git``, up to the first that does."""
    seen: list[list[Any]] = []
    folder = cwd
    while True:
        try:
            st = os.stat(os.path.join(folder, "pyproject.toml"))
            stamp: Any = [st.st_size, st.st_mtime_ns]
        except OSError:
            stamp = None
        git = os.path.exists(os.path.join(folder, ".git"))
        seen.append([folder, stamp, git])
        parent = os.path.dirname(folder)
        if git or parent == folder:
            return seen
        folder = parent


def replay(args: Sequence[str]) -> int | None:
    """Print the stored output of ``args`` and return its exit status, when there is one and the environment
    it was made from is unchanged; else None (nothing printed)."""
    from envdoctor.cache import FORMAT, default_folder
    from envdoctor.fingerprint import holds
    from envdoctor.source.installed import Unread, read_bytes

    try:
        key = _key(args)
        path = os.path.join(default_folder(), f"v{FORMAT}", f"{key}.json")
        entry = json.loads(read_bytes(path, _ENTRY_LIMIT))  # a regular file only: never a FIFO
        stdout, code, fingerprint, target = entry["stdout"], entry["code"], entry["fingerprint"], entry["target"]
        if entry["key"] != key or not isinstance(stdout, str) or code not in (0, 1) or type(code) is not int:
            return None
        if not isinstance(fingerprint, str) or not holds(fingerprint, target):
            return None
    except (Unread, OSError, ValueError, KeyError, TypeError, RecursionError):
        return None  # absent, damaged or of another shape: the command runs, and a good entry replaces it
    try:
        sys.stdout.write(stdout)
        sys.stdout.flush()
    except OSError:
        return None  # envdoctor.cli runs the command and says what a failing stdout means, as always
    with contextlib.suppress(OSError):
        os.utime(path)  # recently used: trimmed last
    return code


def _recorded(args: Sequence[str], options: dict[str, str | bool], cli_main: Any) -> int:
    """Run the command (envdoctor.cli), then keep what it printed when a replay may print it again."""
    from envdoctor import cli

    cli.printed.clear()
    code = int(cli_main(args))
    if code in (0, 1) and len(cli.printed) == 1 and len(cli.printed[0]) <= _ENTRY_LIMIT:
        with contextlib.suppress(Exception):  # a cache is optional: never a reason for the command to fail
            _record(args, options, cli.printed[0], code)
    cli.printed.clear()
    return code


def _record(args: Sequence[str], options: dict[str, str | bool], stdout: str, code: int) -> None:
    from pathlib import Path

    from envdoctor import config, warm
    from envdoctor.cache import Cache, default_dir
    from envdoctor.runtime.kernel import detect
    from envdoctor.target import Target

    if _isatty(sys.stdout) or (_isatty(sys.stderr) and not options.get("--quiet")):
        return  # the terminal view, or progress lines on stderr: not replayed
    if config.discover(Path.cwd()) is not None:
        return  # a configuration may ask for probes or a baseline, which run every time
    place = detect()
    if place.notebook or place.kernel_pid is not None:
        return  # a notebook's `!` shell: the kernel's loaded modules are checked every time
    given = options.get("--python")
    python = Target.resolve(given if isinstance(given, str) else None).python
    store = Cache(default_dir())
    stored = warm.load(store, warm.key(python, {"symbols": not options.get("--no-symbols")}))
    if stored is None or not stored.unchanged():
        return  # no stored report (a check could not run): the next run is a whole run again
    entry = {"stdout": stdout, "code": code, "fingerprint": stored.fingerprint, "target": dict(stored.target)}
    store.put(_key(args), entry)
    store.trim()
