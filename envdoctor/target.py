"""The interpreter under test: this one, or the one ``--python`` names, resolved once.

A Target runs probes through envdoctor.runner. ``run`` returns how a probe ended as a value (an import
probe's timeout or crash is a finding); ``probe`` and ``inventory`` turn every way a probe can end badly
into a TargetError with one clear sentence, so callers never see a traceback for a broken interpreter.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from envdoctor.errors import TargetError, UsageError

if TYPE_CHECKING:
    from envdoctor.inventory import Inventory
    from envdoctor.runner import ProbeResult

_VENV_PYTHONS = ("bin/python", "bin/python3", "Scripts/python.exe")


@dataclass(frozen=True)
class Target:
    python: str
    """Absolute path of the interpreter, symlinks kept: a venv's python is a link to its base."""

    @classmethod
    def resolve(cls, python: str | os.PathLike[str] | None = None) -> Target:
        """The interpreter to check. ``python`` may be an interpreter or a virtual environment's folder.

        Raises UsageError when the path does not name something that could be an interpreter.
        """
        if python is None:
            return cls(python=sys.executable or "python3")
        if str(python) == "":
            raise UsageError("--python is empty; leave it out to check the interpreter running envdoctor")
        text = os.path.expanduser(str(python))
        if os.sep not in text and not os.path.exists(text):
            import shutil  # only for a name on PATH

            found = shutil.which(text)  # `--python python3.11` means the one on PATH
            if found is None:
                raise UsageError(f"--python {python}: not found on PATH (and no such file here)")
            text = found
        path = Path(text)
        if path.is_dir():
            for rel in _VENV_PYTHONS:
                if (path / rel).is_file():
                    path = path / rel
                    break
            else:
                raise UsageError(f"--python {python}: a folder, but not a virtual environment (no bin/python in it)")
        if not path.exists():
            raise UsageError(f"--python {python}: no such file")
        if not path.is_file():
            raise UsageError(f"--python {python}: not a file")
        if not os.access(path, os.X_OK):
            raise UsageError(f"--python {python}: not executable")
        return cls(python=os.path.abspath(path))

    @property
    def is_current(self) -> bool:
        return runs_here(self.python)

    def run(self, name: str, request: Mapping[str, Any], *, timeout: float) -> ProbeResult:
        """Run probe ``name`` in this interpreter and return how it ended as a value (ok, failed, timeout,
        crashed by a signal, bad output, too old), with its JSON payload when it is ok. Raises only
        TargetError when the interpreter cannot be started at all (envdoctor.runner.run_probe)."""
        from envdoctor import runner  # subprocess and threads: loaded only when a probe runs

        return runner.run_probe(self.python, name, request, timeout=timeout)

    def probe(self, name: str, request: Mapping[str, Any], *, timeout: float) -> Mapping[str, Any]:
        """Run probe ``name`` in this interpreter and return its JSON result.

        Raises TargetError (one sentence, no traceback) when it cannot be started, hangs, crashes,
        is too old, or writes no usable result: the inventory cannot do without it.
        """
        from envdoctor import runner

        result = self.run(name, request, timeout=timeout)
        if result.ok and result.payload is not None:
            return result.payload
        hint = {
            runner.Outcome.TIMEOUT: " (does this Python hang on start? try it by hand)",
            runner.Outcome.BAD_OUTPUT: "",
        }.get(result.outcome, "")
        raise TargetError(f"{self.python}: {result.message}{hint}")

    def inventory_payload(self, request: Mapping[str, Any], *, timeout: float) -> Mapping[str, Any]:
        """The inventory probe's result: computed in this process when the target is this interpreter."""
        if self.is_current:
            from envdoctor import warm

            try:
                return warm.inventory_here(request)
            except Exception:  # the probe's code failing here is retried as a probe, which reports it
                import logging

                logging.getLogger(__name__).debug("the in-process inventory failed", exc_info=True)
        return self.probe("inventory", request, timeout=timeout)

    def inventory(self, *, timeout: float, fresh: bool = False) -> Inventory:
        """The Inventory of this interpreter's environment. ``fresh``: always from a new process (after pip
        changed the environment under this one). Raises TargetError when it cannot be read."""
        from envdoctor.inventory import Inventory

        if fresh:
            return Inventory.from_payload(self.probe("inventory", {}, timeout=timeout))
        return Inventory.from_payload(self.inventory_payload({}, timeout=timeout))


def runs_here(python: str) -> bool:
    """Whether ``python`` is the interpreter running envdoctor: the same path, not the same binary (a venv's
    python is a symlink to its base interpreter, and is another environment)."""
    here = sys.executable
    return bool(here) and os.path.abspath(here) == os.path.abspath(python)
