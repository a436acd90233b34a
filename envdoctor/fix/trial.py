"""A throwaway copy of the target with a plan installed: where ``envdoctor pin --verify`` tries a fix for real.

The copy is a new virtual environment of the target's own interpreter. The distributions the plan moves are
installed into it first, by pip, exactly as resolved (``--no-deps``: pip's resolver already chose the set);
then every other distribution of the target is linked into the copy's site folder from its RECORD (a whole
top-level folder by one symbolic link where only unchanged distributions own it, file by file inside a
folder that a moved one also writes to). Nothing is reinstalled (torch above all), and nothing is written
into the target: pip has finished before the first link exists, every process in the copy runs with
``PYTHONDONTWRITEBYTECODE``, and removing the copy removes links, never what they point to. The copy is
removed on every way out (an error of pip, Ctrl-C, SIGTERM).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import tempfile
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from envdoctor import runner
from envdoctor.errors import EnvdoctorError
from envdoctor.inventory import Dist, Inventory
from envdoctor.names import canonical
from envdoctor.source.installed import RECORD_LIMIT, Unread, decode_record, read_bytes, record_entries

if TYPE_CHECKING:
    from envdoctor.fix.trialstep import StepVerdict
    from envdoctor.runtime.diagnosis import Owners
    from envdoctor.runtime.outcomes import ImportResult

VENV_TIMEOUT = 120.0
"""Creating the copy's virtual environment (no pip in it) takes well under a second."""


class TrialError(EnvdoctorError):
    """The copy could not be built: the reason in one sentence (pip's last line, a missing RECORD, ...)."""


@dataclass(frozen=True)
class Copy:
    """A built copy: its interpreter and site folder, what pip installed and what was linked."""

    python: str
    site: str
    installed: tuple[str, ...]
    """``name==version`` of each distribution pip installed into the copy."""
    linked: int
    """How many distributions of the target the copy shares by link."""
    not_linked: tuple[str, ...] = ()
    """Distributions of the target the copy could not share (no RECORD), each with the reason."""


@contextlib.contextmanager
def trial_copy(
    inv: Inventory,
    install: Sequence[str],
    moved: Sequence[str],
    *,
    pip: Sequence[str],
    options: Sequence[str] = (),
    timeout: float,
    env: Mapping[str, str] | None = None,
) -> Iterator[Copy]:
    """Build the copy of ``inv``'s environment with ``install`` (requirement lines, exact) installed by
    ``pip`` (its argv up to the subcommand, without any ``--python``) and every distribution not named in
    ``moved`` linked from the target; yield it; remove it on the way out, whatever the way. ``options``: option
    lines of a requirements file (``--index-url URL``), as the pin file has them."""
    env = runner.child_environment(env)
    root = tempfile.mkdtemp(prefix="envdoctor-trial-")
    try:
        python, site = _new_venv(inv.python.executable, Path(root) / "venv", env)
        installed = _install(python, install, pip=pip, options=options, root=Path(root), timeout=timeout, env=env)
        linked, not_linked = link_unchanged(inv, {canonical(m) for m in moved}, Path(site))
        yield Copy(python, site, installed, linked, tuple(not_linked))
    finally:
        shutil.rmtree(root, ignore_errors=True)  # links are removed, never followed


def _new_venv(base: str, folder: Path, env: Mapping[str, str]) -> tuple[str, str]:
    """A virtual environment of ``base``'s interpreter, without pip: its python and its site folder."""
    made = runner.run_command([base, "-m", "venv", "--without-pip", str(folder)], timeout=VENV_TIMEOUT, env=env)
    if made.outcome is not runner.Outcome.OK:
        raise TrialError(f"cannot create a virtual environment with {base}: {_last(made.stderr) or made.outcome.value}")
    python = folder / "bin" / "python"
    if not python.exists():
        python = folder / "Scripts" / "python.exe"
    code = "import sysconfig; print(sysconfig.get_path('purelib'))"
    asked = runner.run_command([str(python), "-c", code], timeout=VENV_TIMEOUT, env=env)
    site = asked.stdout.strip()
    if asked.outcome is not runner.Outcome.OK or not site or not os.path.isdir(site):
        raise TrialError(f"the copy's interpreter does not run: {_last(asked.stderr) or asked.outcome.value}")
    return str(python), site


def _install(
    python: str,
    lines: Sequence[str],
    *,
    pip: Sequence[str],
    options: Sequence[str],
    root: Path,
    timeout: float,
    env: Mapping[str, str],
) -> tuple[str, ...]:
    if not lines:
        return ()
    req = root / "moved.txt"
    req.write_text("\n".join([*options, *lines]) + "\n", encoding="utf-8")
    argv = [*pip, "--python", python, "install", "--no-deps", "--no-compile", "--disable-pip-version-check"]
    done = runner.run_command([*argv, "--no-input", "-r", str(req)], timeout=timeout, env=env)
    if done.outcome is runner.Outcome.TIMEOUT:
        raise TrialError(f"pip did not install the plan into the copy within {timeout:g} s")
    if done.outcome is not runner.Outcome.OK:
        raise TrialError(f"pip could not install the plan into the copy: {_last(done.stderr) or done.outcome.value}")
    return tuple(lines)


