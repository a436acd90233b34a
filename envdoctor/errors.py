"""envdoctor's errors, one per layer. The CLI maps them to exit codes (envdoctor.exitcodes)."""

from __future__ import annotations

TYPE_CHECKING = False  # not typing's: the warm paths (envdoctor.replay, envdoctor.verdict) never load typing
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


class Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP arrived (the CLI turns them into this): it unwinds like Ctrl-C, so every process
    group envdoctor started is killed and every temporary folder removed on the way out."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


class Interrupted(EnvdoctorError):
    """An interrupt (Ctrl-C, SIGTERM) stopped a run that had started changing the target: ``message``
    says what state the target is in; ``signum`` is the signal that stopped it."""

    def __init__(self, message: str, signum: int) -> None:
        super().__init__(message)
        self.message = message
        self.signum = signum


MAX_TIMEOUT = 7 * 24 * 3600.0
"""The longest limit a probe or a pip run may be given (a week)."""


def check_timeout(seconds: object, what: str = "timeout") -> float:
    """``seconds`` as a usable time limit; raises UsageError for 0, a negative, inf, nan or a non-number."""
    ok = isinstance(seconds, int | float) and not isinstance(seconds, bool) and 0 < seconds <= MAX_TIMEOUT
    if not ok:  # (nan fails every comparison, inf the upper bound)
        raise UsageError(f"{what} must be a number of seconds above 0 and at most {MAX_TIMEOUT:g}, not {seconds!r}")
    return float(seconds)  # type: ignore[arg-type]
