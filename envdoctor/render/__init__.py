"""Renderers: pure functions Report -> str, one module per format, chosen from one table."""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from envdoctor.report import Report


class Format(enum.Enum):
    TERMINAL = "terminal"
    TEXT = "text"
    JSON = "json"


@dataclass(frozen=True)
class RenderOptions:
    width: int = 100
    color: bool = True


def _terminal(report: Report, options: RenderOptions) -> str:
    from envdoctor.render import terminal  # rich is loaded only when this format is asked for

    return terminal.render(report, options)


def _text(report: Report, options: RenderOptions) -> str:
    from envdoctor.render import text

    return text.render(report, options)


def _json(report: Report, options: RenderOptions) -> str:
    from envdoctor.render import json

    return json.render(report, options)


RENDERERS: Mapping[Format, Callable[[Report, RenderOptions], str]] = MappingProxyType(
    {Format.TERMINAL: _terminal, Format.TEXT: _text, Format.JSON: _json}
)


def render(report: Report, fmt: Format, options: RenderOptions | None = None) -> str:
    return RENDERERS[fmt](report, options or RenderOptions())
