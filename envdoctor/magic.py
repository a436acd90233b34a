"""``%load_ext envdoctor`` registers the ``%envdoctor`` line magic: ``%envdoctor`` (or ``%envdoctor check``)
checks the kernel's own environment, stale modules included, and shows the Report as the cell's value;
``%envdoctor pin`` shows the planned fix (nothing is installed)."""

from __future__ import annotations

from typing import Any

USAGE = "usage: %envdoctor [check | pin]"


def load_ipython_extension(ipython: Any) -> None:
    ipython.register_magic_function(envdoctor_magic, "line", "envdoctor")


def envdoctor_magic(line: str) -> Any:
    """The magic's body: returns the value the cell shows (a Report or a PinResult)."""
    from envdoctor.errors import UsageError

    words = line.split()
    if not words or words == ["check"]:
        from envdoctor.api import check

        return check()
    if words == ["pin"]:
        from envdoctor.pinning import pin

        return pin()
    raise UsageError(f"%envdoctor {line.strip()}: {USAGE}")
