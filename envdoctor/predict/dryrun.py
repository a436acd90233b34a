"""What an install would do, asked of pip's own resolver without installing anything.

``dry_run`` runs ``pip install --dry-run --report FILE ARGS`` for an interpreter and reads pip's
installation report (https://pip.pypa.io/en/stable/reference/installation-report/);
``future_inventory`` applies that report to an Inventory: the environment as it would be after the
install, with the new distributions marked ``planned`` (nothing of them is on disk to read).

The pip that runs is the target's own (``TARGET -m pip``) when it has one, else the pip of the
interpreter running envdoctor with ``--python TARGET`` (pip >= 22.3), so venvs made by uv or
``venv --without-pip`` work too. Either way the resolution runs in the target interpreter (its
markers, tags and installed distributions). The user's pip configuration (pip.conf, PIP_INDEX_URL,
PIP_EXTRA_INDEX_URL, PIP_CONSTRAINT, ...) applies because nothing here overrides it; every string
that leaves this module (command, URLs, messages, output tails) is redacted.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from envdoctor import runner
from envdoctor.errors import EnvdoctorError
from envdoctor.inventory import Dist, Inventory, planned_dist
from envdoctor.redact import Redactor, secret_values
from envdoctor.target import runs_here
from envdoctor.versions import InvalidVersion, NormalizedName, Version, canonical, parse_version

MIN_PIP_DRY_RUN = "22.2"
"""``pip install --dry-run --report`` appeared in pip 22.2."""

MIN_PIP_PYTHON_OPTION = "22.3"
"""``pip --python TARGET`` (pip runs its resolver in another interpreter) appeared in pip 22.3."""

QUIET_OPTIONS = ("--disable-pip-version-check", "--no-input")
"""Every pip envdoctor runs: no version check, never a prompt."""

NETWORK_OPTIONS = ("--retries", "1", "--timeout", "15")
"""Every pip envdoctor runs that reaches the index: one retry, so that pip prints the connection error it met (a
warning, kept in its output), and an unreachable index fails fast."""

PIP_OPTIONS = (*QUIET_OPTIONS, "--progress-bar", "off", *NETWORK_OPTIONS)
"""Added before the caller's arguments (which may override them): an unreachable index fails fast."""

VERSION_TIMEOUT = 60.0
"""Time limit of ``python -m pip --version``."""

_PIP_VERSION = re.compile(r"^pip (\S+) from ", re.MULTILINE)
_NO_PIP = re.compile(r"No module named '?pip'?\s*$|No module named pip\b", re.MULTILINE)
_LOG_PREFIX = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[,.]\d+ ")
CONNECTION_MARKERS = (
    "Failed to establish a new connection",
    "NewConnectionError",
    ": connection error:",  # "Could not fetch URL ...: connection error: ..." (not its "404 Client Error")
    "Connection refused",
    "Network is unreachable",
    "No route to host",
    "Name or service not known",
    "Temporary failure in name resolution",
    "nodename nor servname provided",
    "getaddrinfo failed",
    "ConnectTimeoutError",
    "ReadTimeoutError",
    "Read timed out",
    "Connection timed out",
    "ProxyError",
    "Max retries exceeded",
)
"""Text in pip's output or log when the index could not be reached (pip 22-25)."""
_CONFLICT = ("ResolutionImpossible", "conflicting dependencies")
"""In pip's ERROR lines for a conflict (its log has ResolutionImpossible also when a project is not found)."""
_CAUSES = "The conflict is caused by"
_HASH_FAILURE = ("DO NOT MATCH THE HASHES", "Hashes are required in --require-hashes mode", "Expected sha256")
_MAX_LOG_BYTES = 64 * 1024 * 1024
_MAX_DETAILS = 12


@dataclass(frozen=True)
class Resolved:
    """One distribution pip would install (or install in place of the installed copy)."""

    name: NormalizedName
    display_name: str
    version: str
    requires_dist: tuple[str, ...]
    requires_python: str | None
    url: str
    """Where pip would download it from, credentials redacted."""
    is_direct: bool
    """Asked for by URL or path, not found on an index."""
    requested: bool
    """Named in the arguments (not only pulled in as a dependency)."""

    @property
    def label(self) -> str:
        return f"{self.display_name} {self.version}"


