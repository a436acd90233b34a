"""The ranks of one node that would build the same report build it once (envdoctor.runtime.nodeshare): the
report survives the trip between ranks whole, one rank builds and the others read, a builder that fails leaves
the others to build their own, and a training step is shared only on a torch build that can use no GPU. The
real launches are in tests/integration/test_distributed_real.py (``checked_by``)."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from envdoctor.report import Finding, Report, Severity, Skipped, Summary
from envdoctor.runtime import nodeshare

REPORT = dataclasses.replace(
    Report.build(
        [
            Finding("requirement-conflict", Severity.ERROR, "a requires b<2", packages=("a",), fix=("b==1.0",)),
            Finding("files-unread", Severity.INFO, "1 file", check="symbols", evidence=("x",), advice=("y",)),
        ],
        skipped=[Skipped("step", "no torch")],
        summary=Summary("/v/bin/python", "3.11.7", 40, paths=("/v/lib",), torch_builds=(("torch", "2.13.0+cpu"),)),
        checks=["metadata", "probes", "step"],
        train={"requested": "fp16", "precisions": [{"precision": "no", "verdict": "native"}]},
    ),
    probes=({"statement": "import torch", "ending": "ok", "seconds": 1.5},),
)


def counting(built: list[int], rank: int) -> Callable[[dict[str, str]], Report]:
    """A build that notes ``rank`` each time it runs."""

    def build(env: dict[str, str]) -> Report:
        built.append(rank)
        return REPORT

    return build


@pytest.fixture
def tmp_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(tempfile, "gettempdir", lambda: str(tmp_path))
    return tmp_path / f"envdoctor-node-{os.getuid()}"


def test_a_ranks_report_survives_the_trip_to_the_other_ranks_whole() -> None:
    assert nodeshare.from_shared(nodeshare.to_shared(REPORT)) == REPORT


def test_one_rank_builds_the_others_read_it_and_the_builder_removes_the_files(tmp_folder: Path) -> None:
    built: list[int] = []

    def build(rank: int) -> nodeshare.Build:
        return counting(built, rank)

    first, second = nodeshare.Shared(build(1), "k", 1), nodeshare.Shared(build(0), "k", 0)
    assert first({}) == REPORT and second({}) == REPORT
    assert built == [1]  # rank 0 read rank 1's report
    assert (first.checked_by, second.checked_by) == (1, 1)
    second.clean()  # a reader removes nothing
    assert sorted(p.name for p in tmp_folder.iterdir()) == ["k.claimed", "k.json", "k.lock"]
    first.clean()
    assert list(tmp_folder.iterdir()) == []
    assert tmp_folder.stat().st_mode & 0o777 == 0o700


def test_a_rank_that_waits_for_another_says_so_once(tmp_folder: Path) -> None:
    heard: list[str] = []
    builder = nodeshare.Shared(counting([], 1), "k", 1)
    rank_0 = nodeshare.Shared(counting([], 0), "k", 0, heard.append)

    def build_while_rank_0_arrives(env: dict[str, str]) -> Report:
        waiter = threading.Thread(target=rank_0, args=({},))
        waiter.start()  # rank 0 finds the lock taken: it says so, then blocks until this build is written
        while not heard and waiter.is_alive():  # it blocks once it has said so
            waiter.join(0.01)
        ends.append(waiter)
        return REPORT

    ends: list[threading.Thread] = []
    builder.build = build_while_rank_0_arrives
    builder({})
    ends[0].join()
    assert heard == ["another rank of this node is checking the same environment: waiting for its report"]
    assert rank_0.checked_by == 1  # it read rank 1's report


def test_when_the_builder_fails_the_others_build_their_own(tmp_folder: Path) -> None:
    def broken(env: dict[str, str]) -> Report:
        raise RuntimeError("the target cannot be read")

    with pytest.raises(RuntimeError):
        nodeshare.Shared(broken, "k", 0)({})
    other = nodeshare.Shared(lambda env: REPORT, "k", 1)
    assert other({}) == REPORT and other.checked_by == 1


def test_a_report_whose_builder_no_longer_runs_is_not_read(tmp_folder: Path) -> None:
    stale = nodeshare.Shared(lambda env: REPORT, "k", 0)
    stale({})  # a check killed before it removed its files: a later launch with the same name builds again
    data = json.loads((tmp_folder / "k.json").read_text())
    data["builder"]["pid"] = dead_pid()
    (tmp_folder / "k.json").write_text(json.dumps(data))
    (tmp_folder / "k.claimed").unlink()
    built: list[int] = []
    later = nodeshare.Shared(counting(built, 1), "k", 1)
    assert later({}) == REPORT and built == [1] and later.checked_by == 1


def dead_pid() -> int:
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, check=True)
    return int(proc.stdout)


def test_without_a_name_every_rank_builds_its_own(tmp_folder: Path) -> None:
    built: list[int] = []
    for _ in range(2):
        nodeshare.Shared(counting(built, 0), None, 0)({})
    assert built == [0, 0] and not tmp_folder.exists()


def test_the_key_leaves_out_the_per_rank_variables_and_a_gpu_build_with_a_step_gets_none(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def key(env: dict[str, str], *, device_bound: bool = False) -> str | None:
        launch = {"master": ["127.0.0.1", 29500]}
        return nodeshare.key(
            python=sys.executable, launch=launch, per_rank=lambda n: n == "RANK", device_bound=device_bound, environ=env
        )

    base = {"PATH": "/bin", "NCCL_DEBUG": "INFO"}
    assert key({**base, "RANK": "0", "SLURM_PROCID": "0"}) == key({**base, "RANK": "1", "SLURM_PROCID": "1"})
    assert key({**base, "SHLVL": "1"}) == key({**base, "SHLVL": "2"})  # a launch script's last command
    assert key({**base, "RANK": "0"}) != key({**base, "RANK": "0", "NCCL_DEBUG": "WARN"})
    monkeypatch.setattr(nodeshare, "cpu_only", lambda python, env: False)
    assert key(base) is not None and key(base, device_bound=True) is None
    monkeypatch.setattr(nodeshare, "cpu_only", lambda python, env: True)
    assert key(base, device_bound=True) == key(base)


@pytest.mark.parametrize(
    ("version_py", "cpu"),
    [
        ("__version__ = '2.13.0+cpu'\ncuda: Optional[str] = None\nhip: Optional[str] = None\nxpu = None\n", True),
        ("__version__ = '2.13.0'\ncuda: Optional[str] = '12.8'\nhip: Optional[str] = None\n", False),
        ("__version__ = '2.13.0+rocm6.4'\ncuda = None\nhip = '6.4.1'\n", False),
        ("__version__ = '2.13.0'\n", False),  # no cuda line: unknown, so not shared
        (None, True),  # no torch at all: no rank trains on a GPU
    ],
)
def test_the_torch_build_is_read_from_version_py_without_importing_torch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, version_py: str | None, cpu: bool
) -> None:
    if version_py is not None:
        (tmp_path / "torch").mkdir()
        (tmp_path / "torch" / "__init__.py").write_text("raise SystemExit('torch was imported')\n")
        (tmp_path / "torch" / "version.py").write_text("from typing import Optional\n" + version_py)
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    monkeypatch.setenv("PYTHONNOUSERSITE", "1")
    assert nodeshare.cpu_only(sys.executable, os.environ) is cpu
