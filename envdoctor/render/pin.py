"""What ``envdoctor pin`` prints about a PinResult (envdoctor.fix.pin): the pin file with its header, the JSON
form (schema ``envdoctor.pin/1``, documented in README.md), and the summary on stderr."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from envdoctor._version import __version__
from envdoctor.render.pinfile import render

if TYPE_CHECKING:
    from envdoctor.fix.pin import PinResult
    from envdoctor.fix.planner import Move


def text(result: PinResult, fmt: str = "requirements") -> str:
    """What ``envdoctor pin`` writes: the pin file in ``fmt`` (with its header), or the JSON form."""
    if fmt == "json":
        return json.dumps(to_dict(result), indent=2) + "\n"
    return render(result.pins, fmt, header(result))


def summary(result: PinResult) -> list[str]:
    """What stderr says after the file is written."""
    if result.plan.healthy:
        head = "no error found: the pins are the current versions, unchanged"
    elif result.plan.moves:
        head = "plan: " + ", ".join(m.describe() for m in result.plan.moves)
    else:
        head = "no plan clears the errors"
    lines = [head, result.pins.scope] if result.pins.scope else [head]
    lines += [f"NOT fixed: [{f.id}] {f.title}" for f in result.plan.remaining]
    lines += [f"note: {n}" for n in result.plan.notes]
    if result.plan.moves or not result.plan.healthy:
        lines.append(result.verdict())
    return lines


def to_dict(result: PinResult) -> dict[str, Any]:
    """The JSON form (schema envdoctor.pin/1)."""

    def move(m: Move) -> dict[str, Any]:
        return {"name": m.name, "from": m.before, "to": m.after, "requirement": m.line, "reasons": list(m.reasons)}

    return {
        "schema": "envdoctor.pin/1",
        "python": result.inventory.python.executable,
        "python_version": result.inventory.python.version,
        "verified": result.verification.verified,
        "tried_in_copy": result.verification.tried,
        "complete": result.plan.complete,
        "verdict": result.verdict(),
        "verification": result.verification.summary,
        "pip_also_moves": list(result.verification.also_moved),
        "moves": [move(m) for m in result.plan.moves],
        "alternatives": [[move(m) for m in alt] for alt in result.plan.alternatives],
        "cleared": [f.to_dict() for f in result.plan.cleared],
        "remaining": [f.to_dict() for f in result.plan.remaining],
        "notes": list(result.plan.notes),
        "options": list(result.pins.options),
        "requirements": [
            {"line": p.text, "comment": p.comment, "moved": p.moved, "name": p.name} for p in result.pins.lines
        ],
    }


def header(result: PinResult) -> list[str]:
    """The pin file's comment lines: who wrote it for which Python, the verdict, the moves and what is left."""
    lines = [
        f"written by envdoctor {__version__} (`envdoctor pin`) for {result.inventory.python.executable}, "
        f"Python {result.inventory.python.version}",
        result.verdict(),
    ]
    if result.pins.scope:
        lines.append(result.pins.scope)
    for move in result.plan.moves:
        lines.append(f"moves {move.describe()}")
    for alt in result.plan.alternatives:
        lines.append("alternative: " + ", ".join(m.line for m in alt))
    for f in result.plan.remaining:
        lines.append(f"NOT fixed: [{f.id}] {f.title}")
    lines += [f"note: {n}" for n in result.plan.notes]
    lines += [f"pip also moves {m}" for m in result.verification.also_moved]
    return lines
