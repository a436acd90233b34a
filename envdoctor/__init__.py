"""envdoctor: an environment doctor for the PyTorch / Hugging Face training stack.

``import envdoctor`` is cheap: it loads neither rich nor anything it diagnoses. The public API
(``check``, ``assert_compatible``, ``what_if``, ``pin``, ``Report``, ``Finding``, ``Severity`` and the errors) is loaded
on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from envdoctor._version import __version__

__all__ = [
    "EnvdoctorError",
    "Finding",
    "IncompatibleEnvironmentError",
    "Report",
    "Severity",
    "__version__",
    "assert_compatible",
    "check",
    "pin",
    "what_if",
]

_LAZY = {
    "check": "envdoctor.api",
    "assert_compatible": "envdoctor.api",
    "what_if": "envdoctor.api",
    "pin": "envdoctor.fix.pin",
    "Report": "envdoctor.report",
    "Finding": "envdoctor.report",
    "Severity": "envdoctor.report",
    "EnvdoctorError": "envdoctor.errors",
    "IncompatibleEnvironmentError": "envdoctor.errors",
}

if TYPE_CHECKING:
    from envdoctor.api import assert_compatible, check, what_if
    from envdoctor.errors import EnvdoctorError, IncompatibleEnvironmentError
    from envdoctor.fix.pin import pin
    from envdoctor.report import Finding, Report, Severity


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'envdoctor' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)


def __dir__() -> list[str]:
    return sorted(__all__)
