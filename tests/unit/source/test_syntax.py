"""The syntax pass over Python source (envdoctor.source.syntax): what a module binds, the context each import
runs in, and the gates and default versions that decide whether it runs."""

from __future__ import annotations

import gc

import pytest

from envdoctor.source.syntax import (
    Context,
    Gate,
    Unparsable,
    collector_paused,
    import_sites,
    min_version_defaults,
    parse_module,
)


def test_parse_module_names_every_module_level_binding_in_any_branch() -> None:
    info = parse_module(b"import os\nif os.name:\n    A = 1\nelse:\n    def b(): pass\nclass C:\n    inner = 2\n")
    assert {"os", "A", "b", "C"} <= info.names
    assert "inner" not in info.names  # a class body is not module level
    assert info.dynamic == "" and not info.lazy


def test_parse_module_reports_what_cannot_be_known_statically() -> None:
    assert parse_module(b"def __getattr__(name):\n    return 1\n").dynamic  # a module __getattr__
    assert parse_module(b"globals().update(table)\n").dynamic == "updates globals()"
    assert parse_module(b"globals()['x'] = 1\n").names == {"x"}  # a literal key is a known name
    assert parse_module(b"def broken(:\n").dynamic.startswith("cannot be parsed")
    star = parse_module(b"from .impl import *\n__all__ = ['a']\n")
    assert star.stars == (("impl", 1),) and star.all == ("a",)


@pytest.mark.parametrize("deep", [b"-" * 200_000 + b"1", b"1+" * 200_000 + b"1"], ids=["MemoryError", "RecursionError"])
def test_too_deep_a_source_is_unparsable_not_a_crash(deep: bytes) -> None:
    with pytest.raises(Unparsable):
        parse_module(b"x = " + deep + b"\n")


def test_import_sites_carry_the_context_they_run_in() -> None:
    source = b"""\
from typing import TYPE_CHECKING
import a
try:
    import b
except ImportError:
    import c
if TYPE_CHECKING:
    import d
def f():
    import e
if is_peft_available("0.5.0"):
    import peft
"""
    sites = {s.module: s for s in import_sites(source) or []}
    assert sites["a"].context is Context.MODULE and not sites["a"].conditional
    assert sites["b"].context is Context.GUARDED
    assert sites["c"].context is Context.FALLBACK and sites["c"].conditional
    assert [p.module for p in sites["c"].primary] == ["b"]
    assert sites["d"].context is Context.TYPE_CHECKING
    assert sites["e"].context is Context.FUNCTION and sites["e"].function == "f"
    assert sites["peft"].available == (Gate("is_peft_available", "peft", "0.5.0"),) and sites["peft"].conditional
    assert import_sites(b"def broken(:\n") is None


def test_min_version_defaults_reads_the_default_a_check_function_uses() -> None:
    source = b"""\
ACCELERATE_MIN_VERSION = "0.26.0"
def is_accelerate_available(min_version: str = ACCELERATE_MIN_VERSION):
    return check(min_version)
def is_torch_available():
    return True
"""
    assert min_version_defaults(source) == {"is_accelerate_available": "0.26.0"}


def test_the_collector_is_paused_while_files_are_parsed_and_left_as_it_was_found() -> None:
    assert gc.isenabled()
    with collector_paused():
        assert not gc.isenabled()
    assert gc.isenabled()
    with pytest.raises(SyntaxError), collector_paused():
        raise SyntaxError("a file that does not parse")
    assert gc.isenabled()
    gc.disable()
    try:
        with collector_paused():
            pass
        assert not gc.isenabled()  # paused by someone else: still paused
    finally:
        gc.enable()
