"""envdoctor.predict.dryrun without the package index: pip's report read, the future inventory, the choice of pip,
and what an unreachable index or a conflict becomes (the index is a closed port: pip fails at once)."""

from __future__ import annotations

import copy
import json
import os
import sys
import tempfile
import venv
from pathlib import Path
from typing import Any

import pytest

from envdoctor import runner
from envdoctor.cache import Cache
from envdoctor.checks.signals.base import Files
from envdoctor.diagnose import check_inventory
from envdoctor.inventory import Inventory
from envdoctor.predict import dryrun as resolve
from envdoctor.predict.dryrun import Resolution, ResolveError, dry_run, future_inventory, parse_report
from envdoctor.redact import Redactor
from envdoctor.report import Severity
from envdoctor.source.index import SourceIndex, fingerprint
from envdoctor.versions import canonical
from tests.fakes import Fake, make_site, make_venv, scan

DATA = Path(__file__).resolve().parents[2] / "data"
REPORT = DATA / "pip-report-requests-2.31.0.json"
"""A real report (trimmed: descriptions and classifiers dropped) of `pip install --dry-run --report` for
`requests==2.31.0 idna==3.6` into a venv holding only idna 3.4, by pip 23.2.1."""

UNREACHABLE = "http://127.0.0.1:9/simple"
SECRET = "s3cret-Passw0rd"


def report() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(REPORT.read_text(encoding="utf-8"))
    return data


def offline_env(index: str = UNREACHABLE, **extra: str) -> dict[str, str]:
    """Our environment without any pip configuration, the index a closed port on this machine."""
    env = {
        k: v
        for k, v in runner.child_environment().items()
        if not k.startswith("PIP_") and k.lower() not in {"http_proxy", "https_proxy", "all_proxy"}
    }
    return {**env, "PIP_CONFIG_FILE": os.devnull, "PIP_INDEX_URL": index, **extra}


def without_pip(path: Path) -> str:
    python, _site = make_venv(path)
    return str(python)


# -- pip's report --------------------------------------------------------------------------------


def test_real_report_is_read() -> None:
    res = parse_report(report(), ("pip", "install"))
    assert res.pip_version == "23.2.1"
    assert [(r.name, r.version, r.requested) for r in res.installs] == [
        ("requests", "2.31.0", True),
        ("idna", "3.6", True),
        ("certifi", "2026.10.18", False),
        ("charset-normalizer", "3.5.2", False),
        ("urllib3", "2.8.0", False),
    ]
    req = res.get("Requests")
    assert req is not None and not req.is_direct
    assert req.requires_python == ">=3.7"
    assert "idna (<4,>=2.5)" in req.requires_dist
    assert req.url.endswith("/requests-2.31.0-py3-none-any.whl")
    idna = res.get("idna")
    assert idna is not None and idna.requires_dist == () and idna.requires_python == ">=3.5"
    assert res.command == ("pip", "install")


def test_report_urls_are_redacted() -> None:
    data = report()
    entry = copy.deepcopy(data["install"][0])
    entry["download_info"] = {"url": f"https://builder:{SECRET}@pypi.corp.example/pkgs/inhouse-1.0-py3-none-any.whl"}
    entry["is_direct"] = True
    entry["metadata"] = {"name": "inhouse", "version": "1.0"}
    data["install"].append(entry)
    res = parse_report(data)
    inhouse = res.get("inhouse")
    assert inhouse is not None and inhouse.is_direct
    assert SECRET not in inhouse.url and inhouse.url.startswith("https://builder:****@pypi.corp.example/")
    assert inhouse.requires_dist == () and inhouse.requires_python is None


@pytest.mark.parametrize("data", [[], {"install": None}, {"version": "2", "install": []}, {"install": [{"x": 1}]}])
def test_malformed_report_is_a_resolve_error(data: Any) -> None:
    with pytest.raises(ResolveError):
        parse_report(data)


# -- the future inventory ---------------------------------------------------------------------------


def _inventory(tmp_path: Path) -> Inventory:
    site = make_site(
        tmp_path / "site",
        {
            "idna": Fake("3.4", files={"idna/__init__.py": "def encode(s):\n    return s\n"}),
            "six": Fake("1.16.0", files={"six.py": "PY3 = True\n"}),
        },
    )
    return scan(site)


