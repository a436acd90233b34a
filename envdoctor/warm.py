"""The warm path of ``envdoctor check``: the last report of a target, kept while its environment is unchanged.

One cache entry per (target interpreter, options, the environment variables that shape its sys.path,
envdoctor version, cache format, report schema, shipped matrix and facts files):
``{"fingerprint", "target", "report"}``. The fingerprint is the inventory probe's (probes/inventory.py
``fingerprint``: stat() of the interpreter, pyvenv.cfg, every sys.path folder, every metadata folder and its
RECORD and METADATA). envdoctor first computes it again here, from the stored sys.path and markers (the
probe's own code, imported as a module): when it holds, the stored report answers and no process starts.
Else the probe is given the stored fingerprint and answers "unchanged" without reading any metadata when it
holds in the target. Either way neither packaging, rich nor any check is imported. Standard library only
(and envdoctor.report, which is too).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from envdoctor.cache import FORMAT, Cache
from envdoctor.fingerprint import PATH_VARIABLES, data_stamp, holds, probe_module
from envdoctor.report import SCHEMA, Finding, Report, Skipped, Summary

_FINDING = {
    **dict.fromkeys(("id", "severity", "check", "title", "detail"), str),
    **{key: [str] for key in ("packages", "evidence", "fix", "advice")},
}
SHAPE = {
    "fingerprint": str,
    "target": {"executable": str, "version": str, "paths": [str], "markers": {str: str}, "watch": [str]},
    "report": {
        "findings": [_FINDING],
        "skipped": [{"check": str, "reason": str}],
        "checks": [str],
        "summary": {
            "python": str,
            "python_version": str,
            "distributions": int,
            "paths": [str],
            "torch_builds": [(str, str)],
        },
    },
}


def key(python: str, options: Mapping[str, Any]) -> str:
    """The cache key of ``python``'s last report under ``options`` (and the PATH_VARIABLES, and this
    envdoctor: version, cache format, report schema, the shipped matrix and facts files' stamps)."""
    from envdoctor._version import __version__

    env = {name: os.environ.get(name) for name in PATH_VARIABLES}
    h = probe_module()._hasher()
    h.update(json.dumps([python, dict(options), env, __version__, FORMAT, SCHEMA], sort_keys=True).encode())
    h.update(data_stamp().encode())
    return f"report-{h.hexdigest()[:32]}"


@dataclass(frozen=True)
class Stored:
    fingerprint: str
    target: Mapping[str, Any]
    report: Report

    def unchanged(self) -> bool:
        """Whether the target's environment still has the stored fingerprint, computed here from the stored
        sys.path, markers and interpreter (envdoctor.fingerprint)."""
        return holds(self.fingerprint, self.target)


def load(cache: Cache, entry_key: str) -> Stored | None:
    """The stored entry under ``entry_key``, or None (absent, damaged, of another shape)."""
    entry = cache.get(entry_key, SHAPE)
    if entry is None:
        return None
    try:
        return Stored(entry["fingerprint"], entry["target"], from_dict(entry["report"]))
    except (KeyError, TypeError, ValueError):
        return None  # recomputed, and the entry overwritten


def store(cache: Cache, entry_key: str, payload: Mapping[str, Any], report: Report) -> None:
    """Keep ``report`` of the inventory ``payload`` for the next run; never one with a check that could not
    run (it may run next time)."""
    if report.skipped or report.train is not None or not isinstance(payload.get("fingerprint"), str):
        return
    py = payload["python"]
    target = {
        "executable": py["executable"],
        "version": py.get("sys_version", ""),
        "paths": payload["sys_path"],
        "markers": payload["markers"],
        "watch": payload.get("watch", []),
    }
    cache.put(entry_key, {"fingerprint": payload["fingerprint"], "target": target, "report": to_dict(report)})


def to_dict(report: Report) -> dict[str, Any]:
    s = report.summary
    return {
        "findings": [f.to_dict() for f in report.findings],
        "skipped": [{"check": k.check, "reason": k.reason} for k in report.skipped],
        "checks": list(report.checks),
        "summary": {
            "python": s.python,
            "python_version": s.python_version,
            "distributions": s.distributions,
            "paths": list(s.paths),
            "torch_builds": [list(t) for t in s.torch_builds],
        },
    }


def from_dict(data: Mapping[str, Any]) -> Report:
    s = data["summary"]
    summary = Summary(
        python=s["python"],
        python_version=s["python_version"],
        distributions=s["distributions"],
        paths=tuple(s["paths"]),
        torch_builds=tuple((n, v) for n, v in s["torch_builds"]),
    )
    return Report.build(
        [Finding.from_dict(f) for f in data["findings"]],
        skipped=[Skipped(k["check"], k["reason"]) for k in data["skipped"]],
        summary=summary,
        checks=data["checks"],
    )


def search_path() -> list[str]:
    """This interpreter's sys.path as a fresh ``python`` would have it: without the running script's folder
    (or the current folder for ``-c``, ``-m`` and the REPL), which Python put first; the inventory probe
    drops its own folder the same way."""
    paths = list(sys.path)
    if paths and not getattr(sys.flags, "safe_path", False):
        script = os.path.dirname(os.path.abspath(sys.argv[0])) if sys.argv and sys.argv[0] else ""
        first = os.path.abspath(paths[0] or ".")
        if paths[0] in ("", ".") or first in (os.getcwd(), script):
            del paths[0]
    return paths


def inventory_here(request: Mapping[str, Any]) -> dict[str, Any]:
    """The inventory probe's result for this interpreter, computed in this process (no subprocess)."""
    paths = search_path()
    payload: dict[str, Any] = probe_module().main({**request, "path": paths})
    if "sys_path" in payload:
        payload["sys_path"] = paths
    return payload
