"""The harvested facts: well-formed, sorted, citing real wheels, and holding the cases the checks rely on."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from envdoctor.facts import Facts, containing, first_after
from envdoctor.versions import parse_version

FACTS = Path(__file__).resolve().parents[2] / "matrix" / "facts"
SHA256 = re.compile(r"^[0-9a-f]{64}$")


def files(kind: str) -> list[Path]:
    return sorted((FACTS / kind).glob("*.json"))


@pytest.mark.parametrize("path", files("releases"), ids=lambda p: p.stem)
def test_every_release_cites_a_wheel_and_its_sha256(path: Path) -> None:
    data = json.loads(path.read_text())
    assert data["package"] == path.stem
    versions = [r["version"] for r in data["releases"]]
    assert versions == sorted(versions, key=parse_version)
    for r in data["releases"]:
        assert r["wheel"].endswith(".whl") and SHA256.match(r["sha256"]), r
    assert (
        path.read_text() == json.dumps(data, indent=1, sort_keys=True, ensure_ascii=False) + "\n"
    )  # as harvest.py writes


@pytest.mark.parametrize("path", files("symbols") + files("imports"), ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_every_range_names_harvested_releases(path: Path) -> None:
    data = json.loads(path.read_text())
    released = {r["version"] for r in json.loads((FACTS / "releases" / path.name).read_text())["releases"]}
    assert set(data["versions"]) == released
    table = data["modules"] if "modules" in data else data["imports"]
    for entry in table.values():
        names = entry.get("names", entry) if isinstance(entry, dict) else {}
        for ranges in names.values():
            for first, last in ranges:
                assert first in released and last in released


def test_the_headline_facts_are_there() -> None:
    facts = Facts(FACTS)
    defined = facts.defined("accelerate", "accelerate.utils.memory", "clear_device_cache")
    assert defined is not None
    assert containing(defined, parse_version("0.31.0")) is None
    assert first_after(defined, parse_version("0.31.0"))[0] == "0.32.0"  # type: ignore[index]
    imported = facts.imported("peft", "accelerate.utils.memory", "clear_device_cache")
    assert imported is not None
    assert containing(imported, parse_version("0.15.0"))[0] == "0.15.0"  # type: ignore[index]
    assert containing(imported, parse_version("0.14.0")) is None
    assert facts.release("accelerate", "0.32.0")["wheel"] == "accelerate-0.32.0-py3-none-any.whl"  # type: ignore[index]


def _in(ranges: list[list[str]], version: str) -> bool:
    return containing([(a, b) for a, b in ranges], parse_version(version)) is not None


def test_user_facing_facts_for_the_user_code_scan() -> None:
    """Which transformers releases have what, for user code (shared/FACTS.md, re-derived by harvest.py)."""
    symbols = json.loads((FACTS / "symbols" / "transformers.json").read_text())["modules"]["transformers.file_utils"]
    cache = symbols["names"]["TRANSFORMERS_CACHE"]
    assert _in(cache, "4.57.6") and not _in(cache, "5.0.0")
    assert _in(symbols["names"]["get_file_from_repo"], "4.45.2") and not _in(
        symbols["names"]["get_file_from_repo"], "4.57.6"
    )
    assert "transformers.file_utils" not in {r[0] for r in symbols.get("absent", [])}  # the module itself stays
    trainer = json.loads((FACTS / "signatures" / "transformers.json").read_text())["callables"][
        "transformers.Trainer.__init__"
    ]
    # 4.46.0 introduced processing_class but was yanked, so the first harvested release is 4.46.1
    assert _in(trainer["params"]["processing_class"], "4.46.1") and not _in(
        trainer["params"]["processing_class"], "4.45.2"
    )
    assert _in(trainer["params"]["tokenizer"], "4.45.2") and not _in(trainer["params"]["tokenizer"], "4.46.1")
    renamed = trainer["renamed"]["tokenizer"]["processing_class"]
    assert _in(renamed, "4.46.1") and _in(renamed, "4.57.6") and not _in(renamed, "5.0.0")
    assert not _in(trainer["var_keyword"], "5.0.0")  # from 5.0, tokenizer= is a TypeError
