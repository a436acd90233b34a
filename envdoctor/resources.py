"""Where envdoctor's data lives: probes/ and matrix/, in an installed wheel or in a checkout.

The wheel carries them as ``envdoctor/_data/{probes,matrix}`` (hatchling force-include); an
editable install or a plain checkout has them at the repository root. Both give a real ``Path``,
because the target interpreter must execute probe files by path.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from envdoctor.errors import EnvdoctorError

_PACKAGE_DIR = Path(__file__).resolve().parent


@cache
def data_dir(name: str) -> Path:
    """The folder ``name`` ("probes" or "matrix"); raises EnvdoctorError if neither place has it."""
    for candidate in (_PACKAGE_DIR / "_data" / name, _PACKAGE_DIR.parent / name):
        if candidate.is_dir():
            return candidate
    raise EnvdoctorError(f"envdoctor's {name}/ folder is missing from this installation ({_PACKAGE_DIR})")


def probe_path(probe: str) -> Path:
    """The file of probe ``probe`` (for example "inventory")."""
    path = data_dir("probes") / f"{probe}.py"
    if not path.is_file():
        raise EnvdoctorError(f"probe {probe!r} is missing from this installation ({path})")
    return path
