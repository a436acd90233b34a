"""Real virtual environments built from real released wheels, for integration tests and bench/.

Each bed is ``tests/beds/NAME.txt``: exact pins installed with ``pip install --no-deps``. Beds whose
first line is ``# needs: torch`` get torch 2.13.0 (the CPU build) by symlinks into one shared
install, so CI downloads and unpacks torch once. Beds are cached under ``ENVDOCTOR_BEDS`` (default
``~/.cache/envdoctor-tests/beds``), keyed by the lock file's hash; wheels come from pip's cache.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
import venv
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LOCKS = ROOT / "tests" / "beds"
HARNESS = "2"  # bump when the way beds are built changes: cached beds are rebuilt
TORCH = "torch==2.13.0"  # the CPU build; a plain `torch` pulls several GB of CUDA packages


@dataclass(frozen=True)
class Bed:
    name: str
    root: Path

    @property
    def python(self) -> Path:
        return self.root / "bin" / "python"

    @property
    def site(self) -> Path:
        return self.root / "lib" / f"python{sys.version_info[0]}.{sys.version_info[1]}" / "site-packages"


def beds_root() -> Path:
    default = Path.home() / ".cache" / "envdoctor-tests" / "beds"
    return Path(os.environ.get("ENVDOCTOR_BEDS", default))


def pip(*args: str, python: Path) -> None:
    """pip of this interpreter, installing into ``python``'s environment (no pip needed there)."""
    cmd = [sys.executable, "-m", "pip", "--python", str(python), "--disable-pip-version-check", "-q", *args]
    subprocess.run(cmd, check=True, timeout=1800)


@contextlib.contextmanager
def _locked(name: str) -> Iterator[None]:
    """One builder per bed at a time, across processes (parallel test runs share the bed cache)."""
    root = beds_root()
    root.mkdir(parents=True, exist_ok=True)
    with open(root / f".{name}.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _fresh_venv(path: Path) -> Bed:
    if path.exists():
        shutil.rmtree(path)
    venv.EnvBuilder(with_pip=False, symlinks=True).create(path)
    return Bed(path.name, path)


def torch_base() -> Bed:
    """One venv holding only torch 2.13.0 (no dependencies), shared by symlinks."""
    base = Bed("torchbase", beds_root() / "torchbase")
    with _locked(base.name):
        if (base.root / ".complete").exists():
            return base
        base = _fresh_venv(base.root)
        pip("install", "--no-deps", "--no-compile", TORCH, python=base.python)
        (base.root / ".complete").write_text(TORCH)
    return base


def lock_text(name: str) -> str:
    return (LOCKS / f"{name}.txt").read_text(encoding="utf-8")


def build(name: str) -> Bed:
    """The bed ``name``, built once per lock-file content and reused while the lock is unchanged."""
    text = lock_text(name)
    needs_torch = text.startswith("# needs: torch")
    digest = hashlib.sha256((HARNESS + text + (TORCH if needs_torch else "")).encode()).hexdigest()[:16]
    bed = Bed(name, beds_root() / name)
    stamp = bed.root / ".complete"
    with _locked(name):
        if stamp.exists() and stamp.read_text() == digest:
            return bed
        bed = _fresh_venv(bed.root)
        if needs_torch:
            link_torch(bed)
        pip(
            "install",
            "--no-deps",
            "--no-compile",
            "--only-binary=:all:",
            "-r",
            str(LOCKS / f"{name}.txt"),
            python=bed.python,
        )
        stamp.write_text(digest)
    return bed


def link_torch(bed: Bed) -> None:
    """Symlink torch's code into the bed; copy its small dist-info folder, which uv (0.13) does not
    read through a symlink."""
    base = torch_base()
    for entry in base.site.iterdir():
        if entry.name in {"__pycache__", "_distutils_hack", "distutils-precedence.pth"}:
            continue
        if entry.name.endswith(".dist-info"):
            shutil.copytree(entry, bed.site / entry.name)
        else:
            (bed.site / entry.name).symlink_to(entry)


def copy(bed: Bed, dest: Path) -> Bed:
    """A private copy of a bed that a test may damage (symlinks to torch stay links)."""
    shutil.copytree(bed.root, dest, symlinks=True)
    # venv scripts and pyvenv.cfg do not name the folder for a --without-pip venv, so it runs as is
    return Bed(bed.name, dest)
