"""envdoctor.predict.dryrun against the real package index: pip's resolver answers, nothing is installed."""

from __future__ import annotations

import venv
from pathlib import Path

import pytest

from envdoctor import runner
from envdoctor.cache import Cache
from envdoctor.diagnose import check_inventory
from envdoctor.inventory import Inventory
from envdoctor.predict.dryrun import ResolveError, dry_run, future_inventory
from envdoctor.report import Severity
from envdoctor.target import Target
from envdoctor.versions import canonical
from tests import beds

pytestmark = pytest.mark.online


def listing(root: Path) -> list[tuple[str, int, int]]:
    """Every file and folder under ``root``, with size and mtime: any install or uninstall changes it."""
    out = []
    for path in sorted(root.rglob("*")):
        st = path.lstat()
        out.append((str(path.relative_to(root)), st.st_size, st.st_mtime_ns))
    return out


@pytest.mark.venv
def test_dry_run_in_a_real_bed_changes_nothing(small_clean: beds.Bed, tmp_path: Path) -> None:
    """small-clean holds requests 2.34.2 and its dependencies: asking for requests 2.31.0 and idna 3.6 moves
    exactly those two (the installed urllib3, certifi, charset-normalizer satisfy requests 2.31.0)."""
    bed = beds.copy(small_clean, tmp_path / "bed")  # a private copy: a failure here cannot damage the shared bed
    before = listing(bed.root)
    res = dry_run(str(bed.python), ["requests==2.31.0", "idna==3.6"], timeout=600)
    assert listing(bed.root) == before  # nothing installed, nothing removed, no bytecode written
    assert sorted((r.name, r.version, r.requested) for r in res.installs) == [
        ("idna", "3.6", True),
        ("requests", "2.31.0", True),
    ]
    requests = res.get("requests")
    assert requests is not None and not requests.is_direct and requests.url.endswith("requests-2.31.0-py3-none-any.whl")
    assert any(r.startswith("urllib3") for r in requests.requires_dist)
    assert res.command[:5] == (res.command[0], "-m", "pip", "--python", str(bed.python))  # beds have no pip

    inv = Inventory.from_payload(Target.resolve(str(bed.python)).probe("inventory", {}, timeout=120))
    future = future_inventory(inv, res)
    versions = {d.name: (d.raw_version, d.planned) for d in future.dists}
    assert versions[canonical("requests")] == ("2.31.0", True) and versions[canonical("idna")] == ("3.6", True)
    assert versions[canonical("urllib3")] == (inv.get("urllib3").raw_version, False)  # type: ignore[union-attr]
    report = check_inventory(future, cache=Cache(None))
    assert [f.id for f in report.findings if f.severity is Severity.ERROR] == []


def test_a_venv_with_pip_runs_its_own(tmp_path: Path) -> None:
    venv.EnvBuilder(with_pip=True, symlinks=True).create(tmp_path / "venv")
    python = str(tmp_path / "venv" / "bin" / "python")
    before = listing(tmp_path / "venv")
    res = dry_run(python, ["six==1.16.0"], timeout=600)
    assert listing(tmp_path / "venv") == before
    assert res.command[:4] == (python, "-m", "pip", "install")
    assert [(r.name, r.version, r.requested) for r in res.installs] == [("six", "1.16.0", True)]
    assert res.installs[0].requires_python == ">=2.7, !=3.0.*, !=3.1.*, !=3.2.*"


def test_a_conflict_is_explained(tmp_path: Path) -> None:
    python = str(tmp_path / "venv" / "bin" / "python")
    venv.EnvBuilder(with_pip=False, symlinks=True).create(tmp_path / "venv")
    with pytest.raises(ResolveError) as info:
        dry_run(python, ["requests==2.31.0", "urllib3<1.21"], timeout=600)
    err = info.value
    assert not err.offline
    assert err.message.startswith("Cannot install requests==2.31.0 and urllib3<1.21: conflicting dependencies")
    assert "requests 2.31.0 depends on urllib3" in err.message
    assert any("The user requested urllib3<1.21" in d for d in err.details)
    assert runner.run_command([python, "-c", "import urllib3"], timeout=60).outcome is runner.Outcome.FAILED
