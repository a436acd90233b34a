"""The text shortcuts (defined_at_top, literal_all, built_all) against parse_module on tricky sources: where a
shortcut answers, it gives what the parse gives; where it cannot tell, it says so (False / None)."""

from __future__ import annotations

import pytest

from envdoctor.source.syntax import parse_module
from envdoctor.source.text import built_all, defined_at_top, literal_all

SOURCES = {
    "docstring": b'"""Usage:\n\ndef hidden(x):\n    pass\nclass Ghost:\nfrom a import (\n    phantom,\n)\n"""\ndef shown(): pass\n',
    "strings": b"x = '''\nfake = 1\n'''\ny = \"\"\"\nimport fakemod\n\"\"\"\nreal = 2\n",
    "brackets": b"setup(\nname='x',\nversion=1,\n)\nd = {\nkey: 1,\n}\nf = lambda\\\n: 0\nplain = 3\n",
    "type_checking": b"from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from x import Hinted\n    Alias = int\n",
    "try_import": b"try:\n    import fast as impl\n    from c import (\n        speedy,\n    )\nexcept ImportError:\n    impl = None\n    def slow():\n        inner = 1\n",
    "nested_def": b"if X:\n    def f():\n        deep = 1\n    shallow = 2\nelse:\n    class Other:\n        attr = 3\n",
    "deleted": b"gone = 1\ndel gone\n",
    "paren_import": b"from a import (\n    one,\n    two as alias,  # a comment\n    three,\n)\nfrom b import (four, five as six)\n",
    "string_in_def": b'def f():\n    s = """\nif x:\n    """\n    trap = 1\n',
    "kwargs_indented": b"if X:\n    call(\n    kw=1,\n    )\n    ok = 2\n",
    "ellipsis": b"class P:\n    def m(self):\n        ...\n\n\nAfter = int\n",
    "escaped_quote": b's = """a \\""" still\nfake = 1\n"""\nreal = 1\n',
    "comment_quote": b'# a """ in a comment\nhidden_maybe = 1\n',
    "continued_string": b'x = "abc\\\ndef tricky(): pass"\nafter = 1\n',
    "slice": b"x = a[b if c else\nname:2]\n",
    "walrus": b"x = (\nname := 1)\n",
    "one_line_if": b"if x: bound = 1\n",
    "annotated": b"only_annotated: int\nvalued: int = 3\n",
    "dotted_as": b"import pkg.sub as short\ntry:\n    import other.mod as tl\nexcept ImportError:\n    pass\n",
    "targets": b"MO, TU, FR = days = make()\nDEFAULT = _DEFAULT = 1\nx = value\ncall(a,\nb, kw = 1)\nt = a, inner = 2\n",
    "keywords": b"if x:\n    pass\nelse:\n    pass\ntry:\n    pass\nfinally:\n    pass\n",
}
NAMES = [
    "hidden",
    "Ghost",
    "phantom",
    "shown",
    "fake",
    "fakemod",
    "real",
    "name",
    "version",
    "key",
    "plain",
    "Hinted",
    "Alias",
    "impl",
    "speedy",
    "slow",
    "inner",
    "f",
    "deep",
    "shallow",
    "Other",
    "attr",
    "gone",
    "one",
    "two",
    "alias",
    "three",
    "four",
    "five",
    "six",
    "trap",
    "kw",
    "ok",
    "After",
    "hidden_maybe",
    "tricky",
    "after",
    "bound",
    "MO",
    "TU",
    "FR",
    "days",
    "DEFAULT",
    "_DEFAULT",
    "value",
    "b",
    "inner",
    "pkg",
    "short",
    "other",
    "tl",
    "else",
    "try",
    "finally",
    "only_annotated",
    "valued",
    "x",
    "d",
    "s",
]


@pytest.mark.parametrize("key", sorted(SOURCES))
def test_defined_at_top_says_true_only_where_the_parse_binds_the_name(key: str) -> None:
    source = SOURCES[key]
    names = parse_module(source).names
    assert not [n for n in NAMES if defined_at_top(source, n) and n not in names]


