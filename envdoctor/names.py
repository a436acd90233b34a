"""PEP 503 project names, without importing packaging: the warm path (a stored report printed again) and the
configuration must not pay for packaging's import."""

from __future__ import annotations

import re

_SEPARATORS = re.compile(r"[-_.]+")


def canonical(name: str) -> str:
    """PEP 503's normalized name (``Foo.Bar_baz`` -> ``foo-bar-baz``), as packaging's canonicalize_name."""
    return _SEPARATORS.sub("-", name).lower()
