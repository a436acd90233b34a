"""What one import probe is (``ImportProbe``) and how it ended (``ImportResult``, built by ``ended`` from the
probe's process): shared by the per-process runs (envdoctor.runtime.imports) and the shared parent that forks
them (envdoctor.runtime.shared)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from envdoctor import runner
from envdoctor.resources import data_dir
from envdoctor.runtime.diagnosis import WARNING_KINDS, Diagnosis, diagnose

if TYPE_CHECKING:
    from envdoctor.knowledge.wheelfacts import Facts


@dataclass(frozen=True)
class ImportProbe:
    """One import statement to run; ``package`` is the distribution it is about (None: the user's own)."""

    statement: str
    package: str | None = None
    needs: tuple[str, ...] = ()
    source: str = "--import"
    share: bool = False
    """Paid for once, in a parent the other probes fork from (envdoctor.runtime.shared)."""


@dataclass(frozen=True)
class ImportResult:
    """How one import probe ended. ``ending``: ok, failed (an exception), timeout, crashed (a signal),
    no-result (the process ended without writing its answer: os._exit at import, say)."""

    probe: ImportProbe
    ending: str
    seconds: float
    error_type: str = ""
    message: str = ""
    traceback: str = ""
    frames: tuple[str, ...] = ()
    signal: str = ""
    stderr: str = ""
    stdout_bytes: int = 0
    stderr_bytes: int = 0
    warnings: tuple[str, ...] = ()
    diagnosis: Diagnosis | None = None
    process: str = "fresh"
    """Where it ran: ``fresh`` (its own interpreter), ``shared`` (the parent that paid for it once), or
    ``forked`` (a child of that parent; only a pass that imported every preloaded module itself)."""

    @property
    def ok(self) -> bool:
        return self.ending == "ok"

    @property
    def warned(self) -> bool:
        """The import worked but printed a warning of a known cause (``diagnosis``)."""
        return self.ok and self.diagnosis is not None

    @property
    def packages(self) -> tuple[str, ...]:
        found = self.diagnosis.packages if self.diagnosis is not None else ()
        return found or ((self.probe.package,) if self.probe.package else ())

    def outcome(self, timeout: float | None = None) -> str:
        """One line: how it ended."""
        if self.ending == "ok":
            return f"ok in {self.seconds:.2f} s"
        if self.ending == "timeout":
            limit = f" within {timeout:g} s" if timeout is not None else ""
            return f"did not finish{limit}; its process group was killed"
        if self.ending == "crashed":
            return f"killed by {self.signal} (the process crashed at import)"
        if self.ending == "no-result":
            return f"the process ended without a result ({self.message})"
        return " ".join(f"{self.error_type}: {self.message}".split())[:400]

    def to_dict(self) -> dict[str, Any]:
        return {
            "statement": self.probe.statement,
            "package": self.probe.package,
            "source": self.probe.source,
            "ending": self.ending,
            "seconds": round(self.seconds, 3),
            "error_type": self.error_type,
            "message": self.message,
            "frames": list(self.frames),
            "signal": self.signal,
            "stdout_bytes": self.stdout_bytes,
            "stderr_bytes": self.stderr_bytes,
            "warnings": list(self.warnings),
            "diagnosis": self.diagnosis.to_dict() if self.diagnosis is not None else None,
            "process": self.process,
        }


def ended(
    probe: ImportProbe,
    cmd: runner.CommandResult,
    outcome: runner.Outcome,
    payload: Mapping[str, Any] | None,
    message: str,
    *,
    owners: Any = None,
    facts: Facts | None = None,
    process: str = "fresh",
) -> ImportResult:
    """The ImportResult of a probe's process that ended as ``cmd`` says, with the probe's ``payload``."""
    base = ImportResult(
        probe=probe,
        ending="ok",
        seconds=cmd.duration,
        stderr=cmd.stderr[-8000:],
        stdout_bytes=cmd.stdout_bytes,
        stderr_bytes=cmd.stderr_bytes,
        process=process,
    )
    if outcome is runner.Outcome.TIMEOUT:
        return dataclasses.replace(base, ending="timeout")
    if outcome is runner.Outcome.CRASHED:
        diag = diagnose(cmd.stderr, owners, facts)
        own = str(data_dir("probes"))
        frames = tuple(str(f) for f in diag.frames if not f.path.startswith(own))
        return dataclasses.replace(base, ending="crashed", signal=cmd.signal_name, diagnosis=diag, frames=frames)
    payload = payload or {}
    if "ok" not in payload:
        reason = message.splitlines()[0] if message else f"exit status {cmd.returncode}"
        return dataclasses.replace(
            base, ending="no-result", message=reason, diagnosis=diagnose(cmd.stderr, owners, facts)
        )
    warnings = tuple(
        f"{w.get('category', '')}: {w.get('message', '')}".strip()
        for w in payload.get("warnings") or ()
        if isinstance(w, dict)
    )
    base = dataclasses.replace(base, seconds=float(payload.get("seconds") or 0.0), warnings=warnings)
    error = payload.get("error")
    if payload.get("ok") or not isinstance(error, dict):
        said = cmd.stderr + "".join(f"\n{w}" for w in warnings)
        heard = diagnose(said, owners, facts) if said.strip() else None
        return dataclasses.replace(base, diagnosis=heard) if heard is not None and heard.kind in WARNING_KINDS else base
    tb = str(error.get("traceback", ""))
    return dataclasses.replace(
        base,
        ending="failed",
        error_type=str(error.get("type", "")),
        message=str(error.get("message", "")),
        traceback=tb,
        frames=tuple(f"{f[0]}:{f[1]} in {f[2]}" for f in error.get("frames") or () if len(f) == 3),
        diagnosis=diagnose(cmd.stderr + "\n" + tb, owners, facts),
    )
