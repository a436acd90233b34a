"""envdoctor: an environment doctor for the PyTorch / Hugging Face training stack.

``import envdoctor`` is cheap: it loads neither rich nor anything it diagnoses. The public API
(``__all__``: ``check``, ``assert_compatible``, ``what_if``, ``pin``, ``Report``, ``PinResult``, ``Finding``,
``Severity`` and the errors) is loaded on first use. ``%load_ext envdoctor`` registers the ``%envdoctor`` magic.
The library never prints, exits, prompts, nor imports torch, numpy or transformers.
"""

from __future__ import annotations

from envdoctor._version import __version__

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing: the replay of a warm check never loads it

__all__ = [
    "EnvdoctorError",
    "Finding",
    "IncompatibleEnvironmentError",
    "PinResult",
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
    "assert_compatible": "envdoctor.verdict",  # envdoctor.api's, answered from the cache when warm
    "what_if": "envdoctor.api",
    "pin": "envdoctor.fix.pin",
    "PinResult": "envdoctor.fix.pin",
    "load_ipython_extension": "envdoctor.magic",
    "Report": "envdoctor.report",
    "Finding": "envdoctor.report",
    "Severity": "envdoctor.report",
    "EnvdoctorError": "envdoctor.errors",
    "IncompatibleEnvironmentError": "envdoctor.errors",
}

if TYPE_CHECKING:
    from typing import Any

    from envdoctor.api import check, what_if
    from envdoctor.errors import EnvdoctorError, IncompatibleEnvironmentError
    from envdoctor.fix.pin import PinResult, pin
    from envdoctor.magic import load_ipython_extension as load_ipython_extension
    from envdoctor.report import Finding, Report, Severity
    from envdoctor.verdict import assert_compatible


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'envdoctor' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)


def __dir__() -> list[str]:
    return sorted(__all__)
