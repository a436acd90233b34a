"""Secrets never reach an output: token-like environment values and credentials in URLs.

Applied to every string envdoctor writes (reports in every format, error messages, progress).
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from envdoctor.report import Finding, Report

MASK = "****"
_SECRET_NAME = re.compile(
    r"(^HF_TOKEN$|^HUGGING_FACE_HUB_TOKEN$|^WANDB_API_KEY$|TOKEN$|_KEY$|^KEY$|SECRET$|PASSWORD|PASSWD|_PAT$"
    r"|CREDENTIALS?$|_AUTH$)",
    re.IGNORECASE,
)
_URL_USERINFO = re.compile(r"(?P<scheme>\b[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<user>[^/@\s:'\"]*)(?::[^/@\s'\"]*)?@")
_URL_QUERY_SECRET = re.compile(
    r"(?P<name>[?&](?:[\w.-]*(?:token|signature|credential|secret|password|passwd|api[_-]?key|access[_-]?key"
    r"|auth)[\w.-]*|key|sig|code)=)(?P<value>[^&;#\s'\"<>]+)",
    re.IGNORECASE,
)
"""A secret in a URL's query: ``?token=``, ``X-Amz-Signature=``, ``X-Amz-Credential=``, ``sig=`` (Azure SAS),
``X-Goog-Signature=``, ``api_key=``, ``key=``..."""
_MIN_SECRET = 6
"""Shorter values (``1``, ``true``) would mask ordinary text and protect nothing."""


def secret_values(env: Mapping[str, str] | None = None) -> tuple[str, ...]:
    """Values of token-like variables (HF_TOKEN, *_TOKEN, *_KEY, *_SECRET, passwords), longest first."""
    env = os.environ if env is None else env
    found = {v for k, v in env.items() if _SECRET_NAME.search(k) and len(v.strip()) >= _MIN_SECRET}
    return tuple(sorted(found, key=len, reverse=True))


class Redactor:
    """Masks the given secret values (raw and JSON-escaped) and the password part of URLs."""

    def __init__(self, secrets: Iterable[str]) -> None:
        forms: set[str] = set()
        for value in secrets:
            forms.add(value)
            forms.add(json.dumps(value)[1:-1])
        self._forms = sorted(forms, key=len, reverse=True)

    @classmethod
    def from_environment(cls, env: Mapping[str, str] | None = None) -> Redactor:
        return cls(secret_values(env))

    def __call__(self, text: str) -> str:
        for form in self._forms:
            if form in text:
                text = text.replace(form, MASK)
        text = _URL_QUERY_SECRET.sub(rf"\g<name>{MASK}", text)
        return _URL_USERINFO.sub(_mask_userinfo, text)


def _mask_userinfo(match: re.Match[str]) -> str:
    user = match.group("user")
    has_password = match.group(0).count(":") > 1
    # https://user:pass@host -> https://user:****@host; https://TOKEN@host -> https://****@host
    return f"{match.group('scheme')}{user}:{MASK}@" if has_password and user else f"{match.group('scheme')}{MASK}@"


def redact(text: str, env: Mapping[str, str] | None = None) -> str:
    """``text`` with secrets from ``env`` (default: this process's environment) masked."""
    return Redactor.from_environment(env)(text)


def redacted(report: Report, redact: Callable[[str], str]) -> Report:
    """A copy of ``report`` with every string passed through ``redact``."""

    def one(f: Finding) -> Finding:
        return dataclasses.replace(
            f,
            title=redact(f.title),
            detail=redact(f.detail),
            evidence=tuple(redact(e) for e in f.evidence),
            fix=tuple(redact(x) for x in f.fix),
            advice=tuple(redact(x) for x in f.advice),
        )

    summary = dataclasses.replace(
        report.summary,
        python=redact(report.summary.python),
        paths=tuple(redact(p) for p in report.summary.paths),
    )
    skipped = tuple(dataclasses.replace(s, reason=redact(s.reason)) for s in report.skipped)
    train = _redact_strings(report.train, redact) if report.train is not None else None
    return dataclasses.replace(
        report,
        findings=tuple(one(f) for f in report.findings),
        summary=summary,
        skipped=skipped,
        train=train,
        probes=tuple(_redact_strings(p, redact) for p in report.probes),
    )


def _redact_strings(value: Any, redact: Callable[[str], str]) -> Any:
    """``value`` (JSON-shaped) with every string in it passed through ``redact`` (error messages name paths)."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {k: _redact_strings(v, redact) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_redact_strings(v, redact) for v in value]
    return value