def link_unchanged(inv: Inventory, moved: Collection[str], site: Path) -> tuple[int, list[str]]:
    """Link each distribution of ``inv`` not in ``moved`` (canonical names) into ``site`` (see the module's
    docstring). Returns how many were linked and, for each that could not be, ``name: why``."""
    files: dict[str, str] = {}  # path relative to site -> the target's file
    not_linked: list[str] = []
    linked = 0
    blocked: set[str] = set()  # folders holding a file of a moved distribution's installed release
    for name, dist in inv.winners.items():
        if name in moved:
            for rel in _owned(dist) or ():
                parts = rel.split("/")[:-1]
                blocked.update("/".join(parts[: i + 1]) for i in range(len(parts)))
    for name, dist in sorted(inv.winners.items()):
        if name in moved:
            continue
        owned = _owned(dist)
        if owned is None:
            not_linked.append(f"{dist.display_name}: no readable RECORD, so its files are unknown")
            continue
        linked += 1
        for rel in owned:
            files.setdefault(rel, os.path.join(dist.location, rel))
    _link_tree(files, site, "", frozenset(blocked))
    return linked, not_linked


def _owned(dist: Dist) -> list[str] | None:
    """The files of ``dist`` below its site folder (RECORD), its metadata folder's included."""
    if dist.kind != "dist-info" or not dist.has_record:
        return None
    try:
        record = decode_record(read_bytes(os.path.join(dist.path, "RECORD"), RECORD_LIMIT))
    except Unread:
        return None
    rels = [rel for rel, _ in record_entries(record) if "__pycache__" not in rel.split("/")]
    meta = os.path.relpath(dist.path, dist.location)
    return [*rels, *(f"{meta}/{n}" for n in _listdir(dist.path))]


def _link_tree(files: Mapping[str, str], site: Path, prefix: str, blocked: frozenset[str]) -> None:
    """Link ``files`` (relative path -> source) into ``site``. A folder is one link to the target's folder
    when it does not exist in the copy yet, its files all come from that one folder, and no moved
    distribution's old release has a file in it (which the link would bring back); anything else is
    walked into, and its files are linked one by one."""
    tree: dict[str, dict[str, str]] = {}
    for rel, source in files.items():
        head, _, rest = rel.partition("/")
        tree.setdefault(head, {})[rest] = source
    for head, below in tree.items():
        dest = site / head
        if "" in below:  # a file at this level
            if not os.path.lexists(dest):
                os.symlink(below[""], dest)
            continue
        here = f"{prefix}{head}"
        folder = _one_source_folder(below, head)
        if folder is not None and here not in blocked and not os.path.lexists(dest):
            os.symlink(folder, dest, target_is_directory=True)
            continue
        if os.path.islink(dest) or (os.path.lexists(dest) and not dest.is_dir()):
            continue  # something pip installed already stands there
        dest.mkdir(exist_ok=True)
        _link_tree(below, dest, f"{here}/", blocked)


def _one_source_folder(below: Mapping[str, str], head: str) -> str | None:
    """The target's folder every file of ``below`` lies in (``head`` of one site folder), else None."""
    roots = {source[: -len(rest)].rstrip("/\\") for rest, source in below.items() if source.endswith(rest)}
    if len(roots) != 1 or len(below) == 0:
        return None
    root = roots.pop()
    return root if os.path.basename(root) == head and os.path.isdir(root) else None


def _listdir(path: str) -> list[str]:
    try:
        return [n for n in os.listdir(path) if n != "__pycache__"]
    except OSError:
        return []


