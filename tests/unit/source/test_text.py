"""The text pass over Python source (envdoctor.source.text): imports, ``__all__`` and top-level names found
without a parser, and the limits it admits (callers confirm with the syntax pass)."""

from __future__ import annotations

from envdoctor.source import text
from envdoctor.source.text import ImportLine, column0_imports, defined_at_top, literal_all, scan_imports

SOURCE = b"""\
import os, json as j
from accelerate.utils.memory import clear_device_cache, release_memory as rm
from transformers import (
    Trainer,
    TrainingArguments,
)
from . import sibling

def f():
    import peft
    from numpy import float_  # comment
"""


def test_scan_imports_finds_absolute_imports_with_their_lines_and_names() -> None:
    found = scan_imports(SOURCE)
    assert ImportLine("accelerate.utils.memory", ("clear_device_cache", "release_memory"), 2, False) in found
    assert ImportLine("transformers", ("Trainer", "TrainingArguments"), 3, False) in found  # across lines
    assert ImportLine("peft", (), 10, True) in found  # in a function: indented
    assert ImportLine("numpy", ("float_",), 11, True) in found
    assert {i.module for i in found} >= {"os", "json"}
    assert all(i.module for i in found) and not any(i.module.startswith(".") for i in found)  # relative: not here


def test_scan_imports_wanted_and_skip_filter_by_top_level_name() -> None:
    assert {i.module for i in scan_imports(SOURCE, frozenset({b"peft", b"numpy"}))} == {"peft", "numpy"}
    skipped = {i.module for i in scan_imports(SOURCE, skip=frozenset({b"os", b"json", b"transformers"}))}
    assert "os" not in skipped and "transformers" not in skipped and "peft" in skipped


def test_literal_all_reads_a_plain_list_and_gives_up_on_anything_else() -> None:
    assert literal_all(b'__all__ = ["a", "b"]\n') == ("a", "b")
    assert literal_all(b"__all__ = names()\n") is None
    assert literal_all(b"x = 1\n") is None


def test_defined_at_top_sees_column_zero_bindings_only() -> None:
    source = b"def foo():\n    bar = 1\nclass Baz:\n    pass\nqux: int = 3\nfrom m import quux\n"
    assert defined_at_top(source, "foo") and defined_at_top(source, "Baz") and defined_at_top(source, "qux")
    assert defined_at_top(source, "quux")
    assert not defined_at_top(source, "bar")  # bound inside a function: "not by this shortcut"


def test_column0_imports_are_the_ones_that_run_on_import() -> None:
    found = column0_imports(SOURCE)
    assert (0, "os", ()) in found and (0, "json", ()) in found
    assert (0, "transformers", ("Trainer", "TrainingArguments")) in found
    assert (1, "", ("sibling",)) in found  # `from . import sibling`: level 1
    assert all(module != "peft" for _level, module, _names in found)  # indented: runs only when f() is called


def test_column0_imports_finds_what_the_multiline_pattern_finds() -> None:
    """The faster search (only the starts of lines) gives the same statements as the plain ``^`` pattern, also
    for a first line, a parenthesised import whose lines begin with ``from``, CRLF files and near misses."""
    from envdoctor.source.text import _COLUMN0

    sources = [
        SOURCE,
        b"from a import b",
        b"import x\r\nimport y\r\nfromage = 1\nimporter()\n",
        b"from m import (\nfrom_a,\nimport_b)\nfrom n import c\n",
        b"x = 1\nfrom\nimport\nfrom . import (\n",
        b"",
    ]
    for source in sources:
        expected = [m.span() for m in _COLUMN0.finditer(source)]
        assert [m.span() for m in text._column0_matches(source)] == expected, source