def test_future_inventory_replaces_and_adds_planned_dists(tmp_path: Path) -> None:
    inv = _inventory(tmp_path)
    future = future_inventory(inv, parse_report(report()))
    assert inv.get("idna").raw_version == "3.4"  # type: ignore[union-attr]  # the original is untouched
    idna, requests, six = future.get("idna"), future.get("requests"), future.get("six")
    assert idna is not None and requests is not None and six is not None
    assert (idna.raw_version, idna.planned, idna.path) == ("3.6", True, "")
    assert idna.location == inv.get("idna").location  # type: ignore[union-attr]
    assert str(idna.requires_python) == ">=3.5"
    assert (requests.raw_version, requests.planned) == ("2.31.0", True)
    assert {r.name for r in requests.requires} >= {"idna", "urllib3", "certifi", "charset-normalizer"}
    assert str(requests.requires_python) == ">=3.7"
    assert requests.location == six.location  # a new project goes where the others are
    assert six is inv.get("six") and not six.planned
    assert [d.name for d in future.dists][:2] == [d.name for d in inv.dists]  # replaced in place
    assert sorted(d.name for d in future.dists) == [
        "certifi",
        "charset-normalizer",
        "idna",
        "requests",
        "six",
        "urllib3",
    ]
    assert "to be installed" in requests.metadata_path
    assert future_inventory(inv, Resolution((), "23.2.1", ())) is inv


def test_future_inventory_replaces_the_copy_python_uses(tmp_path: Path) -> None:
    first = make_site(tmp_path / "first", {"idna": Fake("3.4")})
    second = make_site(tmp_path / "second", {"idna": Fake("3.3")})
    inv = scan(first, second)
    future = future_inventory(inv, parse_report(report()))
    copies = future.copies[canonical("idna")]
    assert [(d.raw_version, d.planned) for d in copies] == [("3.6", True), ("3.3", False)]


def test_planned_dists_yield_no_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A planned dist is read as having no files, even where a relative path would find some (the current
    folder), and the replaced copy's files are not read as its files."""
    inv = _inventory(tmp_path)
    future = future_inventory(inv, parse_report(report()))
    idna = future.get("idna")
    assert idna is not None and idna.planned
    here = tmp_path / "cwd"
    (here / "idna").mkdir(parents=True)
    (here / "idna" / "__init__.py").write_text("x = 1\n")
    (here / "RECORD").write_text("idna/__init__.py,,\n")
    monkeypatch.chdir(here)
    files = Files(Cache(None))
    assert files.listed(idna) == []
    assert files.read(idna, "idna/__init__.py") is None
    assert files.read(idna, os.path.join(inv.get("idna").location, "idna/__init__.py")) is None  # type: ignore[union-attr]
    assert files.remembered("x", idna, lambda: {"n": len(files.listed(idna))}, {"n": int}) == {"n": 0}
    index = SourceIndex(future)
    assert "idna" not in index.files and "requests" not in index.files and "six" in index.files
    assert {d.name for d in index.planned} == {"idna", "requests", "certifi", "charset-normalizer", "urllib3"}
    assert index.uncovered == []
    assert index.locate("idna") is None and index.locate("six") is not None
    assert fingerprint(future) != fingerprint(inv)
    report_ = check_inventory(future, cache=Cache(None))  # every check runs on a what-if inventory
    assert [f for f in report_.findings if f.severity is Severity.ERROR] == []


# -- which pip, and what its failures become -------------------------------------------------------


def test_offline_index_is_detected_through_envdoctors_pip(tmp_path: Path) -> None:
    """The target has no pip: envdoctor's pip runs with --python; the closed port is offline=True."""
    target = without_pip(tmp_path / "venv")
    with pytest.raises(ResolveError) as info:
        dry_run(target, ["six==1.16.0"], environ=offline_env(), timeout=120)
    err = info.value
    assert err.offline, err.message
    assert "cannot be reached" in err.message and "Connection refused" in err.message
    assert "\n" not in err.message and "Traceback" not in err.message
    assert err.command[:5] == (sys.executable, "-m", "pip", "--python", target)
    assert "--dry-run" in err.command and "--report" in err.command
    assert any("Failed to establish a new connection" in d for d in err.details)


def test_credentials_never_show(tmp_path: Path) -> None:
    target = without_pip(tmp_path / "venv")
    env = offline_env(f"http://deploy:{SECRET}@127.0.0.1:9/simple", MY_INDEX_TOKEN="tok-" + SECRET)
    args = ["six==1.16.0", "--extra-index-url", f"https://__token__:{SECRET}@127.0.0.1:9/extra/simple"]
    with pytest.raises(ResolveError) as info:
        dry_run(target, args, environ=env, timeout=120)
    err = info.value
    assert err.offline
    shown = "\n".join([str(err), err.message, err.output, *err.details, *err.command])
    assert SECRET not in shown
    assert "https://__token__:****@127.0.0.1:9/extra/simple" in err.command


def test_the_targets_own_pip_is_used(tmp_path: Path) -> None:
    """A venv that sees a pip (here the base interpreter's, through system site-packages) runs its own."""
    venv.EnvBuilder(with_pip=False, system_site_packages=True, symlinks=True).create(tmp_path / "venv")
    target = str(tmp_path / "venv" / "bin" / "python")
    version = runner.run_command([target, "-m", "pip", "--version"], timeout=60)
    if version.outcome is not runner.Outcome.OK:
        pytest.skip("the base interpreter has no pip")
    with pytest.raises(ResolveError) as info:
        dry_run(target, ["six==1.16.0"], environ=offline_env(), timeout=120)
    assert info.value.offline
    assert info.value.command[:4] == (target, "-m", "pip", "install")


