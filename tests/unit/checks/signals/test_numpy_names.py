"""The numpy 2 removed-names signal's text search (envdoctor.checks.signals.numpy_names)."""

from __future__ import annotations

import ast

from pytest import MonkeyPatch

from envdoctor.checks.signals import numpy_names
from envdoctor.source import syntax


def test_attribute_search_finds_what_the_boundary_pattern_finds() -> None:
    """The faster search (from each ``n``, the boundary checked after) gives _ATTR's matches, also where a
    rejected match overlaps a real one (``xnp.np.float_``)."""
    for source in (b"np.float_ x", b"xnp.np.float_", b"numpy.np.x", b"_np.a np.b\nnumpy.c", b"np.", b""):
        expected = [m.span() for m in numpy_names._ATTR.finditer(source)]
        assert [m.span() for m in numpy_names._attr_matches(source)] == expected, source


def test_alias_search_finds_what_the_line_pattern_finds() -> None:
    """The alias search from each line that holds ``import`` gives _ALIAS's matches: aliases, indented imports,
    comments, two ``import`` on one line, CRLF and a last line without a newline, lines that only look alike."""
    sources = (
        b"import numpy as np\nimport numpy\n  import numpy as xp  # c\n",
        b"x = 1; import numpy\nimport numpy.linalg\nimport numpyx\nfrom numpy import float_\n",
        b"import numpy as np, os\n\timport numpy\t\n# import numpy\nimport importlib  # import numpy\n",
        b"import numpy as np\r\nimport numpy\nimport numpy as n2",
        b"importimport numpy\n\nimport\nnumpy\nimport  numpy  as  np  #\n",
        b"",
    )
    for source in sources:
        expected = [m.span() for m in numpy_names._ALIAS.finditer(source)]
        assert [m.span() for m in numpy_names._alias_matches(source)] == expected, source


NAMES = frozenset({"float_", "NaN"})


def test_a_name_spelled_through_an_unbound_alias_is_no_use_and_costs_no_parse(monkeypatch: MonkeyPatch) -> None:
    """pandas 2's frame.py binds ``np`` and names ``numpy.NaN`` only in docstrings: no use, and no parse of
    its 700 kB; the same name through the bound alias is still found, and ``import numpy`` binds ``numpy``."""
    parsed: list[bytes] = []

    def parse(data: bytes) -> ast.Module:
        parsed.append(data)
        return syntax.parse(data)

    monkeypatch.setattr(numpy_names, "parse", parse)
    docstring = b'import numpy as np\n\ndef f():\n    """NA values, such as :attr:`numpy.NaN`."""\n    return np.nan\n'
    assert numpy_names.uses(docstring, NAMES) == []
    assert parsed == []
    used = docstring + b"X = np.NaN\n"
    assert numpy_names.uses(used, NAMES) == [(6, "NaN", True)]
    assert numpy_names.uses(b"import numpy\nY = numpy.float_\nZ = np.float_\n", NAMES) == [(2, "float_", True)]
    assert numpy_names.uses(b"from numpy import float_\n", NAMES) == [(1, "float_", True)]
