"""envdoctor's errors, one per layer. The CLI maps them to exit codes (envdoctor.exitcodes)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from envdoctor.report import Report


class EnvdoctorError(Exception):
    """Base of every error envdoctor raises on purpose."""


class UsageError(EnvdoctorError):
    """The caller asked for something that cannot be done (bad option, missing file)."""


class TargetError(EnvdoctorError):
    """The interpreter under test cannot be run or inspected."""


class ProbeError(EnvdoctorError):
    """A probe ran but its result is unusable."""


class IncompatibleEnvironmentError(EnvdoctorError):
    """Raised by ``assert_compatible`` when the environment has findings at or above the threshold."""

    def __init__(self, report: Report, message: str) -> None:
        super().__init__(message)
        self.report = report
