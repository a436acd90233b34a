"""blocks.statement_source: the top-level statement (or the method of a top-level class) that holds an import line,
parsed alone, gives that import the very site (context, function, gates, fallback) the whole file's parse gives."""

from __future__ import annotations

import pytest

from envdoctor.source.blocks import statement_source
from envdoctor.source.syntax import Context, ImportSite, import_sites
from envdoctor.source.text import scan_imports

SOURCES = {
    "method_try": b'''"""Doc.

def not_code():
    import fake_in_docstring
"""
import os


class Model(Base):
    """A class."""

    attr = 1

    def forward(
        self,
        x: int,
    ) -> None:
        try:
            import fast_kernels
        except ImportError:
            import slow_kernels
        if is_torch_available("2.1"):
            from torch.nn import Module
        return x

    @property
    def name(self):
        from transformers import HybridCache
        return HybridCache
''',
    "top_level": b"""import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console
elif version_lt_2:
    from old import thing
else:
    from new import thing

try:
    import yaml
except ImportError:
    yaml = None
else:
    from yaml import Loader
finally:
    pass


def f():
    text = '''
import not_real
'''
    x = g(
1,
)
    import real_inside
""",
    "nested_class": b"""if X:
    class A:
        def m(self):
            import deep
""",
    "string_continued": b'''IMPL = """\\
from _mock import MockedObject
"""
''',
}


def _site(sites: list[ImportSite] | None, line: int, module: str) -> ImportSite | None:
    return next((s for s in sites or () if s.line == line and s.module == module), None)


@pytest.mark.parametrize("key", sorted(SOURCES))
def test_a_statement_parsed_alone_gives_each_import_the_site_the_whole_file_gives(key: str) -> None:
    source = SOURCES[key]
    full = import_sites(source)
    for imp in scan_imports(source):
        cut = statement_source(source, imp.line)
        alone = import_sites(cut[1]) if cut is not None else None
        if alone is not None:
            assert _site(alone, imp.line, imp.module) == _site(full, imp.line, imp.module), imp


def test_a_method_of_a_class_is_cut_alone_and_strings_are_left_to_the_whole_parse() -> None:
    source = SOURCES["method_try"]
    cut = statement_source(source, 19)  # `import fast_kernels`, in forward()
    assert cut is not None and b"HybridCache" not in cut[1] and b"attr = 1" not in cut[1]
    site = _site(import_sites(cut[1]), 19, "fast_kernels")
    assert site is not None and site.context is Context.GUARDED
    assert statement_source(SOURCES["string_continued"], 2) is None  # after a backslash: cannot tell
    top = SOURCES["top_level"]
    alone = statement_source(top, 5)  # under `if TYPE_CHECKING:`: the if statement alone
    assert alone is not None and b"yaml" not in alone[1]
