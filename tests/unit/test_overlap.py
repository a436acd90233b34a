"""The symbols check's undeclared part and the calls and matrix checks in a forked child beside the symbols check's
broken names (diagnose.overlapped): the same Report and the same cache entries as the checks one after the other,
whether the child runs them, dies, or raises; and no child is left after the run, an interrupted one included."""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path
from typing import Any, NoReturn

import pytest

from envdoctor import diagnose
from envdoctor.cache import Cache
from envdoctor.inventory import Inventory
from envdoctor.source import parallel
from tests.alone import in_a_single_threaded_process
from tests.fakes import Fake, make_site, scan
from tests.unit.checks.symbols.test_calls import ACCELERATOR

TRAINER = """
from accelerate import Accelerator
from accelerate import gone_in_this_release

class Trainer:
    def create_accelerator_and_postprocess(self):
        self.accelerator = Accelerator(dispatch_batches=None)

    def _wrap_model(self, model, training=True):
        if self.accelerator.unwrap_model(model, keep_torch_compile=False) is not model:
            return model
        return model
"""
UTILS = "import os\n\nfrom rich.console import Console\n\ndef print_table():\n    return Console()\n"
NUMPY_AT_IMPORT = "import numpy as np\n\ndef ok_floats():\n    return np.sctypes['float'][:]\n\nOK = ok_floats()\n"


def _site(root: Path, many: int) -> Path:
    """A symbols finding, calls findings (both read transformers' and accelerate's files), a matrix finding
    (numpy 2's removed names, found from the text pass's imports), an unreadable file, an undeclared dependency
    (trl 0.11's rich) in a file only that part parses, one too deep to parse (its own unread note), and
    ``many`` more files."""
    site = make_site(
        root,
        {
            "accelerate": Fake(
                "1.2.1",
                files={
                    "accelerate/__init__.py": "from .accelerator import Accelerator\n",
                    "accelerate/accelerator.py": ACCELERATOR,
                },
            ),
            "transformers": Fake(
                "4.52.4",
                ["accelerate>=0.26.0"],
                files={
                    "transformers/__init__.py": "from .trainer import Trainer\n",
                    "transformers/trainer.py": TRAINER,
                },
            ),
            "numpy": Fake("2.0.2", files={"numpy/__init__.py": ""}),
            "trl": Fake(
                "0.11.4",
                ["tyro>=0.5.11"],
                files={
                    "trl/__init__.py": "from .utils import print_table\nfrom . import extra\n",
                    "trl/utils.py": UTILS,
                    "trl/extra.py": "import rich\n\nx = " + "1+" * 5000 + "1\n",  # too deep: unread
                },
            ),
            "nib": Fake("5.1.0", ["numpy>=1.19"], files={"nib/__init__.py": "", "nib/casting.py": NUMPY_AT_IMPORT}),
            "filler": Fake(
                files={
                    "filler/folder.py": "",
                    **{
                        f"filler/m{i}.py": f"from transformers import Trainer\nimport nib  # {i}\n" for i in range(many)
                    },
                }
            ),
        },
    )
    (site / "filler" / "folder.py").unlink()
    (site / "filler" / "folder.py").mkdir()  # listed in RECORD, not a file: an unread note
    return site


def where(monkeypatch: pytest.MonkeyPatch, log: Path) -> None:
    """Each run of the matrix check and of the symbols check's undeclared part notes the process it ran in."""
    from envdoctor.checks.symbols import check

    for owner, name in ((diagnose, "_rules"), (check, "undeclared")):
        monkeypatch.setattr(owner, name, _noted(getattr(owner, name), log, name.strip("_")))


def _noted(function: Any, log: Path, label: str) -> Any:
    def noted(*args: Any) -> Any:
        with log.open("a") as fh:
            fh.write(f"{label} {os.getpid()}\n")
        return function(*args)

    return noted


def ran(log: Path, label: str) -> list[str]:
    """The processes (pids) that ran the part ``label`` (``where``), in order."""
    return [line.split()[1] for line in log.read_text().splitlines() if line.split()[0] == label]


Outcome = tuple[dict[str, Any], dict[str, bytes]]
"""A check's report (as JSON) and the cache entries it stored (file name -> bytes)."""


def run_checks(inv: Inventory | Path, cache: Path) -> Outcome:
    report = diagnose.check_inventory(scan(inv) if isinstance(inv, Path) else inv, cache=Cache(cache))
    return report.to_dict(), {p.name: p.read_bytes() for p in sorted(cache.rglob("*.json"))}


def run_in_order(inv: Inventory | Path, cache: Path, monkeypatch: pytest.MonkeyPatch) -> Outcome:
    with monkeypatch.context() as m:
        m.setattr(parallel, "fork_call", lambda fn: None)  # the checks one after the other, as before
        return run_checks(inv, cache)


def no_child_left() -> None:
    with pytest.raises(ChildProcessError):  # neither running nor a zombie
        os.waitpid(-1, os.WNOHANG)


