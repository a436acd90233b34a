"""check --distributed for real: torchrun (the bed's own: ``BED/bin/python -m torch.distributed.run``, which is what
its ``torchrun`` script runs; never one from PATH) starts one envdoctor per rank, each checking the bed's
interpreter, on CPU with gloo. Two torchrun processes on loopback stand for two nodes (``--nnodes=2``), each node
with its own venv. Every launched process carries a marker in its environment, so the tests can tell that none is
left behind."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from envdoctor.runtime import distributed as d
from tests import beds
from tests.hostile import alive, environment

pytestmark = pytest.mark.venv

LIMIT = 600.0
"""A guard against a hang of the test itself, not a measure: a rank that hangs would exceed it."""
MARK = "ENVDOCTOR_TEST_DIST"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def envdoctor_argv(bed: beds.Bed, *args: str) -> list[str]:
    return [sys.executable, "-m", "envdoctor", "check", "--distributed", "--python", str(bed.python), *args]


def torchrun(bed: beds.Bed, launch: Sequence[str], command: Sequence[str]) -> list[str]:
    """The bed's own torchrun running ``command`` once per rank (``--no-python``: it is a program, envdoctor)."""
    return [str(bed.python), "-m", "torch.distributed.run", *launch, "--no-python", *command]


def run(argv: Sequence[str], marker: str, extra: dict[str, str] | None = None) -> subprocess.Popen[str]:
    env = environment({MARK: marker, **(extra or {})})
    return subprocess.Popen(list(argv), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def finish(proc: subprocess.Popen[str]) -> tuple[int, str, str]:
    out, err = proc.communicate(timeout=LIMIT)
    return proc.returncode, out, err


def left_behind(marker: str) -> list[str]:
    """Processes still running with this test's marker in their environment."""
    needle = f"{MARK}={marker}".encode()
    found = []
    for pid in (p for p in os.listdir("/proc") if p.isdigit()):
        try:
            environ = Path(f"/proc/{pid}/environ").read_bytes()
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if needle in environ.split(b"\0") and alive(int(pid)):
            found.append(f"{pid}: {cmdline}")
    return found


def merged(stdout: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(stdout)
    return data


def test_two_ranks_with_the_same_environment_give_one_clean_merged_report_with_train(
    dist_transformers_new: beds.Bed,
) -> None:
    marker = uuid.uuid4().hex
    argv = torchrun(
        dist_transformers_new,
        ["--nproc_per_node=2", "--master_addr=127.0.0.1", f"--master_port={free_port()}"],
        envdoctor_argv(dist_transformers_new, "--format", "json", "--timeout", "120", "--train"),
    )
    rc, out, err = finish(run(argv, marker))
    assert rc == 0, err[-3000:]
    report = merged(out)  # only rank 0 wrote to stdout: it parses as one JSON document
    assert report["verdict"].startswith("OK"), report["verdict"]
    info = report["distributed"]
    assert (info["world_size"], info["complete"], info["launcher"]) == (2, True, "torchrun")
    assert [r["rank"] for r in info["ranks"]] == [0, 1]
    assert {r["torch"] for r in info["ranks"]} == {"torch 2.13.0+cpu"}
    # one node, one interpreter, a CPU torch build: one rank checked (the step too, on the one CPU), both read it
    [checker] = {r["checked_by"] for r in info["ranks"]}
    assert checker in (0, 1)
    assert info["gloo"]["ok"] is True
    assert info["nccl"]["ran"] is False  # no GPU here: gloo only
    assert not [f for f in report["findings"] if f["check"] == d.CHECK]  # no drift, no failure
    assert {tuple(f["ranks"]) for f in report["findings"]} == {(0, 1)}  # identical: every finding once, for both
    # each rank ran its own training step outside the launch (Accelerate would join it from LOCAL_RANK): the same
    # verdicts everywhere, so one finding for both ranks
    [fallback] = [f for f in report["findings"] if f["id"] == "train-precision-fallback"]
    assert fallback["ranks"] == [0, 1] and fallback["title"].startswith("fp16 requested, fp32 ran")
    assert {p["precision"]: p["verdict"] for p in report["train"]["precisions"]}["no"] == "native"
    assert "torch" not in sys.modules
    assert left_behind(marker) == []


def test_a_node_with_another_transformers_gives_a_drift_finding_naming_both_versions_and_the_ranks(
    dist_transformers_new: beds.Bed, dist_transformers_old: beds.Bed
) -> None:
    marker, port = uuid.uuid4().hex, free_port()
    nodes = []
    for node, bed in enumerate((dist_transformers_new, dist_transformers_old)):
        launch = ["--nnodes=2", f"--node_rank={node}", "--nproc_per_node=1", "--master_addr=127.0.0.1"]
        launch.append(f"--master_port={port}")
        nodes.append(run(torchrun(bed, launch, envdoctor_argv(bed, "--format", "json", "--timeout", "120")), marker))
    (rc0, out0, err0), (rc1, out1, err1) = (finish(p) for p in nodes)
    assert out1 == ""  # rank 1 reached rank 0: it prints nothing
    report = merged(out0)
    drifts = [f for f in report["findings"] if f["id"].startswith("rank-drift")]
    host = "<host>"  # this machine's name is masked in every output (README "Secrets"); another node's would show
    assert [f["title"] for f in drifts] == [
        f"transformers differs between ranks: 5.23.0 on rank 0 ({host}); 5.22.0 on rank 1 ({host})"
    ]
    [drift] = drifts
    assert (drift["severity"], drift["ranks"], drift["packages"]) == ("error", [0, 1], ["transformers"])
    assert [r["checked_by"] for r in report["distributed"]["ranks"]] == [0, 1]  # two venvs: each its own check
    assert (rc0, rc1) == (1, 0), (err0[-2000:], err1[-2000:])  # torchrun passes rank 0's exit status on
    assert left_behind(marker) == []


def test_a_rank_that_exits_early_is_named_and_nothing_is_left_behind(
    dist_transformers_new: beds.Bed, tmp_path: Path
) -> None:
    early = tmp_path / "early.sh"  # a launch script that skips rank 1 (it ends at once, with status 0)
    early.write_text('#!/bin/sh\nif [ "$RANK" = 1 ]; then exit 0; fi\nexec "$@"\n')
    early.chmod(0o755)
    marker = uuid.uuid4().hex
    argv = torchrun(
        dist_transformers_new,
        ["--nproc_per_node=2", "--master_addr=127.0.0.1", f"--master_port={free_port()}"],
        [str(early), *envdoctor_argv(dist_transformers_new, "--format", "json", "--timeout", "20", "--no-symbols")],
    )
    rc, out, _ = finish(run(argv, marker))
    assert rc != 0
    report = merged(out)
    [missing] = [f for f in report["findings"] if f["id"] == d.MISSING_ID]
    assert missing["title"].startswith("rank 1 never joined within 20 s (WORLD_SIZE=2; joined: rank 0")
    assert missing["ranks"] == [1]
    assert report["distributed"]["complete"] is False
    assert left_behind(marker) == []


def test_a_rank_that_never_starts_is_named_and_nothing_is_left_behind(dist_transformers_new: beds.Bed) -> None:
    marker = uuid.uuid4().hex  # launched by hand (as srun would), rank 1 of 2 never is
    launch = {"RANK": "0", "WORLD_SIZE": "2", "LOCAL_RANK": "0", "MASTER_ADDR": "127.0.0.1"}
    launch["MASTER_PORT"] = str(free_port())
    proc = run(
        envdoctor_argv(dist_transformers_new, "--format", "text", "--timeout", "20", "--no-symbols"), marker, launch
    )
    rc, out, _ = finish(proc)
    assert rc == 1
    assert "ERROR [distributed-rank-missing] rank 1 never joined within 20 s" in out
    assert "Distributed: rank 0 of 2 could not gather the other ranks' reports" in out
    assert left_behind(marker) == []


def test_the_wrong_master_addr_a_taken_port_and_a_mismatched_world_size(dist_transformers_new: beds.Bed) -> None:
    marker = uuid.uuid4().hex
    args = envdoctor_argv(dist_transformers_new, "--format", "text", "--timeout", "20", "--no-symbols")
    port = free_port()
    with socket.socket() as taken:
        taken.bind(("0.0.0.0", 0))
        taken.listen()
        taken_port = taken.getsockname()[1]
        procs = [
            run(args, marker, {"RANK": "1", "WORLD_SIZE": "2", "MASTER_ADDR": "no-such-host.invalid", "MASTER_PORT": "29500"}),
            run(args, marker, {"RANK": "0", "WORLD_SIZE": "1", "MASTER_ADDR": "127.0.0.1",
                               "MASTER_PORT": str(taken_port)}),
            run(args, marker, {"RANK": "0", "WORLD_SIZE": "2", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port)}),
            run(args, marker, {"RANK": "1", "WORLD_SIZE": "3", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port)}),
        ]  # fmt: skip
        (rc_addr, _, err_addr), (rc_port, out_port, _), (rc_ws0, out_ws0, _), (rc_ws1, _, err_ws1) = map(finish, procs)
    # a rank other than 0 prints only its own failures, on stderr
    unresolved = "envdoctor: rank 1: ERROR [distributed-store-unreachable] MASTER_ADDR no-such-host.invalid does not"
    assert unresolved in err_addr
    assert f"ERROR [distributed-port-in-use] MASTER_PORT {taken_port} is already in use" in out_port
    host = "<host>"  # this machine's name is masked in every output (README "Secrets")
    said = f"the ranks disagree on the world size: WORLD_SIZE=2 on rank 0 ({host}); WORLD_SIZE=3 on rank 1 ({host})"
    assert f"ERROR [distributed-world-size-mismatch] {said}" in out_ws0
    assert f"envdoctor: rank 1: ERROR [distributed-world-size-mismatch] {said}" in err_ws1
    assert (rc_addr, rc_port, rc_ws0, rc_ws1) == (1, 1, 1, 1)
    assert left_behind(marker) == []