@dataclass(frozen=True)
class Resolution:
    installs: tuple[Resolved, ...]
    """What would be installed or replace the installed copy; what already satisfies is not listed."""
    pip_version: str
    command: tuple[str, ...]
    """The command as run, credentials redacted (for display)."""

    def get(self, name: str) -> Resolved | None:
        key = canonical(name)
        return next((r for r in self.installs if r.name == key), None)


class ResolveError(EnvdoctorError):
    """pip could not say what an install would do. ``message`` is one line; ``offline`` is True when the
    package index could not be reached; ``details`` are pip's key lines and ``output`` the end of what it
    printed (all redacted)."""

    def __init__(
        self,
        message: str,
        *,
        offline: bool = False,
        details: Sequence[str] = (),
        output: str = "",
        command: Sequence[str] = (),
        conflict: bool = False,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.offline = offline
        self.conflict = conflict
        """True when pip's resolver found no set of versions (not a hash mismatch, a missing release...)."""
        self.details = tuple(details)
        self.output = output
        self.command = tuple(command)


@dataclass(frozen=True)
class Pip:
    argv: tuple[str, ...]  # the interpreter and options that run pip ("python -m pip [--python T]")
    version: str


def dry_run(
    python: str,
    args: Sequence[str],
    *,
    timeout: float = 300.0,
    environ: Mapping[str, str] | None = None,
    known: Inventory | None = None,
) -> Resolution:
    """What ``pip install ARGS`` would install into interpreter ``python``, without installing anything.

    Runs ``pip install --dry-run --quiet --report FILE ARGS``; ``args`` are pip arguments (requirement
    specifiers, ``-r file``, ``-c file``, index options), read relative to the current folder. The
    installed distributions are taken into account (no ``--ignore-installed``): the report then lists
    exactly what the install would change, each entry new or replacing the installed copy, which is the
    answer to "what will my environment be after ``pip install X``". pip may download wheels and build
    the metadata of source distributions (into its own temporary folders) to resolve; nothing is
    installed, and the temporary folder of the report is removed.

    ``environ`` is the whole environment of pip (default: ours, see runner.child_environment), so the
    user's pip configuration applies. Raises ResolveError (``offline`` when the index cannot be
    reached; a conflict with pip's reasons in ``details``) and TargetError when ``python`` cannot run.
    """
    env = dict(environ) if environ is not None else runner.child_environment()
    env["PYTHONIOENCODING"] = "utf-8"
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    scrub = Redactor([*secret_values(), *secret_values(env)])
    pip = choose_pip(python, env, scrub, known)
    workdir = Path(tempfile.mkdtemp(prefix="envdoctor-resolve-"))
    try:
        report, log = workdir / "report.json", workdir / "pip.log"
        argv = [*pip.argv, "install", "--dry-run", "--quiet", "--report", str(report), *PIP_OPTIONS, *args]
        shown = tuple(scrub(a) for a in argv)
        result = runner.run_command(argv, timeout=timeout, env=env)
        if result.outcome is not runner.Outcome.OK:
            # pip's debug log tells an unreachable index from a conflict, but writing it costs about 0.3 s:
            # it is asked for only to explain a failure, by running pip again.
            if result.outcome is not runner.Outcome.TIMEOUT:
                logged = [*argv[: len(pip.argv) + 1], "--log", str(log), *argv[len(pip.argv) + 1 :]]
                result = runner.run_command(logged, timeout=timeout, env=env)
            if result.outcome is not runner.Outcome.OK:  # (a second run that succeeds is simply used)
                raise _failure(result, _log_lines(log), scrub, shown, timeout)
        try:
            data = json.loads(report.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ResolveError(
                f"pip {pip.version} ended without a readable report: {scrub(str(exc))}",
                output=scrub(_tail(result.stderr)),
                command=shown,
            ) from None
        return parse_report(data, shown, scrub, pip_version=pip.version)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def parse_report(
    data: Any, command: Sequence[str] = (), scrub: Redactor | None = None, *, pip_version: str = ""
) -> Resolution:
    """A Resolution from pip's installation report (the JSON ``--report`` writes, version 1)."""
    scrub = scrub or Redactor.from_environment()
    if not isinstance(data, dict) or not isinstance(data.get("install"), list):
        raise ResolveError("pip's report has no install list", command=command)
    if str(data.get("version", "1")).split(".")[0] != "1":
        raise ResolveError(
            f"pip's report has version {data.get('version')!r}; envdoctor reads version 1", command=command
        )
    installs = []
    for item in data["install"]:
        try:
            meta = item["metadata"]
            display = str(meta["name"])
            requires = tuple(str(r) for r in meta.get("requires_dist") or ())
            rp = meta.get("requires_python")
            installs.append(
                Resolved(
                    name=canonical(display),
                    display_name=display,
                    version=str(meta["version"]),
                    requires_dist=requires,
                    requires_python=str(rp) if rp else None,
                    url=scrub(str((item.get("download_info") or {}).get("url", ""))),
                    is_direct=bool(item.get("is_direct", False)),
                    requested=bool(item.get("requested", False)),
                )
            )
        except (KeyError, TypeError, AttributeError) as exc:
            raise ResolveError(f"pip's report has a malformed install entry: {exc!r}", command=command) from None
    return Resolution(
        installs=tuple(installs),
        pip_version=str(data.get("pip_version") or pip_version),
        command=tuple(command),
    )


def future_inventory(inv: Inventory, resolution: Resolution) -> Inventory:
    """``inv`` as it would be after the install ``resolution`` describes.

    Each resolved distribution takes the place of the installed copy of its project that Python uses
    (the winner; other copies further down sys.path stay) or, when the project is not installed, is
    added at the end. The new Dist objects are ``planned``: version, Requires-Dist and Requires-Python
    come from pip's report, and nothing reads files for them (their files are not on disk; the old
    copy's files are not theirs). Their location is the replaced copy's, else the folder most of the
    environment's distributions are in (a guess; informational only).
    """
    if not resolution.installs:
        return inv
    new = {r.name: r for r in resolution.installs}
    default_location = _main_location(inv)
    dists: list[Dist] = []
    done: set[NormalizedName] = set()
    winners = inv.winners
    for dist in inv.dists:
        r = new.get(dist.name)
        if r is not None and winners.get(dist.name) is dist:
            dists.append(_planned(r, dist.location))
            done.add(dist.name)
        else:
            dists.append(dist)
    dists += [_planned(r, default_location) for name, r in new.items() if name not in done]
    return replace(inv, dists=tuple(dists))


def _planned(r: Resolved, location: str) -> Dist:
    return planned_dist(
        r.display_name,
        r.version,
        r.requires_dist,
        r.requires_python,
        location=location,
        direct_url={"url": r.url} if r.is_direct else None,
    )


def _main_location(inv: Inventory) -> str:
    counts: dict[str, int] = {}
    for dist in inv.dists:
        if dist.location and not dist.planned:
            counts[dist.location] = counts.get(dist.location, 0) + 1
    inside = {loc: n for loc, n in counts.items() if inv.python.prefix and loc.startswith(inv.python.prefix)}
    pool = inside or counts
    return max(pool, key=lambda loc: pool[loc]) if pool else ""


# -- which pip ----------------------------------------------------------------------------------


def choose_pip(python: str, env: Mapping[str, str], scrub: Redactor, known: Inventory | None = None) -> Pip:
    """The target's pip when it has a recent enough one, else ours with ``--python``.

    With ``known`` (the target's inventory, already read) the choice is made from the installed pip
    versions, without starting a process (two `pip --version` runs cost about 0.3 s); without it, or when
    that does not settle it, by running them."""
    fast = _from_metadata(python, known) if known is not None else None
    if fast is not None:
        return fast
    own = runner.run_command([python, "-m", "pip", "--version"], timeout=VERSION_TIMEOUT, env=env)
    own_version = _pip_version(own.stdout) if own.outcome is runner.Outcome.OK else None
    if own_version is not None and _at_least(own_version, MIN_PIP_DRY_RUN):
        return Pip((python, "-m", "pip"), own_version)
    if own.outcome is runner.Outcome.TIMEOUT:
        raise ResolveError(f"{python} -m pip --version did not finish within {VERSION_TIMEOUT:g} s")
    if own_version is not None:
        why = f"its pip is {own_version}, older than {MIN_PIP_DRY_RUN} (needed for --dry-run --report)"
    elif _NO_PIP.search(own.stderr):
        why = "it has no pip"
    else:
        why = f"its pip does not run ({scrub(_last_line(own.stderr or own.stdout)) or own.outcome.value})"
    here = sys.executable
    if not here or runs_here(python):
        raise ResolveError(f"cannot ask pip what an install would do: {python}: {why}")
    ours = runner.run_command([here, "-m", "pip", "--version"], timeout=VERSION_TIMEOUT, env=env)
    our_version = _pip_version(ours.stdout) if ours.outcome is runner.Outcome.OK else None
    if our_version is None:
        raise ResolveError(
            f"cannot ask pip what an install would do: {python}: {why}, and envdoctor's Python {here} has no "
            f"pip either (install pip into one of them: `{python} -m ensurepip`)"
        )
    if not _at_least(our_version, MIN_PIP_PYTHON_OPTION):
        raise ResolveError(
            f"cannot ask pip what an install would do: {python}: {why}, and envdoctor's pip is {our_version}, "
            f"older than {MIN_PIP_PYTHON_OPTION} (needed for --python): `{here} -m pip install -U pip`"
        )
    return Pip((here, "-m", "pip", "--python", python), our_version)


def _from_metadata(python: str, inv: Inventory) -> Pip | None:
    target = inv.get("pip")
    if target is not None and target.raw_version and _at_least(target.raw_version, MIN_PIP_DRY_RUN):
        return Pip((python, "-m", "pip"), target.raw_version)
    here = sys.executable
    if target is not None or not here or runs_here(python):
        return None  # an old pip in the target, or no other Python: let the slow path explain
    try:
        from importlib.metadata import PackageNotFoundError, version

        ours = version("pip")  # reads pip's metadata; pip itself is not imported
    except (PackageNotFoundError, ValueError):
        return None
    return Pip((here, "-m", "pip", "--python", python), ours) if _at_least(ours, MIN_PIP_PYTHON_OPTION) else None


def _pip_version(text: str) -> str | None:
    match = _PIP_VERSION.search(text)
    return match.group(1) if match else None


def _at_least(version: str, minimum: str) -> bool:
    try:
        return parse_version(version) >= Version(minimum)
    except InvalidVersion:
        return False


# -- what went wrong ----------------------------------------------------------------------------


def _failure(
    result: runner.CommandResult, log: list[str], scrub: Redactor, command: Sequence[str], timeout: float
) -> ResolveError:
    """The ResolveError for a pip run that did not end well, from its output and its log."""
    output = [_LOG_PREFIX.sub("", line).rstrip() for line in (result.stderr + "\n" + result.stdout).splitlines()]
    lines = [line for line in output if line.strip()]
    everything = lines + log
    errors = [_strip_level(line) for line in lines if line.startswith("ERROR:")]
    tail = scrub(_tail(result.stderr or result.stdout))

    def error(
        message: str, *, offline: bool = False, details: Iterable[str] = (), conflict: bool = False
    ) -> ResolveError:
        return ResolveError(
            scrub(message),
            offline=offline,
            conflict=conflict,
            details=[scrub(d) for d in details][:_MAX_DETAILS],
            output=tail,
            command=command,
        )

    if any(marker in line for line in errors for marker in _CONFLICT) or any(_CAUSES in line for line in log):
        cannot = next((e for e in errors if e.startswith("Cannot install")), "")
        causes = _conflict_causes(log or lines)
        head = cannot.split(" because ")[0] if cannot else "pip found no set of versions that fits"
        why = "; ".join(c[:1].lower() + c[1:] for c in causes[:4])
        message = f"{head}: conflicting dependencies" + (f" ({why})" if why else "")
        return error(message, details=causes or errors, conflict=True)
    hashes = [_strip_level(line) for line in lines if any(m in line for m in _HASH_FAILURE)]
    if hashes:
        return error(
            "pip refused a download whose hash does not match the requirements' --hash "
            "(or a requirement has no --hash in --require-hashes mode)",
            details=[*errors, *hashes],
        )
    connection = list(dict.fromkeys(line for line in everything if any(m in line for m in CONNECTION_MARKERS)))
    if connection:
        first = _short_connection(next((c for c in connection if "host='" in c), connection[0]))
        return error(
            f"the package index cannot be reached ({first}); pip cannot tell what would be installed",
            offline=True,
            details=[*errors, *connection[:3]],
        )
    if result.outcome is runner.Outcome.TIMEOUT:
        return error(f"pip did not finish within {timeout:g} s and was stopped", details=errors)
    if result.outcome is runner.Outcome.CRASHED:
        return error(f"pip was killed by {result.signal_name}", details=errors)
    not_found = next((e for e in errors if e.startswith("No matching distribution found for")), "")
    if not_found:
        versions = next((e for e in errors if "(from versions:" in e), "")
        ignored = [_strip_level(line) for line in lines if "not a trusted or secure host" in line]
        hint = _versions_hint(versions)
        if ignored:
            host = re.search(r"repository located at (\S+) is not", ignored[0])
            hint = f" (pip ignored the index at {host.group(1) if host else '?'}: not https and not --trusted-host)"
        return error(f"pip: {not_found}{hint}", details=[*errors, *ignored[:1]])
    last = errors[-1] if errors else _last_line(result.stderr or result.stdout)
    return error(f"pip exited with status {result.returncode}: {last or 'no message'}", details=errors)


def _conflict_causes(lines: Sequence[str]) -> list[str]:
    causes: list[str] = []
    inside = False
    for raw in lines:
        line = _LOG_PREFIX.sub("", raw).rstrip()
        if line.strip().startswith(_CAUSES):
            inside, causes = True, []
            continue
        if inside:
            if not line.strip():
                inside = False
                continue
            causes.append(line.strip())
    return causes


def _short_connection(line: str) -> str:
    line = _strip_level(_LOG_PREFIX.sub("", line))
    for marker, said in (
        ("ProxyError", "cannot connect to the proxy"),
        ("ssl certificate", "SSL certificate problem"),
        ("SSLError", "SSL error"),
        ("Name or service not known", ""),
        ("Temporary failure in name resolution", ""),
        ("Connection refused", ""),
        ("Network is unreachable", ""),
        ("No route to host", ""),
        ("timed out", ""),
    ):
        if marker in line:
            host = re.search(r"host='([^']+)'", line)
            return (said or marker) + (f": {host.group(1)}" if host else "")
    return line[:160]


def _versions_hint(line: str) -> str:
    if "(from versions: none)" in line:
        return " (the index has no release of it for this Python and platform)"
    return ""


def _strip_level(line: str) -> str:
    for level in ("ERROR: ", "WARNING: "):
        if line.startswith(level):
            return line[len(level) :]
    return line


def _log_lines(path: Path) -> list[str]:
    """The lines of pip's debug log worth reading on a failure (connection errors, the conflict)."""
    try:
        with open(path, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            if size > _MAX_LOG_BYTES:
                fh.seek(size - _MAX_LOG_BYTES)
            text = fh.read().decode("utf-8", "replace")
    except OSError:
        return []
    keep: list[str] = []
    inside = False
    for raw in text.splitlines():
        line = _LOG_PREFIX.sub("", raw).rstrip()
        if line.strip().startswith(_CAUSES):
            inside = True
        if inside or any(m in line for m in CONNECTION_MARKERS):
            keep.append(line)
        if inside and not line.strip():
            inside = False
    return keep


def _tail(text: str, lines: int = 20) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1][:300] if lines else ""
