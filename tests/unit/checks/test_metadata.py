"""Every metadata rule on fabricated site-packages read by the real inventory probe."""

from __future__ import annotations

from pathlib import Path

from envdoctor.checks.metadata import check_metadata
from envdoctor.report import Finding, Severity
from tests.fakes import Fake, make_site, scan


def ids(findings: list[Finding]) -> list[tuple[str, str, tuple[str, ...]]]:
    return sorted((f.id, str(f.severity), f.packages) for f in findings)


def test_consistent_site_has_no_findings(tmp_path: Path) -> None:
    site = make_site(tmp_path, {"a": Fake("1.0", ["b>=2,<3", "c"]), "b": Fake("2.5"), "c": Fake("0.1")})
    assert check_metadata(scan(site)) == []


def test_missing_requirement_is_an_error(tmp_path: Path) -> None:
    site = make_site(tmp_path, {"a": Fake("1.0", ["b>=2"])})
    findings = check_metadata(scan(site))
    assert ids(findings) == [("requirement-missing", "error", ("a", "b"))]
    assert findings[0].fix == ("b>=2",)
    assert "Requires-Dist: b>=2" in findings[0].evidence[0]


def test_version_conflict_is_an_error_with_evidence(tmp_path: Path) -> None:
    site = make_site(
        tmp_path, {"transformers": Fake("4.46.0", ["tokenizers<0.21,>=0.20"]), "tokenizers": Fake("0.21.0")}
    )
    [f] = check_metadata(scan(site))
    assert (f.id, f.severity, f.packages) == ("requirement-conflict", Severity.ERROR, ("transformers", "tokenizers"))
    assert "tokenizers 0.21.0 is installed" in f.title
    assert f.fix[0] == "tokenizers<0.21,>=0.20"


def test_names_are_compared_canonically(tmp_path: Path) -> None:
    site = make_site(tmp_path, {"a": Fake("1.0", ["Typing_Extensions>=4"]), "typing-extensions": Fake("4.12.2")})
    assert check_metadata(scan(site)) == []


def test_local_version_tag_satisfies_plain_pin(tmp_path: Path) -> None:
    site = make_site(tmp_path, {"torchvision": Fake("0.28.0", ["torch==2.13.0"]), "torch": Fake("2.13.0+cpu")})
    assert check_metadata(scan(site)) == []


def test_prerelease_counts_as_installed(tmp_path: Path) -> None:
    site = make_site(tmp_path, {"a": Fake("1.0", ["b>=2.0"]), "b": Fake("2.1.0rc1")})
    assert check_metadata(scan(site)) == []


def test_markers_are_evaluated_for_the_target_not_for_envdoctor(tmp_path: Path) -> None:
    site = make_site(tmp_path, {"a": Fake("1.0", ['backport>=1; python_version < "3.9"'])})
    # This interpreter is 3.10+, so for envdoctor's own Python the requirement would not apply;
    # the target reports 3.8, where it does.
    assert check_metadata(scan(site)) == []
    target_38 = scan(site, markers={"python_version": "3.8", "python_full_version": "3.8.18"})
    assert ids(check_metadata(target_38)) == [("requirement-missing", "error", ("a", "backport"))]


def test_platform_marker_for_another_os_is_ignored(tmp_path: Path) -> None:
    site = make_site(tmp_path, {"a": Fake("1.0", ['pywin32>=300; sys_platform == "win32"'])})
    assert check_metadata(scan(site)) == []


def test_extra_only_requirements_are_not_required_by_default(tmp_path: Path) -> None:
    site = make_site(tmp_path, {"a": Fake("1.0", ['pytest; extra == "test"'])})
    assert check_metadata(scan(site)) == []


def test_requirements_pulled_by_an_extra_are_checked_as_warnings(tmp_path: Path) -> None:
    site = make_site(
        tmp_path,
        {
            "app": Fake("1.0", ["datasets[vision]>=2"]),
            "datasets": Fake("2.19.0", ['pillow>=9.4; extra == "vision"', 'torch; extra == "torch"']),
        },
    )
    findings = check_metadata(scan(site))
    assert ids(findings) == [("extra-requirement-missing", "warning", ("datasets", "pillow"))]
    assert "[vision]" in findings[0].title


def test_extra_requirement_conflict(tmp_path: Path) -> None:
    site = make_site(
        tmp_path,
        {
            "app": Fake("1.0", ["datasets[vision]"]),
            "datasets": Fake("2.19.0", ['pillow>=9.4; extra == "vision"']),
            "pillow": Fake("8.0.0"),
        },
    )
    assert ids(check_metadata(scan(site))) == [("extra-requirement-conflict", "warning", ("datasets", "pillow"))]


