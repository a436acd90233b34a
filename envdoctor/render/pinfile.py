"""The pin file: a PinSet (envdoctor.fix.pinfile) written as a requirements file, a constraints file, or one
``pip install`` command. What pin prints, what ``--apply`` installs and what pip's resolver is asked about are
this same text."""

from __future__ import annotations

import shlex
from collections.abc import Iterable
from typing import TYPE_CHECKING

from envdoctor.render import printable

if TYPE_CHECKING:
    from envdoctor.fix.pinfile import PinSet


def render(pins: PinSet, fmt: str, header: Iterable[str] = ()) -> str:
    """The pin set as a requirements file, a constraints file, or one ``pip install`` command."""
    if fmt == "pip":
        args = [*_split_options(pins.options), *pins.requirements()]
        return "pip install " + " ".join(shlex.quote(a) for a in args) + "\n" if args else "\n"
    # a name, URL or comment from the target never starts a line of its own (``--index-url`` in a
    # direct_url.json "url" after a line break): control characters and line breaks are escaped
    out = [f"# {printable(h)}" if h else "#" for h in header]
    out += [printable(o) for o in pins.options]
    for line in pins.lines:
        text = printable(line.text) if line.text is not None else None
        comment = printable(line.comment)
        if fmt == "constraints" and text is not None and " @ " in text:
            text, comment = None, f"{text}: {comment}; a direct URL is not allowed in a constraints file"
        if text is None:
            out.append(f"# {comment}")
        else:
            out.append(f"{text}  # {comment}" if comment else text)
    return "\n".join(out) + "\n"


def _split_options(options: Iterable[str]) -> list[str]:
    return [part for option in options for part in option.split(" ", 1)]