def test_defined_at_top_answers_the_plain_cases_without_a_parse() -> None:
    assert defined_at_top(SOURCES["try_import"], "speedy") and defined_at_top(SOURCES["try_import"], "impl")
    assert defined_at_top(SOURCES["try_import"], "slow") and not defined_at_top(SOURCES["try_import"], "inner")
    assert defined_at_top(SOURCES["nested_def"], "shallow") and not defined_at_top(SOURCES["nested_def"], "deep")
    assert all(defined_at_top(SOURCES["paren_import"], n) for n in ("one", "alias", "three", "four", "six"))
    assert not defined_at_top(SOURCES["paren_import"], "two") and not defined_at_top(SOURCES["paren_import"], "five")
    assert defined_at_top(SOURCES["docstring"], "shown") and not defined_at_top(SOURCES["docstring"], "hidden")
    assert not defined_at_top(SOURCES["docstring"], "phantom") and not defined_at_top(SOURCES["strings"], "fake")
    assert defined_at_top(SOURCES["strings"], "real") and defined_at_top(SOURCES["ellipsis"], "After")
    assert defined_at_top(SOURCES["type_checking"], "Hinted") and not defined_at_top(SOURCES["brackets"], "key")
    assert all(defined_at_top(SOURCES["targets"], n) for n in ("MO", "TU", "FR", "DEFAULT", "_DEFAULT"))
    assert not defined_at_top(SOURCES["targets"], "value") and not defined_at_top(SOURCES["targets"], "kw")
    assert not defined_at_top(SOURCES["string_in_def"], "trap") and not defined_at_top(SOURCES["brackets"], "name")


ALL_SOURCES = {
    "plain": b'__all__ = ["a", "b"]\n',
    "after_star": b'from .base import *\n\n__all__ = ["a"]\n',
    "conditional": b'__all__ = [\n    "a",  # see [1]\n    "b",\n]\nif X:\n    __all__ += ["c"]\nelse:\n    __all__.extend(("d",))\n',
    "append_in_def": b'__all__ = ["a"]\n\ndef export(name):\n    globals()[name] = 1\n    __all__.append(name)\n',
    "loop": b'__all__ = ["a"]\nfor n in names:\n    __all__.append(n)\n',
    "append_literal": b'__all__ = ["a"]\n__all__.append("b")\n',
    "getattr": b'__all__ = ["a"]\n__all__ += ["b"]\ndef __getattr__(name):\n    return 1\n',
    "globals_module": b'__all__ = ["a"]\n__all__ += ["b"]\nglobals().update(x)\n',
    "docstring": b'"""\n__all__ = ["fake"]\n"""\n__all__ = ["a"]\nif X:\n    __all__ += ["b"]\n',
    "sorted": b'__all__ = ["a"]\n__all__ += ["b"]\n__all__ = sorted(__all__)\n',
    "plus_expr": b'__all__ = ["a"] + other\n',
    "deep": b'__all__ = ["a"]\nif X:\n    if Y:\n        __all__ += ["b"]\n',
    "add_first": b'if X:\n    __all__ += ["b"]\n__all__ = ["a"]\n',
    "sys_modules": b'import sys\n__all__ = ["a"]\n__all__ += ["b"]\nsys.modules[__name__] = M()\n',
    "bracket_kw": b'__all__ = ["a"]\nf(\n__all__=1)\n',
    "concat": b'__all__ = ["a" "b", "c"]\n',
    "del": b'__all__ = ["a"]\n__all__ += ["b"]\ndel __all__\n',
}


@pytest.mark.parametrize("key", sorted(ALL_SOURCES))
def test_all_shortcuts_give_what_the_parse_gives_or_nothing(key: str) -> None:
    source = ALL_SOURCES[key]
    info = parse_module(source)
    built = built_all(source)
    assert built is None or (built == info.all and not info.dynamic and not info.stub)
    listed = literal_all(source)
    assert listed is None or listed == info.all


def test_built_all_reads_additions_in_blocks_and_skips_def_bodies() -> None:
    assert built_all(ALL_SOURCES["conditional"]) == ("a", "b", "c", "d")
    assert built_all(ALL_SOURCES["append_in_def"]) == ("a",)  # torch.onnx's symbolic_opset9
    assert built_all(ALL_SOURCES["docstring"]) == ("a", "b")
    assert built_all(ALL_SOURCES["append_literal"]) == ("a", "b")
    assert built_all(ALL_SOURCES["getattr"]) is None and built_all(ALL_SOURCES["loop"]) is None
    assert literal_all(ALL_SOURCES["after_star"]) == ("a",)
    assert literal_all(ALL_SOURCES["conditional"]) is None  # more than one statement: built_all's case
