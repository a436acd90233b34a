"""check --distributed without a launch: the launcher's variables, the merged report built from gathered payloads
(of the shape probes/distributed.py returns), drift, failures with their likely cause, and every format carrying
the ranks. The real launches (torchrun, two nodes on loopback) are in tests/integration/test_distributed_real.py."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from envdoctor import ranks
from envdoctor.errors import UsageError
from envdoctor.knowledge.stack import STACK
from envdoctor.redact import MASK
from envdoctor.render import Format, RenderOptions, render
from envdoctor.report import Finding, Report, Severity, Summary
from envdoctor.runtime import distributed as d
from tests.hostile import envdoctor

LAUNCH = {"RANK": "1", "WORLD_SIZE": "4", "LOCAL_RANK": "1", "MASTER_ADDR": "node-a", "MASTER_PORT": "29500"}


def own(*findings: Finding, train: dict[str, Any] | None = None) -> Report:
    return Report.build(
        findings,
        summary=Summary(python="/venv/bin/python", python_version="3.11.7", distributions=26),
        checks=["metadata"],
        train=train,
    )


def entry(
    rank: int,
    report: Report,
    *,
    host: str = "node-a",
    packages: dict[str, str] | None = None,
    env: dict[str, str] | None = None,
    device: dict[str, Any] | None = None,
    accelerate: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "rank": rank,
        "local_rank": rank % 2,
        "world_size": 2,
        "host": host,
        "facts": {
            "python": "3.11.7",
            "packages": {"torch": "2.13.0+cpu", "transformers": "5.23.0", **(packages or {})},
            "torch": {"version": "2.13.0+cpu", "nccl": None},
            "device": device or {"cuda_available": False, "device_count": 0, "devices": [], "driver_cuda": None},
        },
        "report": {
            "report": d.to_wire(report),
            "env": d.environment_facts(env or {}),
            "accelerate": accelerate,
        },
    }


def payload(*entries: dict[str, Any], nccl: Any = None) -> dict[str, Any]:
    return {"phase": "done", "gathered": list(entries), "gloo": {"ok": True, "seconds": 0.001}, "nccl": nccl}


CONFLICT = Finding("requirement-conflict", Severity.ERROR, "a requires b<2, but b 2.0 is installed", packages=("a",))
ONLY_ONE = Finding("files-unread", Severity.INFO, "1 file could not be read", check="symbols")


# ------------------------------------------------------------------------------------------- the launch


def test_without_the_launcher_variables_it_is_a_usage_error_saying_how_to_launch() -> None:
    with pytest.raises(UsageError) as caught:
        d.Launch.from_environment({"PATH": "/bin"})
    assert "torchrun --nproc_per_node=N -m envdoctor check --distributed" in str(caught.value)
    assert "\n" not in str(caught.value)


def test_the_cli_exits_2_with_one_line_outside_a_launch() -> None:
    env = dict.fromkeys(("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"), "")
    proc = envdoctor("check", "--distributed", "--no-symbols", env=env)
    assert proc.returncode == 2
    assert proc.stdout == ""
    [line] = proc.stderr.splitlines()
    assert line.startswith("envdoctor: error: --distributed: RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT not set")
    assert "torchrun --nproc_per_node=N" in line


def test_slurm_variables_stand_for_torchs_and_the_step_runs_outside_the_launch_on_its_own_gpu() -> None:
    env = {"SLURM_PROCID": "3", "SLURM_NTASKS": "8", "SLURM_LOCALID": "1", "MASTER_ADDR": "h", "MASTER_PORT": "1234"}
    launch = d.Launch.from_environment(env)
    assert (launch.rank, launch.world_size, launch.local_rank, launch.launcher) == (3, 8, 1, "slurm")
    assert launch.variables == {"RANK": "3", "WORLD_SIZE": "8", "LOCAL_RANK": "1"}
    torchrun = d.Launch.from_environment({**LAUNCH, "TORCHELASTIC_RUN_ID": "x"})
    step = torchrun.step_environment({**LAUNCH, "TORCHELASTIC_RUN_ID": "x", "CUDA_VISIBLE_DEVICES": "4,5", "A": "1"})
    assert step == {"A": "1", "CUDA_VISIBLE_DEVICES": "5"}  # Accelerate sees no launch, and GPU LOCAL_RANK only


def test_under_srun_without_master_addr_and_port_the_usage_error_says_to_export_them() -> None:
    env = {"SLURM_PROCID": "0", "SLURM_NTASKS": "2", "SLURM_LOCALID": "0", "SLURM_JOB_NODELIST": "gpu[01-02]"}
    with pytest.raises(UsageError) as caught:
        d.Launch.from_environment(env)  # the nodelist is not read: the batch script exports MASTER_ADDR
    assert str(caught.value).startswith("--distributed: MASTER_ADDR, MASTER_PORT not set")
    assert "srun with MASTER_ADDR and MASTER_PORT exported" in str(caught.value)


def test_environment_facts_keep_behaviour_changing_variables_and_never_a_secrets_value() -> None:
    facts = d.environment_facts(
        {"NCCL_DEBUG": "INFO", "HF_TOKEN": "hf_abcdefghijklmnop", "RANK": "1", "HOME": "/root", "TORCHELASTIC_X": "y"}
    )
    assert sorted(facts) == ["HF_TOKEN", "NCCL_DEBUG"]
    assert facts["NCCL_DEBUG"]["shown"] == "INFO"
    assert facts["HF_TOKEN"]["shown"] == MASK and "hf_abc" not in json.dumps(facts)


def test_the_accelerate_config_is_read_as_accelerate_finds_it(tmp_path: Path) -> None:
    (tmp_path / "accelerate").mkdir()
    (tmp_path / "accelerate" / "default_config.yaml").write_text(
        "compute_environment: LOCAL_MACHINE\nmixed_precision: bf16\nnum_processes: 8\nfsdp_config: {}\n  nested: 1\n"
    )
    config = d.accelerate_config({"HF_HOME": str(tmp_path)})
    assert config is not None
    assert config["values"]["mixed_precision"] == "bf16" and "nested" not in config["values"]
    assert d.accelerate_config({"HF_HOME": str(tmp_path / "none")}) is None


# ------------------------------------------------------------------------------------------- merging


def test_identical_findings_are_grouped_with_their_ranks_and_a_clean_launch_has_no_drift() -> None:
    zero, one = own(CONFLICT), own(CONFLICT, ONLY_ONE)
    merged = d.merge(zero, payload(entry(0, zero), entry(1, one)), timeout=60)
    by_id = {f.id: f for f in merged.findings}
    assert sorted(by_id) == ["files-unread", "requirement-conflict"]  # no drift: same packages everywhere
    assert by_id["requirement-conflict"].ranks == (0, 1)
    assert by_id["files-unread"].ranks == (1,)
    assert merged.distributed is not None and merged.distributed["complete"]
    assert [r["rank"] for r in merged.distributed["ranks"]] == [0, 1]
    assert "distributed" in merged.checks


def test_another_transformers_on_one_node_is_an_error_naming_both_versions_and_the_ranks() -> None:
    zero = own()
    merged = d.merge(
        zero,
        payload(entry(0, zero), entry(1, own(), host="node-b", packages={"transformers": "5.22.0"})),
        timeout=60,
    )
    [drift] = [f for f in merged.findings if f.id == d.DRIFT_PACKAGE_ID]
    assert drift.severity is Severity.ERROR
    assert drift.title == "transformers differs between ranks: 5.23.0 on rank 0 (node-a); 5.22.0 on rank 1 (node-b)"
    assert drift.ranks == (0, 1) and drift.packages == ("transformers",)
    assert drift.fix == ("transformers==5.23.0",)


def test_drift_is_an_error_for_every_distribution_of_the_one_training_stack_list_and_a_warning_otherwise() -> None:
    zero = own()
    other = {name: "0.0.1" for name in STACK if name != "torch"} | {"rich": "14.0.0"}  # torch: the build drift
    merged = d.merge(
        zero,
        payload(entry(0, zero), entry(1, own(), host="node-b", packages=other)),
        timeout=60,
    )
    found = {f.packages[0]: f.severity for f in merged.findings if f.id == d.DRIFT_PACKAGE_ID}
    assert found.pop("rich") is Severity.WARNING
    assert found == dict.fromkeys(set(STACK) - {"torch"}, Severity.ERROR)  # wandb, protobuf, ... as transformers


def test_env_precision_gpu_and_accelerate_config_drift() -> None:
    def train(bf16: str) -> dict[str, Any]:
        return {"requested": "bf16", "precisions": [{"precision": "bf16", "verdict": bf16}]}

    a100 = {"cuda_available": True, "device_count": 2, "driver_cuda": "12.8", "devices": [
        {"index": 0, "name": "A100", "capability": [8, 0]}, {"index": 1, "name": "A100", "capability": [8, 0]}]}  # fmt: skip
    v100 = {"cuda_available": True, "device_count": 1, "driver_cuda": "12.2", "devices": [
        {"index": 0, "name": "V100", "capability": [7, 0]}]}  # fmt: skip
    zero = own(train=train("native"))
    merged = d.merge(
        zero,
        payload(
            entry(0, zero, env={"NCCL_IB_DISABLE": "1", "HF_TOKEN": "hf_secretsecret1"}, device=a100,
                  accelerate={"path": "x", "values": {"mixed_precision": "bf16"}}),
            entry(1, own(train=train("emulated")), host="node-b", env={"HF_TOKEN": "hf_secretsecret2"}, device=v100,
                  accelerate={"path": "x", "values": {"mixed_precision": "fp16"}}),
        ),
        timeout=60,
    )  # fmt: skip
    found = {f.id: f for f in merged.findings if f.id.startswith("rank-drift")}
    assert found[d.DRIFT_PRECISION_ID].severity is Severity.ERROR  # bf16 is the precision asked for
    assert found[d.DRIFT_PRECISION_ID].title == (
        "the bf16 training step's verdict differs between ranks: native on rank 0 (node-a); emulated on rank 1 (node-b)"
    )
    # rank 1 is LOCAL_RANK 1 on a node with one visible GPU: it has no GPU to train on
    assert found[d.DRIFT_GPU_ID].severity is Severity.ERROR
    assert "no GPU for LOCAL_RANK 1 (1 visible) on rank 1" in found[d.DRIFT_GPU_ID].title
    assert "CUDA 12.8 on rank 0" in found[d.DRIFT_DRIVER_ID].title
    assert "'fp16' on rank 1" in found[d.DRIFT_ACCELERATE_ID].title
    env = [f for f in merged.findings if f.id == d.DRIFT_ENV_ID]
    assert {f.title.split()[0] for f in env} == {"HF_TOKEN", "NCCL_IB_DISABLE"}
    for fmt in Format:
        text = render(merged, fmt, RenderOptions(color=False))
        assert "hf_secret" not in text  # the values differ, and neither is ever printed


def test_nccl_failure_on_some_ranks_is_a_finding_naming_them() -> None:
    zero = own()
    nccl = {"ranks": [{"rank": 0, "ok": True}, {"rank": 1, "ok": False, "error": {"type": "DistBackendError", "message": "NCCL error"}}]}  # fmt: skip
    merged = d.merge(zero, payload(entry(0, zero), entry(1, own()), nccl=nccl), timeout=60)
    [f] = [f for f in merged.findings if f.id == d.NCCL_ID]
    assert f.ranks == (1,) and "rank 1 (node-a)" in f.title and "NCCL error" in f.title
    assert merged.distributed is not None and merged.distributed["nccl"]["ran"] is True


# ------------------------------------------------------------------------------------------- failures


def joined(phase: str, *, rank: int = 1, **extra: Any) -> d.Joined:
    launch = d.Launch.from_environment({**LAUNCH, "RANK": str(rank)})
    body = {"phase": phase, "error": extra.pop("error", None), "me": {"host": "node-b"}, **extra}
    return d.Joined(launch, own(), None, False, body, 30.0)


@pytest.mark.parametrize(
    ("phase", "extra", "fid", "words"),
    [
        ("store", {"error": {"type": "DistNetworkError", "message": "The client socket has timed out"}}, d.STORE_ID,
         "could not reach the rendezvous store at node-a:29500 within 30 s"),
        ("store", {"error": {"type": "DistNetworkError", "message": "timed out"}, "unresolved": "Name or service not known"},
         d.STORE_ID, "MASTER_ADDR node-a does not resolve on rank 1 (node-b)"),
        ("store", {"error": {"type": "DistNetworkError", "message": "code: -98, name: EADDRINUSE"}}, d.PORT_ID,
         "MASTER_PORT 29500 is already in use"),
        ("rendezvous", {"entries": {"0": {"world_size": 4, "host": "node-a"}, "1": {"world_size": 4, "host": "node-b"}},
                        "missing": [2, 3]}, d.MISSING_ID, "ranks 2, 3 never joined within 30 s"),
        ("rendezvous", {"entries": {"0": {"world_size": 2, "host": "a"}, "1": {"world_size": 4, "host": "b"}},
                        "missing": [2, 3]}, d.WORLD_ID, "WORLD_SIZE=2 on rank 0 (a); WORLD_SIZE=4 on rank 1 (b)"),
        ("gather", {"error": {"type": "RuntimeError", "message": "Connection closed by peer"}}, d.COLLECTIVE_ID,
         "the gloo gather of rank 1 failed"),
        ("import", {"error": {"type": "ModuleNotFoundError", "message": "No module named 'torch'"}}, d.UNAVAILABLE_ID,
         "rank 1 cannot use torch.distributed"),
    ],
)  # fmt: skip
def test_each_failure_to_join_says_its_likely_cause(phase: str, extra: dict[str, Any], fid: str, words: str) -> None:
    [f] = d.failure_findings(joined(phase, **extra))
    assert f.id == fid and f.severity is Severity.ERROR
    assert words in f.title


def test_a_rank_that_cannot_join_reports_alone_and_the_missing_rank_carries_the_finding() -> None:
    body = {"entries": {"0": {"world_size": 2, "host": "a"}}, "missing": [1]}
    report = d.outcome(joined("rendezvous", rank=0, **body))
    [f] = [f for f in report.findings if f.check == d.CHECK]
    assert f.ranks == (1,)
    assert report.distributed is not None and report.distributed["complete"] is False
    assert "could not gather" in render(report, Format.TEXT)


# ------------------------------------------------------------------------------------------- formats


def test_every_format_carries_the_ranks_and_a_single_process_report_is_unchanged() -> None:
    zero = own(CONFLICT)
    merged = d.merge(zero, payload(entry(0, zero), entry(1, own(CONFLICT, ONLY_ONE), host="node-b")), timeout=60)
    data = json.loads(render(merged, Format.JSON))
    by_id = {f["id"]: f for f in data["findings"]}
    assert by_id["requirement-conflict"]["ranks"] == [0, 1] and by_id["files-unread"]["ranks"] == [1]
    assert data["distributed"]["world_size"] == 2 and data["schema"] == "envdoctor.report/2"
    text = render(merged, Format.TEXT)
    assert "Distributed: 2 ranks on 2 nodes" in text and "    on rank 1 (node-b)" in text
    assert "    on all 2 ranks" in text
    for fmt in (Format.JUNIT, Format.GITHUB, Format.MARKDOWN, Format.TERMINAL):
        shown = render(merged, fmt, RenderOptions(color=False, fail_on=Severity.INFO)).replace("\\", "")
        assert "rank 1 (node-b)" in shown, fmt  # (markdown: with its punctuation escapes removed)
    sarif = json.loads(render(merged, Format.SARIF))
    assert [r["properties"]["ranks"] for r in sarif["runs"][0]["results"]] == [[0, 1], [1]]
    single = json.loads(render(zero, Format.JSON))
    assert "distributed" not in single and "ranks" not in single["findings"][0]


def test_rank_labels() -> None:
    assert ranks.spans([5, 0, 1, 2, 7, 8]) == "0-2,5,7-8"
    assert ranks.label([0, 1, 2], {0: "a", 1: "a", 2: "b"}) == "ranks 0-1 (a), rank 2 (b)"
    assert ranks.label([0, 1], {}, 2) == "all 2 ranks"


def test_a_probe_stopped_after_waiting_names_the_last_phase_it_reached() -> None:
    from envdoctor import runner

    cmd = runner.CommandResult(runner.Outcome.CRASHED, -9, "", "envdoctor-phase: init\nenvdoctor-phase: gather\n", 1.0)
    stopped = d.Joined(
        d.Launch.from_environment(LAUNCH),
        own(),
        runner.ProbeResult(runner.Outcome.CRASHED, None, "", cmd),
        True,
        None,
        30,
    )
    [f] = d.failure_findings(stopped)
    assert f.id == d.TIMEOUT_ID and "(last phase: gather)" in f.title


def test_a_nccl_collective_that_never_returned_still_gives_rank_0_every_report() -> None:
    zero = own(CONFLICT)
    written_before_nccl = payload(entry(0, zero), entry(1, own(CONFLICT), host="node-b"))
    written_before_nccl["phase"] = "gloo"
    launch = d.Launch.from_environment({**LAUNCH, "RANK": "0"})
    report = d.outcome(d.Joined(launch, zero, None, True, written_before_nccl, 30))
    assert [f.id for f in report.findings] == [d.NCCL_ID, "requirement-conflict"]
    assert report.findings[1].ranks == (0, 1)
    assert "NCCL all_gather did not finish" in report.findings[0].title
