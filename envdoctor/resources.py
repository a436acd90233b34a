"""Where envdoctor's data lives: probes/ and matrix/, in an installed wheel or in a checkout.

The wheel carries them as ``envdoctor/_data/{probes,matrix}`` (hatchling force-include); an
editable install or a plain checkout has them at the repository root. Both give a real ``Path``,
because the target interpreter must execute probe files by path.
"""

from __future__ import annotations

import os
from functools import cache

from envdoctor.errors import EnvdoctorError

TYPE_CHECKING = False  # not typing's: the warm paths read probes/ and matrix/ without typing or pathlib
if TYPE_CHECKING:
    from pathlib import Path

_PACKAGE_DIR = os.path.dirname(os.path.realpath(__file__))


@cache
def data_folder(name: str) -> str:
    """The folder ``name`` ("probes" or "matrix") as a string; raises EnvdoctorError if neither place has it."""
    for candidate in (os.path.join(_PACKAGE_DIR, "_data", name), os.path.join(os.path.dirname(_PACKAGE_DIR), name)):
        if os.path.isdir(candidate):
            return candidate
    raise EnvdoctorError(f"envdoctor's {name}/ folder is missing from this installation ({_PACKAGE_DIR})")


def data_dir(name: str) -> Path:
    """The folder ``name`` ("probes" or "matrix"); raises EnvdoctorError if neither place has it."""
    from pathlib import Path

    return Path(data_folder(name))


def probe_file(probe: str) -> str:
    """The file of probe ``probe`` (for example "inventory") as a string."""
    path = os.path.join(data_folder("probes"), f"{probe}.py")
    if not os.path.isfile(path):
        raise EnvdoctorError(f"probe {probe!r} is missing from this installation ({path})")
    return path


def probe_path(probe: str) -> Path:
    """The file of probe ``probe`` (for example "inventory")."""
    from pathlib import Path

    return Path(probe_file(probe))
