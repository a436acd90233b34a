"""Reading the importer's releases for a fix: the bisection and the words, on plain values."""

from __future__ import annotations

from pathlib import Path

import pytest

from envdoctor.knowledge.importers import Nearest, _first_without, describe
from envdoctor.versions import Version
from tests.fakes import Fake, make_site, scan


def _v(*texts: str) -> list[Version]:
    return [Version(t) for t in texts]


@pytest.mark.parametrize(
    ("importing", "expected"),
    [
        ({"0.12.0", "0.13.0", "0.14.0", "0.15.0"}, "0.16.0"),  # the run ends at 0.15.0
        ({"0.12.0"}, "0.13.0"),
        (set(), "0.12.0"),  # the very next release dropped it
        ({"0.12.0", "0.13.0", "0.14.0", "0.15.0", "0.16.0", "0.17.0"}, None),  # no release drops it
    ],
)
def test_bisection_finds_the_nearest_release_without_the_import(importing: set[str], expected: str | None) -> None:
    read: list[str] = []

    def imports(v: Version) -> bool:
        read.append(str(v))
        return str(v) in importing

    found = _first_without(_v("0.12.0", "0.13.0", "0.14.0", "0.15.0", "0.16.0", "0.17.0"), imports)
    assert (str(found) if found else None) == expected
    assert len(read) <= 3  # log2 of 6 candidates, not all of them


def test_a_release_without_a_readable_wheel_is_skipped() -> None:
    answers = {"1.1": None, "1.2": True, "1.3": False, "1.4": False}
    assert str(_first_without(_v("1.1", "1.2", "1.3", "1.4"), lambda v: answers[str(v)])) == "1.3"


def test_the_words_name_what_was_read_or_say_it_was_not_checked(tmp_path: Path) -> None:
    site = make_site(tmp_path / "site", {"diffusers": Fake("0.11.1")})
    dist = scan(site).get("diffusers")
    assert dist is not None
    text, lines, advice = describe(Nearest("0.0.3", "0.29.0", ("0.29.0", "0.28.2", "0.0.3")), dist, "cached_download")
    assert lines == ("diffusers==0.29.0", "diffusers==0.0.3") and advice == ()
    assert text == (
        "the nearest releases of diffusers that do not import cached_download are 0.29.0 (newer) and 0.0.3 (older)"
        " (read from 3 wheels of diffusers)"
    )
    text, lines, advice = describe(Nearest(None, "0.29.0", ("0.29.0",)), dist, "cached_download")
    assert lines == ("diffusers==0.29.0",) and "; no older release does" in text
    text, lines, advice = describe(Nearest(reason="the package index cannot be reached"), dist, "cached_download")
    assert lines == ()
    assert advice == (
        "or a release of diffusers that does not import cached_download (not checked: the package index cannot be reached)",
    )