FAKE_OLD_PIP = """import sys
if "--version" in sys.argv:
    print("pip 21.3.1 from /nowhere/pip (python 3.11)")
else:
    sys.exit("ERROR: no such option: --dry-run")
"""


def old_pip_venv(path: Path) -> str:
    python, site = make_venv(path)
    (site / "pip").mkdir()
    (site / "pip" / "__init__.py").write_text("")
    (site / "pip" / "__main__.py").write_text(FAKE_OLD_PIP)
    return str(python)


def test_a_too_old_target_pip_falls_back_to_envdoctors(tmp_path: Path) -> None:
    target = old_pip_venv(tmp_path / "old")
    with pytest.raises(ResolveError) as info:
        dry_run(target, ["six==1.16.0"], environ=offline_env(), timeout=120)
    assert info.value.offline
    assert info.value.command[:5] == (sys.executable, "-m", "pip", "--python", target)


def test_no_usable_pip_anywhere_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = without_pip(tmp_path / "bare")
    monkeypatch.setattr(sys, "executable", old_pip_venv(tmp_path / "old"))
    with pytest.raises(ResolveError) as info:
        dry_run(target, ["six"], environ=offline_env())
    assert not info.value.offline
    assert "it has no pip" in info.value.message and "21.3.1, older than 22.3" in info.value.message
    monkeypatch.setattr(sys, "executable", without_pip(tmp_path / "bare2"))
    with pytest.raises(ResolveError, match="has no pip either"):
        dry_run(target, ["six"], environ=offline_env())
    monkeypatch.setattr(sys, "executable", target)
    with pytest.raises(ResolveError, match=r"it has no pip$"):
        dry_run(target, ["six"], environ=offline_env())


def test_the_temporary_folder_is_removed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = without_pip(tmp_path / "venv")
    temp = tmp_path / "temp"
    temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    with pytest.raises(ResolveError):
        dry_run(target, ["six==1.16.0"], environ=offline_env(), timeout=120)
    assert [p.name for p in temp.iterdir() if p.name.startswith("envdoctor-resolve-")] == []


# Real output of pip 23.2.1 (`pip install --dry-run -q --log FILE --report FILE ...`), verbatim.
CONFLICT_STDERR = """\
ERROR: Cannot install requests==2.31.0 and urllib3<1.21 because these package versions have conflicting dependencies.
ERROR: ResolutionImpossible: for help visit https://pip.pypa.io/en/latest/topics/dependency-resolution/#dealing-with-dependency-conflicts
"""
CONFLICT_LOG = [
    "The conflict is caused by:",
    "    The user requested urllib3<1.21",
    "    requests 2.31.0 depends on urllib3<3 and >=1.21.1",
    "",
]
NOT_FOUND_STDERR = """\
ERROR: Could not find a version that satisfies the requirement envdoctor-no-such-project-xyz (from versions: none)
ERROR: No matching distribution found for envdoctor-no-such-project-xyz
"""
NOT_FOUND_LOG = [  # pip's log for a project the index does not have: ResolutionImpossible, a 404, no conflict
    "Could not fetch URL https://pypi.org/simple/envdoctor-no-such-project-xyz/: 404 Client Error: Not Found for url: "
    "https://pypi.org/simple/envdoctor-no-such-project-xyz/ - skipping",
    "pip._vendor.resolvelib.resolvers.ResolutionImpossible: [RequirementInformation(requirement="
    "SpecifierRequirement('envdoctor-no-such-project-xyz'), parent=None)]",
]


def _failed(stderr: str) -> runner.CommandResult:
    return runner.CommandResult(runner.Outcome.FAILED, 1, "", stderr, 1.0)


def test_a_conflict_keeps_pips_reasons() -> None:
    err = resolve._failure(_failed(CONFLICT_STDERR), CONFLICT_LOG, Redactor([]), ("pip",), 300)
    assert not err.offline
    assert err.message == (
        "Cannot install requests==2.31.0 and urllib3<1.21: conflicting dependencies (the user requested "
        "urllib3<1.21; requests 2.31.0 depends on urllib3<3 and >=1.21.1)"
    )
    assert err.details == ("The user requested urllib3<1.21", "requests 2.31.0 depends on urllib3<3 and >=1.21.1")


def test_a_missing_project_is_neither_offline_nor_a_conflict() -> None:
    err = resolve._failure(_failed(NOT_FOUND_STDERR), NOT_FOUND_LOG, Redactor([]), ("pip",), 300)
    assert not err.offline
    assert err.message.startswith("pip: No matching distribution found for envdoctor-no-such-project-xyz")
    assert "conflict" not in err.message


def test_a_timeout_is_one_line() -> None:
    result = runner.CommandResult(runner.Outcome.TIMEOUT, None, "", "Collecting six\n", 5.0)
    err = resolve._failure(result, [], Redactor([]), ("pip",), 5)
    assert err.message == "pip did not finish within 5 s and was stopped" and not err.offline
