"""A Dist parses its Requires-Dist lines when asked: the lines a lone ``extra == "x"`` gates are parsed only for a
consumer of extra x, and every answer is the one parsing all lines gives (lines of every shape, the real lines
of the distributions installed here, and the metadata check on an environment with extras requested and not)."""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

import pytest

from envdoctor.checks.metadata import check_metadata
from envdoctor.inventory import _requirements, planned_dist
from envdoctor.versions import MarkerEnvironment, canonical
from tests.fakes import Fake, make_site, scan

TRICKY = [
    'pytest; extra == "test"',
    "numpy>=1.24.6 ; extra == 'numpy'",
    'accelerate[torch,Deep_Speed]>=0.21.0,<2; extra == "Torch_Stuff"',
    'a.b-c_d==1.0.*; extra=="x"',
    'tiny~=1.4rc1.post2.dev3;extra == "x.y"',
    'pinned===1.0; extra == "x"',  # arbitrary equality: parsed to find out
    'loose (>=1.0); extra == "x"',
    'local==1.0+cpu; extra == "x"',
    'short~=1; extra == "x"',  # invalid: ~= needs two release numbers
    'star>=1.0.*; extra == "x"',  # invalid: a wildcard only with == and !=
    'bad name; extra == "x"',  # invalid
    'ok>=1.0a; extra == "x"',  # valid, though not the simple form
    '"x" == extra',  # invalid: no name
    'rev; "x" == extra',
    'both; extra == "x" and python_version >= "3"',
    'other-os; sys_platform == "win32" and extra == "x"',
    'py; python_version < "3"',
    "plain",
    'url @ https://example.com/url-1.0.whl ; extra == "x"',
    'dup>=2; extra == "x"',
    'dup<1; extra == "y"',
    "dup",
    'empty; extra == ""',
    'torch; extra == "x" ',
    "@@@",
]
EXTRAS = ["x", "y", "test", "numpy", "torch-stuff", "x-y", "nothing"]


def _installed_lines() -> list[str]:
    return [line for d in importlib.metadata.distributions() for line in d.requires or ()]


@pytest.mark.parametrize("lines", [TRICKY, _installed_lines()], ids=["tricky", "installed-here"])
def test_lazy_requirements_answer_as_parsing_every_line(lines: list[str]) -> None:
    env = MarkerEnvironment({"python_version": "3.11", "sys_platform": "linux", "os_name": "posix"})
    dist = planned_dist("d", "1.0", lines, None)
    good, bad = _requirements(lines)  # every line parsed, as the inventory did
    assert dist.requires == good
    assert dist.invalid_requires == bad
    assert dist.declared_names == {canonical(r.name) for r in good}
    assert [r for r in dist.base_requires if env.holds(r.marker)] == [r for r in good if env.holds(r.marker)]
    extras = {*EXTRAS, *(canonical(e) for r in good for e in r.extras)}
    for extra in sorted(extras):
        only = [r for r in good if r.marker is not None and env.holds(r.marker, extra) and not env.holds(r.marker)]
        assert [r for r in dist.requires_with(canonical(extra)) if r in only] == only


def test_a_gated_line_is_left_unparsed_until_its_extra_is_asked_for() -> None:
    dist = planned_dist("d", "1.0", ["base>=1", 'gated-only-here>=1; extra == "x"'], None)
    assert [r.name for r in dist.base_requires] == ["base"]
    assert dist.invalid_requires == ()
    assert "requires" not in vars(dist)
    assert [r.name for r in dist.requires_with(canonical("X"))] == ["base", "gated-only-here"]
    assert [r.name for r in dist.requires_with(canonical("y"))] == ["base"]


def test_metadata_check_with_extras_requested_and_not(tmp_path: Path) -> None:
    site = make_site(
        tmp_path,
        {
            "app": Fake("1.0", ["lib[Fast_Path]>=1"]),
            "lib": Fake(
                "1.0",
                [
                    'speedy>=2; extra == "fast-path"',  # requested (spelt otherwise): a warning
                    "missing-gated; extra == 'fast_path'",  # requested: a warning
                    'slowpoke>=9; extra == "slow"',  # nobody asks for [slow]: nothing
                    'speedy<1; extra == "fast-path" and python_version < "3"',  # never holds here
                    "speedy[Extra2]; extra == 'fast-path'",  # pulls speedy's own extra
                ],
            ),
            "speedy": Fake("1.0", ['deep>=5; extra == "extra2"', 'never; extra == "extra3"']),
            "deep": Fake("1.0"),
        },
    )
    got = [(f.id, f.severity.name, f.packages) for f in check_metadata(scan(site))]
    assert got == [
        ("extra-requirement-conflict", "WARNING", ("lib", "speedy")),
        ("extra-requirement-missing", "WARNING", ("lib", "missing-gated")),
        ("extra-requirement-conflict", "WARNING", ("speedy", "deep")),
    ]