def test_requires_python_not_satisfied_is_a_warning(tmp_path: Path) -> None:
    site = make_site(tmp_path, {"new": Fake("3.0", requires_python=">=3.12")})
    findings = check_metadata(scan(site, python_version="3.11.7"))
    assert ids(findings) == [("requires-python-mismatch", "warning", ("new",))]


def test_corrupt_metadata_is_reported_not_raised(tmp_path: Path) -> None:
    site = make_site(
        tmp_path,
        {
            "garbage": Fake(metadata=b"\xff\xfe\x00binary\x00junk\n"),
            "noversion": Fake(metadata="Metadata-Version: 2.1\nName: noversion\n"),
            "ok": Fake("1.0"),
        },
    )
    findings = check_metadata(scan(site))
    corrupt = {f.packages[0] for f in findings if f.id == "metadata-corrupt"}
    assert corrupt == {"garbage", "noversion"}
    assert all(f.severity is Severity.WARNING for f in findings)


def test_missing_metadata_file(tmp_path: Path) -> None:
    site = make_site(tmp_path, {"gone": Fake("1.0", no_metadata=True)})
    findings = check_metadata(scan(site))
    assert ids(findings) == [("metadata-missing", "warning", ("gone",))]


def test_missing_record_is_a_note(tmp_path: Path) -> None:
    site = make_site(tmp_path, {"norecord": Fake("1.0", record=False)})
    findings = check_metadata(scan(site))
    assert ids(findings) == [("record-missing", "info", ("norecord",))]


def test_unparseable_version(tmp_path: Path) -> None:
    site = make_site(tmp_path, {"legacy": Fake("1.0-custom-build"), "user": Fake("1.0", ["legacy>=1"])})
    findings = check_metadata(scan(site))
    assert ids(findings) == [("version-invalid", "warning", ("legacy",))]


def test_unparseable_requirement_line(tmp_path: Path) -> None:
    site = make_site(tmp_path, {"a": Fake("1.0", ["b >= = 2", "c"]), "c": Fake("1.0")})
    findings = check_metadata(scan(site))
    assert ids(findings) == [("requirement-invalid", "warning", ("a",))]
    assert "b >= = 2" in findings[0].evidence[0]


def test_several_copies_name_the_winner(tmp_path: Path) -> None:
    first = make_site(tmp_path / "first", {"numpy": Fake("1.26.4")})
    second = make_site(tmp_path / "second", {"numpy": Fake("2.1.0"), "user": Fake("1.0", ["numpy>=2"])})
    inv = scan(first, second)
    findings = check_metadata(inv)
    assert ids(findings) == [
        ("distribution-duplicate", "warning", ("numpy",)),
        ("requirement-conflict", "error", ("user", "numpy")),  # the copy that wins is 1.26.4
    ]
    dup = next(f for f in findings if f.id == "distribution-duplicate")
    assert "1.26.4 wins" in dup.title
    assert any("(used)" in e and "first" in e for e in dup.evidence)


def test_wheel_for_another_python_is_an_error(tmp_path: Path) -> None:
    site = make_site(tmp_path, {"old": Fake("1.0", wheel_tags=["cp27-cp27mu-manylinux1_x86_64"]), "pure": Fake("1.0")})
    findings = check_metadata(scan(site))
    assert ids(findings) == [("wheel-unsupported", "error", ("old",))]


def test_compressed_tag_sets_are_expanded(tmp_path: Path) -> None:
    site = make_site(tmp_path, {"both": Fake("1.0", wheel_tags=["py2.py3-none-any"])})
    assert check_metadata(scan(site)) == []


def test_egg_info_requires_txt_is_read(tmp_path: Path) -> None:
    egg = tmp_path / "old_pkg-0.5.egg-info"
    egg.mkdir()
    (egg / "PKG-INFO").write_text("Metadata-Version: 1.1\nName: old-pkg\nVersion: 0.5\n")
    (egg / "requires.txt").write_text("six>=1.10\n\n[test]\npytest\n")
    findings = check_metadata(scan(tmp_path))
    assert ids(findings) == [("requirement-missing", "error", ("old-pkg", "six"))]


def test_requirements_after_a_license_with_blank_continuation_lines_are_read(tmp_path: Path) -> None:
    # pandas 2.2.3's METADATA (meson-python): the License field holds the whole license text, its empty
    # lines written as continuation lines of spaces; Requires-Dist comes after. pip reads them; so must we.
    metadata = (
        "Metadata-Version: 2.1\nName: pandas\nVersion: 2.2.3\nLicense: BSD 3-Clause License\n        \n"
        "        Copyright (c) 2008-2011\n        \nRequires-Dist: python-dateutil>=2.8.2\n\n# pandas\n"
    )
    site = make_site(tmp_path, {"pandas": Fake("2.2.3", metadata=metadata)})
    [f] = check_metadata(scan(site))
    assert (f.id, f.packages) == ("requirement-missing", ("pandas", "python-dateutil"))