@pytest.mark.parametrize("many", [600, 30])
@in_a_single_threaded_process
def test_the_child_gives_the_report_and_cache_of_the_checks_in_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, many: int
) -> None:
    """600 files: the text pass over the cores, then the fork. 30 (the size limit lowered): the text pass reads
    each distribution when first asked, in the child and here: the entries still hold the union of both."""
    if many < parallel.MIN_ITEMS:
        monkeypatch.setattr(parallel, "MIN_ITEMS", 0)
    site = _site(tmp_path / "site", many)
    log = tmp_path / "pids"
    where(monkeypatch, log)
    before = run_in_order(site, tmp_path / "before", monkeypatch)
    after = run_checks(site, tmp_path / "after")
    assert after == before
    assert {f["check"] for f in after[0]["findings"]} >= {"symbols", "calls", "matrix"}
    ids = sorted(f["id"] for f in after[0]["findings"] if f["check"] == "symbols")
    assert ids == ["files-unread", "module-undeclared", "symbol-missing"]
    [unread] = [f for f in after[0]["findings"] if f["id"] == "files-unread"]
    assert len(unread["evidence"]) == 2 and "trl/extra.py" in unread["evidence"][1]  # the child's parse failure
    assert after[0]["skipped"] == []
    for part in ("rules", "undeclared"):
        here, there = ran(log, part)
        assert here == str(os.getpid()) != there  # the second run's ran in a child
    assert run_checks(site, tmp_path / "after") == after  # and the entries it stored answer the next run the same way
    no_child_left()


def _exits(*_: Any) -> NoReturn:
    os._exit(3)


def _killed(*_: Any) -> NoReturn:
    os.kill(os.getpid(), signal.SIGKILL)
    raise AssertionError


def _raises(*_: Any) -> NoReturn:
    raise MemoryError


@pytest.mark.parametrize("death", [_exits, _killed, _raises])
@in_a_single_threaded_process
def test_a_child_that_fails_has_its_checks_run_here(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, death: Any
) -> None:
    site = _site(tmp_path / "site", 600)
    before = run_in_order(site, tmp_path / "before", monkeypatch)
    log = tmp_path / "pids"
    where(monkeypatch, log)
    monkeypatch.setattr(diagnose, "_in_child", death)
    assert run_checks(site, tmp_path / "after") == before
    assert ran(log, "rules") == ran(log, "undeclared") == [str(os.getpid())]  # done here, once
    no_child_left()


@in_a_single_threaded_process
def test_an_error_in_a_check_in_the_child_is_the_same_skipped_check(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = _site(tmp_path / "site", 600)

    def broken(inv: Any, context: Any) -> NoReturn:
        with (tmp_path / "pids").open("a") as fh:
            fh.write(f"{os.getpid()}\n")
        raise ValueError("a bug")

    monkeypatch.setattr(diagnose, "_calls_check", broken)
    before = run_in_order(site, tmp_path / "before", monkeypatch)
    after = run_checks(site, tmp_path / "after")
    assert after == before
    assert after[0]["skipped"] == [{"check": "calls", "reason": "internal error: ValueError: a bug"}]
    assert (tmp_path / "pids").read_text().split()[1] != str(os.getpid())
    no_child_left()


@pytest.mark.parametrize("everywhere", [False, True], ids=["in-the-child", "everywhere"])
@in_a_single_threaded_process
def test_an_error_in_the_undeclared_part_gives_the_report_of_the_checks_in_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, everywhere: bool
) -> None:
    """Raised in the child only: the child failed, its part is computed here. Raised wherever it runs (a bug): the
    symbols check is skipped, as in order. Either way, the same report and cache as the checks in order."""
    from envdoctor.checks.symbols import check

    site = _site(tmp_path / "site", 600)
    parent, real = str(os.getpid()), check.undeclared

    def failing(*args: Any) -> Any:
        if everywhere or str(os.getpid()) != parent:
            raise ValueError("a bug")
        return real(*args)

    monkeypatch.setattr(check, "undeclared", failing)
    before = run_in_order(site, tmp_path / "before", monkeypatch)
    log = tmp_path / "pids"
    where(monkeypatch, log)
    after = run_checks(site, tmp_path / "after")
    assert after == before
    assert after[0]["skipped"] == (
        [{"check": "symbols", "reason": "internal error: ValueError: a bug"}] if everywhere else []
    )
    [child, here] = ran(log, "undeclared")
    assert child != here == parent
    assert ran(log, "rules") == [parent]  # the failed child's checks, done here
    no_child_left()


@in_a_single_threaded_process
def test_an_interrupt_here_stops_the_child(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Ctrl-C (or the CLI's SIGTERM exception) during the symbols check: the child, still working, is killed and
    reaped before the exception leaves check_inventory."""
    site = _site(tmp_path / "site", 600)
    read_end, _write_end = os.pipe()
    monkeypatch.setattr(diagnose, "_in_child", lambda *_: os.read(read_end, 1))  # waits for ever
    from envdoctor.checks.symbols import check

    def interrupted(*_: Any) -> NoReturn:
        raise KeyboardInterrupt

    monkeypatch.setattr(check, "broken_names", interrupted)
    with pytest.raises(KeyboardInterrupt):
        diagnose.check_inventory(scan(site), cache=Cache(None))
    no_child_left()


def test_a_process_with_another_thread_runs_the_checks_in_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A training script's threads (assert_compatible()): no fork, everything here, the same report."""
    site = _site(tmp_path / "site", 600)
    log = tmp_path / "pids"
    where(monkeypatch, log)
    stop = threading.Event()
    helper = threading.Thread(target=stop.wait)
    helper.start()
    try:
        after = run_checks(site, tmp_path / "after")
    finally:
        stop.set()
        helper.join()
    assert ran(log, "rules") == ran(log, "undeclared") == [str(os.getpid())]
    assert after == run_in_order(site, tmp_path / "before", monkeypatch)
