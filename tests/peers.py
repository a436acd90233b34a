"""What `pip check` and `uv pip check` report, parsed into comparable problems."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_PIP = [
    (re.compile(r"^(\S+) \S+ requires (\S+?),? which is not installed\.?$"), "missing"),
    (re.compile(r"^(\S+) \S+ has requirement (\S+?)(?:[<>=!~;\[].*)?, but you have (\S+) .*$"), "conflict"),
    (re.compile(r"^(\S+) \S+ is not supported on this platform$"), "platform"),
]
_UV = [
    (re.compile(r"^The package `([^`]+)` requires `([A-Za-z0-9._-]+)[^`]*`, but it's not installed$"), "missing"),
    (re.compile(r"^The package `([^`]+)` requires `([A-Za-z0-9._-]+)[^`]*`, but `[^`]+` is installed$"), "conflict"),
    (re.compile(r"^The package `([^`]+)` has multiple installed distributions"), "duplicate"),
    (re.compile(r"^The package `([^`]+)` requires Python"), "python"),
    (re.compile(r"^The package `([^`]+)` was built for a different"), "platform"),
    (re.compile(r"^The package `([^`]+)` is broken or incomplete"), "metadata"),
]


@dataclass(frozen=True)
class PeerProblem:
    tool: str
    kind: str
    package: str
    other: str | None
    line: str


def _canon(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def parse(tool: str, output: str) -> list[PeerProblem]:
    patterns = _PIP if tool == "pip" else _UV
    found: list[PeerProblem] = []
    for line in output.splitlines():
        for pattern, kind in patterns:
            m = pattern.match(line.strip())
            if m:
                other = m.group(2) if m.lastindex and m.lastindex >= 2 else None
                found.append(PeerProblem(tool, kind, _canon(m.group(1)), _canon(other) if other else None, line))
                break
    return found


def pip_check(python: Path) -> tuple[int, str]:
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "check"], capture_output=True, text=True, timeout=300
    )
    return proc.returncode, proc.stdout + proc.stderr


def uv_binary() -> str | None:
    local = Path(sys.executable).parent / "uv"
    return str(local) if local.exists() else shutil.which("uv")


def uv_check(python: Path) -> tuple[int, str]:
    uv = uv_binary()
    assert uv, "uv is a test dependency (pip install -e '.[test]')"
    proc = subprocess.run([uv, "pip", "check", "--python", str(python)], capture_output=True, text=True, timeout=300)
    return proc.returncode, proc.stdout + proc.stderr


# Which envdoctor finding ids answer each kind of peer problem.
ANSWERS = {
    "missing": {"requirement-missing"},
    "conflict": {"requirement-conflict"},
    "platform": {"wheel-unsupported"},
    "duplicate": {"distribution-duplicate"},
    "python": {"requires-python-mismatch"},
    "metadata": {"metadata-corrupt", "metadata-missing", "requirement-invalid", "version-invalid"},
}


def unanswered(problems: list[PeerProblem], findings: list[dict[str, Any]]) -> list[PeerProblem]:
    """Peer problems that no envdoctor finding covers (same kind, same packages)."""
    missing = []
    for p in problems:
        ok = any(
            f["id"] in ANSWERS[p.kind]
            and p.package in f["packages"]
            and (p.other is None or p.kind not in {"missing", "conflict"} or p.other in f["packages"])
            for f in findings
        )
        if not ok:
            missing.append(p)
    return missing


def envdoctor_report(python: Path) -> tuple[int, dict[str, Any]]:
    """``envdoctor check --format json`` on ``python``, as a user runs it: (exit code, parsed report)."""
    proc = subprocess.run(
        [sys.executable, "-m", "envdoctor", "check", "--python", str(python), "--format", "json"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode in (0, 1), proc.stderr
    return proc.returncode, json.loads(proc.stdout)
