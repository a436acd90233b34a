"""Secrets never reach an output: token-like environment values and credentials in URLs.

Applied to every string envdoctor writes (reports in every format, error messages, progress). What the
command line writes is also made private (``Redactor.for_output``): the home directory becomes ``~``, a path
segment that is the user name ``<user>``, the host name ``<host>``; the API's reports keep paths usable.
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
    found = {v for k, v in env.items() if is_secret_name(k) and len(v.strip()) >= _MIN_SECRET}
    return tuple(sorted(found, key=len, reverse=True))


HOME, USER, HOST = "~", "<user>", "<host>"
PUNCTUATION_ESCAPES = str.maketrans(
    {c: "\\" + chr(c) for c in (*range(0x21, 0x30), *range(0x3A, 0x41), *range(0x5B, 0x61), *range(0x7B, 0x7F))}
)
"""Every ASCII punctuation character backslash-escaped, as Markdown output escapes it (envdoctor.render.markdown)."""


def _forms(value: str) -> set[str]:
    """``value`` as it appears raw, JSON-escaped and Markdown-escaped (envdoctor.render.markdown)."""
    return {value, json.dumps(value)[1:-1], value.translate(PUNCTUATION_ESCAPES)}


def is_secret_name(name: str) -> bool:
    """Whether an environment variable of this name holds a secret (HF_TOKEN, *_KEY, *PASSWORD*, ...)."""
    return bool(_SECRET_NAME.search(name))


class Redactor:
    """Masks the given secret values (raw, JSON- and Markdown-escaped) and the password part of URLs; with
    ``home``, ``user`` or ``host``, also the home directory (``~``), path segments that are the user name
    (``<user>``) and the host name as a word (``<host>``)."""

    def __init__(
        self, secrets: Iterable[str], *, home: str | None = None, user: str | None = None, host: str | None = None
    ) -> None:
        forms: set[str] = set()
        for value in secrets:
            forms |= _forms(value)
        self._forms = sorted(forms, key=len, reverse=True)
        self._private: list[tuple[tuple[str, ...], re.Pattern[str], str]] = []
        """(needles, pattern, replacement): the pattern runs only on a text that holds one of the needles."""
        if home and home.rstrip("/\\") and home.rstrip("/\\") != home[:1]:
            home = home.rstrip("/\\")
            # a shell-quoted path stays a command that runs: '/home/me/venv/bin/python' -> ~/'venv/bin/python'
            quoted = re.compile(rf"'{re.escape(home)}(?:/|'(?=[\s;|&)]|$))", re.M)
            self._private.append(((f"'{home}",), quoted, "QUOTED_HOME"))
            self._add(home, "(?:{})(?![\\w.-])", HOME)
        if user and len(user) >= 2:
            self._add(user, "(?<=[/\\\\])(?:{})(?![\\w.-])", USER)
        if host and len(host) >= 2 and host.lower() != "localhost":
            self._add(host, "(?<![\\w.-])(?:{})(?![\\w-])", HOST, re.IGNORECASE)

    def _add(self, value: str, template: str, replacement: str, flags: int = 0) -> None:
        forms = sorted(_forms(value), key=len, reverse=True)
        pattern = re.compile(template.format("|".join(re.escape(f) for f in forms)), flags)
        needles = tuple(f.lower() for f in forms) if flags & re.IGNORECASE else tuple(forms)
        self._private.append((needles, pattern, replacement))

    @classmethod
    def from_environment(cls, env: Mapping[str, str] | None = None) -> Redactor:
        return cls(secret_values(env))

    @classmethod
    def for_output(cls, env: Mapping[str, str] | None = None) -> Redactor:
        """Secrets, and the home directory, the user name and the host name of this process (HOME or the
        password database; LOGNAME, USER, LNAME, USERNAME as getpass reads them, else the password database;
        the node name)."""
        env = os.environ if env is None else env
        user = next((env[k] for k in ("LOGNAME", "USER", "LNAME", "USERNAME") if env.get(k)), None)
        if user is None:
            try:
                import pwd

                user = pwd.getpwuid(os.getuid()).pw_name
            except (ImportError, KeyError, AttributeError):  # no name for this uid (a container's arbitrary user)
                user = None
        home = env.get("HOME") or os.path.expanduser("~")
        host = os.uname().nodename if hasattr(os, "uname") else None
        return cls(secret_values(env), home=home, user=user, host=host)

    def __call__(self, text: str) -> str:
        for form in self._forms:
            if form in text:
                text = text.replace(form, MASK)
        if "=" in text:
            text = _URL_QUERY_SECRET.sub(rf"\g<name>{MASK}", text)
        if "@" in text:
            text = _URL_USERINFO.sub(_mask_userinfo, text)
        lowered = text.lower() if self._private else ""
        for needles, pattern, replacement in self._private:
            if any(n in text or n in lowered for n in needles):
                text = pattern.sub(_quoted_home if replacement == "QUOTED_HOME" else replacement, text)
                lowered = text.lower()
        return text


def _quoted_home(match: re.Match[str]) -> str:
    return f"{HOME}/'" if match.group(0).endswith("/") else HOME


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
    train = redact_strings(report.train, redact) if report.train is not None else None
    return dataclasses.replace(
        report,
        findings=tuple(one(f) for f in report.findings),
        summary=summary,
        skipped=skipped,
        train=train,
        probes=tuple(redact_strings(p, redact) for p in report.probes),
        distributed=redact_strings(report.distributed, redact) if report.distributed is not None else None,
    )


def redact_strings(value: Any, redact: Callable[[str], str]) -> Any:
    """``value`` (JSON-shaped) with every string in it passed through ``redact`` (error messages name paths)."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {k: redact_strings(v, redact) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact_strings(v, redact) for v in value]
    return value
