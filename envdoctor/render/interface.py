"""The renderers' one shape: a format (``Format``), its options (``RenderOptions``) and ``Renderer``, the
function every ``envdoctor/render/<format>.py`` exports as ``render``: a Report and the options in, the text
out. Pure: a renderer prints nothing, reads no file and starts no process."""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from envdoctor.report import Report, Severity

if TYPE_CHECKING:
    from envdoctor.knowledge.catalog import RuleHelp


class Format(enum.Enum):
    TERMINAL = "terminal"
    TEXT = "text"
    JSON = "json"
    JUNIT = "junit"
    GITHUB = "github"
    SARIF = "sarif"
    MARKDOWN = "markdown"


@dataclass(frozen=True)
class RenderOptions:
    width: int = 100
    color: bool = True
    fail_on: Severity = Severity.ERROR
    """The gate's level: JUnit counts a finding at or above it as a failure, like the exit code."""
    rules: Mapping[str, RuleHelp] = field(default_factory=dict)
    """The rule catalog (envdoctor.knowledge.catalog) SARIF writes; an id missing from it gets its finding's title."""


Renderer = Callable[[Report, RenderOptions], str]
"""``render(report, options) -> str``: what each format module exports, and what ``RENDERERS`` maps to."""