def test_accelerate_launch_gives_one_clean_merged_report_and_exit_0(
    dist_transformers_new: beds.Bed, tmp_path: Path
) -> None:
    # The bed's own `accelerate launch` (what its `accelerate` script runs). Two processes on CPU need
    # --multi_gpu: accelerate 1.15 starts them through torchrun's launcher, and without a GPU they run on CPU;
    # `--cpu --num_processes 2` starts ONE process (its simple launcher; multi-CPU goes through mpirun).
    marker = uuid.uuid4().hex
    launch = ["--multi_gpu", "--num_processes=2", "--num_machines=1", "--mixed_precision=no", "--dynamo_backend=no"]
    launch += ["--main_process_ip=127.0.0.1", f"--main_process_port={free_port()}", "--no_python"]
    argv = [str(dist_transformers_new.python), "-m", "accelerate.commands.launch", *launch]
    argv += envdoctor_argv(dist_transformers_new, "--format", "json", "--timeout", "120", "--no-symbols")
    rc, out, err = finish(run(argv, marker, {"HF_HOME": str(tmp_path)}))  # no accelerate config file: defaults
    assert rc == 0, err[-3000:]
    report = merged(out)  # only rank 0 wrote to stdout: one JSON document
    assert report["verdict"].startswith("OK"), report["verdict"]
    info = report["distributed"]
    assert (info["world_size"], info["complete"], info["launcher"]) == (2, True, "accelerate")
    assert [(r["rank"], r["local_rank"]) for r in info["ranks"]] == [(0, 0), (1, 1)]
    assert len({r["checked_by"] for r in info["ranks"]}) == 1  # the node's ranks share one check
    assert info["gloo"]["ok"] is True
    assert not [f for f in report["findings"] if f["check"] == d.CHECK]  # no drift, no failure
    assert all(f["ranks"] == [0, 1] for f in report["findings"])
    assert left_behind(marker) == []


