"""The interpreter under test: this one, or the one ``--python`` names, resolved once.

A Target runs probes through envdoctor.runner and turns every way a probe can end badly into a
TargetError with one clear sentence, so callers never see a traceback for a broken interpreter.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from envdoctor.errors import TargetError, UsageError

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
        return os.path.abspath(self.python) == os.path.abspath(sys.executable)

    def probe(self, name: str, request: Mapping[str, Any], *, timeout: float) -> Mapping[str, Any]:
        """Run probe ``name`` in this interpreter and return its JSON result.

        Raises TargetError (one sentence, no traceback) when it cannot be started, hangs, crashes,
        is too old, or writes no usable result.
        """
        from envdoctor import runner  # subprocess and threads: loaded only when a probe runs

        result = runner.run_probe(self.python, name, request, timeout=timeout)
        if result.ok and result.payload is not None:
            return result.payload
        hint = {
            runner.Outcome.TIMEOUT: " (does this Python hang on start? try it by hand)",
            runner.Outcome.BAD_OUTPUT: "",
        }.get(result.outcome, "")
        raise TargetError(f"{self.python}: {result.message}{hint}")