def _last(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else ""


def _in_target_terms(result: ImportResult, copy: Copy) -> ImportResult:
    """``result`` with the copy's throwaway folder written ``<copy>`` in its message (the folder is gone
    by the time anyone reads it)."""
    root = os.path.dirname(os.path.dirname(copy.python))
    if root not in result.message:
        return result
    return dataclasses.replace(result, message=result.message.replace(root, "<copy>"))


@dataclass(frozen=True)
class Tried:
    """What running the plan in a copy showed."""

    passed: bool
    summary: str
    """One line for the pin file's header and the verdict."""
    failures: tuple[str, ...] = ()
    """Each probe (or stack step) the plan makes fail, ``statement: how it ended`` (the evidence)."""
    unchanged: tuple[str, ...] = ()
    """Each probe that fails in the target too, the same way: not the plan's doing, not fixed by it either."""
    fixes: tuple[str, ...] = ()
    """The diagnosed fixes of the failures (``accelerate>=1.3.0``): where the next plan should go."""


def try_plan(
    inv: Inventory,
    install: Sequence[str],
    moved: Sequence[str],
    *,
    pip: Sequence[str],
    options: Sequence[str] = (),
    imports: Sequence[str] = (),
    timeout: float,
    install_timeout: float,
) -> Tried:
    """Build the copy with the plan (``trial_copy``), run the import probes of every installed watched
    package and ``imports`` there, then (when the target has the stack, envdoctor.fix.trialstep) the stack
    step, and judge: a probe that fails in the copy but not in the target is the plan's failure, and so is a
    step the plan makes fail. Raises TrialError when the copy cannot be built."""
    from envdoctor.fix import trialstep
    from envdoctor.knowledge.wheelfacts import Facts
    from envdoctor.runtime.imports import RecordOwners, load_probes, run_imports, select, share_levels
    from envdoctor.target import Target

    probes = select(load_probes(), inv, imports)
    with trial_copy(inv, install, moved, pip=pip, options=options, timeout=install_timeout) as copy:
        owners = RecordOwners(Target.resolve(copy.python).inventory(timeout=timeout, fresh=True))
        levels = share_levels(inv, probes)  # the copy holds the same distributions, some at other releases
        with _stepping(inv, copy, moved, owners, timeout) as step_result:  # the step runs beside the probes
            ran = run_imports(copy.python, probes, timeout=timeout, levels=levels, owners=owners, facts=Facts.shipped())
            results = [_in_target_terms(r, copy) for r in ran]
            new, same, fixes = _against_target(inv, results, timeout)
            stepped = trialstep.wanted(inv) and not new
            step = step_result() if stepped else trialstep.StepVerdict()
    where = f"in a throwaway copy of the environment with the plan installed ({len(install)} installed by pip"
    where += f", {copy.linked} shared)"
    if new or step.held:
        failures = (*new, *step.held)
        return Tried(False, f"{where}, {failures[0]}", failures, tuple(same), (*fixes, *step.fixes))
    passed = len(results) - len(same)
    summary = f"{where}, {passed} import probe{' passes' if passed == 1 else 's pass'}"
    if same:
        summary += f" ({len(same)} fail{'s' if len(same) == 1 else ''} there as before: not the plan's doing)"
    if stepped:
        summary += f" and {step.phrase()}"
    return Tried(True, summary, (), (*same, *step.unchanged))


@contextlib.contextmanager
def _stepping(
    inv: Inventory, copy: Copy, moved: Sequence[str], owners: Owners, timeout: float
) -> Iterator[Callable[[], StepVerdict]]:
    """Start the stack step in the copy on a thread (when the target has the stack), so that it runs beside the
    import probes (two interpreters paying for the same imports at once); yield how to wait for its verdict.
    On the way out its processes are killed (Ctrl-C, a failing probe that makes the step moot): nothing the
    step started outlives the copy."""
    from concurrent.futures import ThreadPoolExecutor

    from envdoctor.fix import trialstep
    from envdoctor.runtime.imports import _result

    if not trialstep.wanted(inv):
        yield trialstep.StepVerdict
        return
    groups: list[int] = []
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="envdoctor-step")
    # torch's compile cache (torchinductor_<user>, in the temporary folder by default) goes into the copy, and
    # is removed with it
    scratch = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(copy.python))), "torch-cache")
    env = {**runner.child_environment(), "TORCHINDUCTOR_CACHE_DIR": scratch}
    future = pool.submit(
        trialstep.judge,
        inv,
        copy.python,
        moved,
        timeout=timeout,
        site=copy.site,
        owners=owners,
        on_start=groups.append,
        env=env,
    )
    done = False
    try:
        yield lambda: _result(future)
        done = True
    finally:
        if not (done and future.done()):
            runner.kill_groups(groups)
        pool.shutdown(wait=True, cancel_futures=True)


def _against_target(
    inv: Inventory, results: Sequence[ImportResult], timeout: float
) -> tuple[list[str], list[str], list[str]]:
    """The copy's failing probes run again in the target: those that fail there the same way (not the
    plan's doing), the others (the plan's failures), and the diagnosed fixes of the plan's failures."""
    from envdoctor.runtime.imports import run_imports

    failing = [r for r in results if not r.ok]
    before = {
        r.probe.statement: r for r in run_imports(inv.python.executable, [r.probe for r in failing], timeout=timeout)
    }
    new: list[str] = []
    same: list[str] = []
    fixes: list[str] = []
    for r in failing:
        old = before.get(r.probe.statement)
        same_way = old is not None and not old.ok and (old.ending, old.error_type) == (r.ending, r.error_type)
        (same if same_way else new).append(f"`{r.probe.statement}`: {r.outcome(timeout)}")
        if not same_way and r.diagnosis is not None:
            fixes += [fix for fix in r.diagnosis.fix if fix not in fixes]
    return new, same, fixes