def test_srun_simulated_slurms_variables_without_rank_give_one_merged_report(dist_transformers_new: beds.Bed) -> None:
    # No Slurm here: two plain processes with the variables srun sets for each task (and not torch's RANK,
    # WORLD_SIZE, LOCAL_RANK), MASTER_ADDR / MASTER_PORT exported by the batch script as the README says.
    marker, port = uuid.uuid4().hex, free_port()
    args = envdoctor_argv(dist_transformers_new, "--format", "json", "--timeout", "120", "--no-symbols")
    node = socket.gethostname()
    task = {"SLURM_JOB_ID": "4242", "SLURM_STEP_ID": "0", "SLURM_NTASKS": "2", "SLURM_NNODES": "1"}
    task |= {"SLURM_JOB_NODELIST": node, "SLURMD_NODENAME": node, "SLURM_NODEID": "0"}
    task |= {"MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port)}
    procs = [
        run(args, marker, {**task, "SLURM_PROCID": str(r), "SLURM_LOCALID": str(r), "SLURM_TASK_PID": "1"})
        for r in (0, 1)
    ]
    (rc0, out0, err0), (rc1, out1, err1) = map(finish, procs)
    assert (rc0, rc1) == (0, 0), (err0[-2000:], err1[-2000:])
    assert out1 == "" and err1 == ""  # rank 1 reached rank 0: it prints nothing
    report = merged(out0)
    info = report["distributed"]
    assert (info["world_size"], info["complete"], info["launcher"]) == (2, True, "slurm")
    assert [(r["rank"], r["local_rank"]) for r in info["ranks"]] == [(0, 0), (1, 1)]
    assert len({r["checked_by"] for r in info["ranks"]}) == 1
    assert not [f for f in report["findings"] if f["check"] == d.CHECK]
    assert left_behind(marker) == []
