"""``envdoctor check --distributed``: every rank of a launch checks itself, rank 0 reports for all of them.

Run under ``torchrun`` / ``accelerate launch`` / ``srun``, one envdoctor per rank. Each builds its own report
as usual (``check`` below gets a function that does that) while probes/distributed.py, in the target, joins the
launch's process group through torch.distributed (gloo) from the launcher's variables. When the report is
ready it is handed to the probe (a file it waits for), which all_gathers every rank's facts and report and
runs the collectives (gloo, and NCCL where every rank has a GPU). Rank 0 turns what it gathered into one
report (``merge``): each rank's findings, grouped when identical, with the ranks they hold on; drift between
ranks as findings naming the ranks and the values; the collectives' outcomes. A probe that cannot join ends
as a finding with the likely cause (``failure_findings``), within the time limit, never as a hang.

envdoctor's own process never imports torch: only the probe does.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
import shutil
import stat
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from envdoctor import runner
from envdoctor.errors import UsageError
from envdoctor.knowledge.stack import STACK
from envdoctor.ranks import label
from envdoctor.redact import MASK, Redactor, secret_values
from envdoctor.report import Finding, Report, Severity, Skipped, Summary
from envdoctor.runtime import nodeshare

CHECK = "distributed"
HOW = (
    "run one envdoctor per rank under a launcher, as the training runs: "
    "torchrun --nproc_per_node=N -m envdoctor check --distributed (or accelerate launch -m envdoctor check "
    "--distributed, or srun with MASTER_ADDR and MASTER_PORT exported)"
)
LAUNCH_VARS = ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")
PER_RANK_VARS = frozenset(
    (
        *LAUNCH_VARS,
        "LOCAL_RANK",
        "LOCAL_WORLD_SIZE",
        "GROUP_RANK",
        "GROUP_WORLD_SIZE",
        "ROLE_RANK",
        "ROLE_NAME",
        "ROLE_WORLD_SIZE",
        "NODE_RANK",
    )
)
"""The launcher's own variables: different on each rank by design, and left out of the step probe's
environment (Accelerate would join the launch's process group from them)."""
BEHAVIOUR_PREFIXES = (
    "NCCL_",
    "GLOO_",
    "TORCH_",
    "PYTORCH_",
    "CUDA_",
    "CUDNN_",
    "NVIDIA_",
    "ACCELERATE_",
    "HF_",
    "HUGGINGFACE_",
    "TRANSFORMERS_",
    "TOKENIZERS_",
    "OMP_",
    "MKL_",
    "UCX_",
    "FI_",
)
BEHAVIOUR_NAMES = frozenset(("LD_LIBRARY_PATH", "LD_PRELOAD", "PYTHONPATH", "PYTHONHASHSEED"))

EVIDENCE_RANKS = 16
"""A drift finding lists each rank's value as evidence up to this many ranks (its title always groups them)."""
FOREVER = 604800.0
"""The probe's own limit while it waits for this rank's report; envdoctor stops it itself (``check``)."""

# finding ids (the catalog lists them)
UNAVAILABLE_ID = "distributed-unavailable"
STORE_ID = "distributed-store-unreachable"
PORT_ID = "distributed-port-in-use"
MISSING_ID = "distributed-rank-missing"
WORLD_ID = "distributed-world-size-mismatch"
COLLECTIVE_ID = "distributed-collective-failed"
TIMEOUT_ID = "distributed-timeout"
NCCL_ID = "distributed-nccl-failed"
DRIFT_PACKAGE_ID = "rank-drift-package"
DRIFT_PYTHON_ID = "rank-drift-python"
DRIFT_TORCH_ID = "rank-drift-torch-build"
DRIFT_GPU_ID = "rank-drift-gpu"
DRIFT_DRIVER_ID = "rank-drift-driver"
DRIFT_PRECISION_ID = "rank-drift-precision"
DRIFT_ENV_ID = "rank-drift-env"
DRIFT_ACCELERATE_ID = "rank-drift-accelerate-config"


# ------------------------------------------------------------------------------------------- the launch


@dataclass(frozen=True)
class Launch:
    """This process's place in the launch, from the launcher's variables."""

    rank: int
    world_size: int
    local_rank: int
    master_addr: str
    master_port: int
    launcher: str
    variables: Mapping[str, str]
    """What the probe needs beyond our environment (Slurm's variables mapped to torch's names)."""

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> Launch:
        """Raises UsageError (one line, saying how to launch it) when this is not one rank of a launch."""
        env = os.environ if environ is None else environ
        mapped: dict[str, str] = {}
        launcher = "torchrun" if env.get("TORCHELASTIC_RUN_ID") else "env"
        if "RANK" not in env and "SLURM_PROCID" in env:  # srun: Slurm's own names
            mapped = {
                "RANK": env["SLURM_PROCID"],
                "WORLD_SIZE": env.get("SLURM_NTASKS", ""),
                "LOCAL_RANK": env.get("SLURM_LOCALID", "0"),
            }
            launcher = "slurm"
        if env.get("ACCELERATE_MIXED_PRECISION") is not None or env.get("ACCELERATE_DYNAMO_BACKEND") is not None:
            launcher = "accelerate"

        def get(name: str) -> str:
            return mapped.get(name, env.get(name, "")).strip()

        missing = [name for name in LAUNCH_VARS if not get(name)]
        if missing:
            raise UsageError(f"--distributed: {', '.join(missing)} not set, so this is not a rank of a launch; {HOW}")
        try:
            rank, size, port = int(get("RANK")), int(get("WORLD_SIZE")), int(get("MASTER_PORT"))
            local = int(get("LOCAL_RANK") or 0)
        except ValueError:
            shown = ", ".join(f"{n}={get(n)!r}" for n in (*LAUNCH_VARS, "LOCAL_RANK"))
            raise UsageError(f"--distributed: the launcher's variables are not numbers ({shown}); {HOW}") from None
        if size < 1 or rank < 0 or not 0 < port < 65536:
            raise UsageError(f"--distributed: RANK={rank}, WORLD_SIZE={size}, MASTER_PORT={port} cannot be a launch")
        return cls(rank, size, local, get("MASTER_ADDR"), port, launcher, mapped)

    def step_environment(self, environ: Mapping[str, str] | None = None) -> dict[str, str]:
        """The training-step probe's environment: ours without the launcher's variables (so Accelerate runs a
        single-process step instead of joining the launch) and with this rank's GPU only: the LOCAL_RANK-th
        of CUDA_VISIBLE_DEVICES (or GPU LOCAL_RANK when it is unset). Written for GPUs, not yet run on one."""
        env = runner.child_environment() if environ is None else dict(environ)
        for name in list(env):
            if _per_rank(name):
                del env[name]
        visible = env.get("CUDA_VISIBLE_DEVICES")
        if visible is None:
            env["CUDA_VISIBLE_DEVICES"] = str(self.local_rank)
        else:
            ids = [v.strip() for v in visible.split(",") if v.strip()]
            env["CUDA_VISIBLE_DEVICES"] = ids[self.local_rank] if self.local_rank < len(ids) else ""
        return env


def environment_facts(environ: Mapping[str, str] | None = None) -> dict[str, dict[str, str]]:
    """The variables that change how training behaves (NCCL_*, CUDA_VISIBLE_DEVICES, TORCH_*, HF_*, ...),
    each as ``{"shown": value, "digest": sha256}``. A secret's value is never shown (``****``); ranks compare
    the digests. Launcher variables, different on each rank by design, are left out."""
    env = os.environ if environ is None else environ
    redact = Redactor.from_environment(env)
    out = {}
    for name, value in sorted(env.items()):
        if _per_rank(name):
            continue
        if not (name in BEHAVIOUR_NAMES or name.startswith(BEHAVIOUR_PREFIXES)):
            continue
        secret = bool(secret_values({name: value})) or "TOKEN" in name.upper()
        out[name] = {
            "shown": MASK if secret else redact(value),
            "digest": hashlib.sha256(value.encode("utf-8", "surrogateescape")).hexdigest(),
        }
    return out


ACCELERATE_CONFIG_BYTES = 1024 * 1024


def accelerate_config(environ: Mapping[str, str] | None = None) -> dict[str, Any] | None:
    """Accelerate's default config file as accelerate finds it ($HF_HOME/accelerate/default_config.yaml), as
    ``{"path", "values"}`` with its top-level ``key: value`` lines; None when there is none. Read as text: no
    YAML library in envdoctor's process."""
    env = os.environ if environ is None else environ
    home = env.get("HF_HOME") or os.path.join(env.get("XDG_CACHE_HOME") or "~/.cache", "huggingface")
    for name in ("default_config.yaml", "default_config.json"):
        path = os.path.expanduser(os.path.join(home, "accelerate", name))
        try:
            info = os.stat(path)
            if not stat.S_ISREG(info.st_mode) or info.st_size > ACCELERATE_CONFIG_BYTES:
                continue
            text = Path(path).read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        return {"path": path, "values": _flat_config(text, json_file=name.endswith(".json"))}
    return None


def _flat_config(text: str, *, json_file: bool) -> dict[str, str]:
    if json_file:
        try:
            data = json.loads(text)
        except ValueError:
            return {}
        return {str(k): json.dumps(v) for k, v in data.items()} if isinstance(data, dict) else {}
    values = {}
    for line in text.splitlines():
        m = re.match(r"^([A-Za-z_][\w.-]*):\s*(.*?)\s*$", line)
        if m:
            values[m.group(1)] = m.group(2).strip("'\"")
    return values


# ------------------------------------------------------------------------------------------- running


@dataclass(frozen=True)
class Joined:
    """This rank's part: its own report and how the distributed probe ended."""

    launch: Launch
    report: Report
    result: runner.ProbeResult | None
    stopped: bool
    """envdoctor stopped the probe after waiting ``2 x timeout`` for it past its own report."""
    partial: Mapping[str, Any] | None
    timeout: float

    @property
    def payload(self) -> Mapping[str, Any] | None:
        if self.result is not None and self.result.payload is not None:
            return self.result.payload
        return self.partial

    @property
    def joined(self) -> bool:
        payload = self.payload
        return payload is not None and payload.get("phase") == "done"


def check(
    build: Callable[[dict[str, str]], Report],
    *,
    python: str,
    launch: Launch,
    timeout: float,
    device_bound: bool = False,
    on_wait: Callable[[str], None] | None = None,
) -> Joined:
    """Build this rank's report with ``build(step_environment)`` while the distributed probe joins the process
    group, hand the report to the probe, and wait for it: at most ``2 x timeout + 5`` s past the report, then its
    process group is killed. Ctrl-C / SIGTERM (torchrun stopping the ranks) kills it at once. The ranks of a node
    that would build the same report build it once (envdoctor.runtime.nodeshare); ``device_bound``: the report
    has a training step, which runs on the rank's own device; ``on_wait``: told when this rank waits for another's."""
    workdir = Path(tempfile.mkdtemp(prefix="envdoctor-dist-"))
    report_file, partial_file = workdir / "report.json", workdir / "partial.json"
    request = {
        "deadline_s": timeout,
        "report_file": str(report_file),
        "partial": str(partial_file),
        "report_wait_s": FOREVER,
    }
    env = runner.child_environment(launch.variables)
    groups: list[int] = []
    box: dict[str, Any] = {}

    def join() -> None:
        try:
            box["result"] = runner.run_probe(
                python, "distributed", request, timeout=FOREVER, env=env, on_start=groups.append
            )
        except BaseException as exc:  # TargetError: the interpreter cannot start; kept for the main thread
            box["error"] = exc

    thread = threading.Thread(target=join, name="envdoctor-distributed", daemon=True)
    thread.start()  # not deaf: it starts the probe, which must get the stop signals
    stopped = False
    shared = nodeshare.Shared(build, None, launch.rank, on_wait)
    try:
        shared.name = _share_key(launch, python, device_bound=device_bound)
        report = shared(launch.step_environment())
        _hand_over(report, report_file, shared.checked_by)
        limit = time.monotonic() + 2 * timeout + 5
        while thread.is_alive() and time.monotonic() < limit:
            thread.join(0.1)  # in slices: a signal reaches this thread at once
        if thread.is_alive():
            stopped = True
            runner.kill_groups(groups)
            thread.join()
        partial = _read_json(partial_file)
    except BaseException:
        runner.kill_groups(groups)
        thread.join()
        raise
    finally:
        shared.clean()
        shutil.rmtree(workdir, ignore_errors=True)
    if "error" in box:
        raise box["error"]
    return Joined(launch, report, box.get("result"), stopped, partial, timeout)


def _hand_over(report: Report, path: Path, checked_by: int | None) -> None:
    """Write what this rank tells the others (the probe waits for the file)."""
    wire = {
        "report": to_wire(report),
        "env": environment_facts(),
        "accelerate": accelerate_config(),
        "checked_by": checked_by,
    }
    tmp = path.with_name(path.name + ".partial")
    tmp.write_text(json.dumps(wire), encoding="utf-8")
    os.replace(tmp, path)


def _per_rank(name: str) -> bool:
    return name in PER_RANK_VARS or name.startswith("TORCHELASTIC_")


def _share_key(launch: Launch, python: str, *, device_bound: bool) -> str | None:
    """The name of this rank's report among the ranks of its node (envdoctor.runtime.nodeshare.key)."""
    named = {
        "master": [launch.master_addr, launch.master_port],
        "world_size": launch.world_size,
        "launcher": launch.launcher,
        "run": [os.environ.get("TORCHELASTIC_RUN_ID"), os.environ.get("TORCHELASTIC_RESTART_COUNT")],
    }
    return nodeshare.key(python=python, launch=named, per_rank=_per_rank, device_bound=device_bound)


def _read_json(path: Path) -> Mapping[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def to_wire(report: Report) -> dict[str, Any]:
    """The report as it travels to rank 0 (the JSON form)."""
    from envdoctor.render.json import to_dict

    return to_dict(report)


def from_wire(data: Mapping[str, Any]) -> Report:
    """Inverse of ``to_wire``, for what merging needs (findings, skipped, summary, checks, train)."""
    python = data.get("python") or {}
    built = Report.build(
        [Finding.from_dict(f) for f in data.get("findings") or ()],
        skipped=[Skipped(str(s.get("check")), str(s.get("reason"))) for s in data.get("skipped") or ()],
        summary=Summary(
            python=str(python.get("executable", "")),
            python_version=str(python.get("version", "")),
            distributions=int((data.get("summary") or {}).get("distributions") or 0),
        ),
        checks=data.get("checks") or (),
        train=data.get("train"),
    )
    return dataclasses.replace(built, probes=tuple(data.get("probes") or ()))


# ------------------------------------------------------------------------------------------- the outcome


def outcome(joined: Joined) -> Report:
    """The report this rank has to tell: on rank 0 after a complete gather, the merged report of every rank;
    else this rank's own report with what went wrong with the launch."""
    payload = joined.payload
    me = joined.launch
    if joined.joined and payload is not None and me.rank == 0 and payload.get("gathered"):
        return merge(joined.report, payload, timeout=joined.timeout, launcher=me.launcher)
    failures = [] if joined.joined else failure_findings(joined)
    if joined.stopped and payload is not None and payload.get("gathered") and me.rank == 0:  # NCCL never came back
        merged = merge(joined.report, payload, timeout=joined.timeout, launcher=me.launcher)
        return _with(merged, [_nccl_hung(joined, merged)])
    own = _with(joined.report, [f if f.ranks else dataclasses.replace(f, ranks=(me.rank,)) for f in failures])
    host = (payload or {}).get("me", {}).get("host", "") if payload else ""
    info = {
        "world_size": me.world_size,
        "backend": "gloo",
        "launcher": me.launcher,
        "complete": False,
        "nodes": None,
        "ranks": [{"rank": me.rank, "local_rank": me.local_rank, "node": host, "verdict": joined.report.verdict()}],
        "gloo": None,
        "nccl": None,
    }
    return dataclasses.replace(own, distributed=info)


def _with(report: Report, extra: Sequence[Finding]) -> Report:
    built = Report.build(
        [*report.findings, *extra],
        skipped=report.skipped,
        summary=report.summary,
        checks=list(dict.fromkeys([*report.checks, CHECK])),
        train=report.train,
    )
    return dataclasses.replace(built, probes=report.probes, distributed=report.distributed)


def failure_findings(joined: Joined) -> list[Finding]:
    """Why this rank could not take part, with the likely cause, from the phase the probe reached."""
    me, t = joined.launch, joined.timeout
    payload = joined.payload or {}
    result = joined.result
    at = f"{me.master_addr}:{me.master_port}"
    host = (payload.get("me") or {}).get("host") or "this node"
    if not payload:
        if joined.stopped:
            phase = _last_phase(result.command.stderr if result else "")
            return [_timeout_finding(me, t, phase)]
        message = result.message if result is not None else "no result"
        return [_finding(UNAVAILABLE_ID, f"the distributed probe did not run on rank {me.rank}: {message}")]
    phase = str(payload.get("phase"))
    error = payload.get("error") or {}
    text = f"{error.get('type')}: {error.get('message')}"
    if phase == "import":
        return [
            _finding(
                UNAVAILABLE_ID,
                f"rank {me.rank} cannot use torch.distributed: {text}",
                detail="--distributed joins the launch's process group with torch.distributed in the checked "
                "interpreter (gloo): torch must import there.",
                fix=("pip install torch (the build for this machine, from its index)",),
            )
        ]
    if phase == "store":
        return [_store_finding(me, t, text, at, host, unresolved=payload.get("unresolved"))]
    if phase == "rendezvous":
        return _rendezvous_findings(me, t, payload, text, at)
    if phase in ("init", "gather", "gloo"):
        return [
            _finding(
                COLLECTIVE_ID,
                f"the gloo {phase} of rank {me.rank} failed: {text}",
                detail="Every rank had joined the store, then the collective failed: a rank exited or was killed "
                "during the check (`Connection closed by peer`), the ranks cannot reach each other directly (gloo "
                "connects every pair of ranks, on ports other than MASTER_PORT: a firewall between nodes), "
                "GLOO_SOCKET_IFNAME names the wrong network interface, or a rank's own check took longer than "
                f"--timeout ({t:g} s) after the others'.",
                evidence=(f"MASTER_ADDR:MASTER_PORT={at}", f"phase: {phase}", f"node: {host}"),
            )
        ]
    return [_finding(COLLECTIVE_ID, f"the distributed check of rank {me.rank} ended in phase {phase}: {text}")]


def _store_finding(me: Launch, t: float, text: str, at: str, host: str, *, unresolved: Any = None) -> Finding:
    low = text.lower()
    if unresolved:
        return _finding(
            STORE_ID,
            f"MASTER_ADDR {me.master_addr} does not resolve on rank {me.rank} ({host}): {unresolved}",
            detail=f"{text}. Set MASTER_ADDR to rank 0's host name or address, as every node resolves it.",
            evidence=(f"MASTER_ADDR={me.master_addr}", f"getaddrinfo: {unresolved}"),
        )
    if "addrinuse" in low or "address already in use" in low:
        return _finding(
            PORT_ID,
            f"MASTER_PORT {me.master_port} is already in use on rank 0's node ({host})",
            detail=f"{text}. Another job, or a previous run still alive, holds the port: pick a free MASTER_PORT.",
            evidence=(f"MASTER_PORT={me.master_port}",),
        )
    return _finding(
        STORE_ID,
        f"rank {me.rank} could not reach the rendezvous store at {at} within {t:g} s",
        detail=f"{text}. Likely: rank 0 was never started or exited early (nothing listens there), MASTER_ADDR "
        "names another host (it must be rank 0's, as every node resolves it), or a firewall blocks MASTER_PORT "
        "between the nodes.",
        evidence=(f"MASTER_ADDR:MASTER_PORT={at}", f"node: {host}"),
    )


def _rendezvous_findings(me: Launch, t: float, payload: Mapping[str, Any], text: str, at: str) -> list[Finding]:
    entries = {int(k): v for k, v in (payload.get("entries") or {}).items()}
    missing = [int(r) for r in payload.get("missing") or ()]
    nodes = {r: str(e.get("host", "")) for r, e in entries.items()}
    out = []
    if not entries and not missing:  # the store went away mid-rendezvous
        return [
            _finding(
                STORE_ID,
                f"the rendezvous store at {at} went away while rank {me.rank} waited: {text}",
                detail="Rank 0 serves the store (or torchrun's agent on rank 0's node): it exited or was killed.",
            )
        ]
    sizes: dict[int, list[int]] = {}
    for r, e in entries.items():
        sizes.setdefault(int(e.get("world_size", 0)), []).append(r)
    if len(sizes) > 1 or any(r >= me.world_size for r in entries):
        said = "; ".join(f"WORLD_SIZE={size} on {label(rs, nodes)}" for size, rs in sorted(sizes.items()))
        out.append(
            _finding(
                WORLD_ID,
                f"the ranks disagree on the world size: {said}",
                detail="Every rank of a launch must be given the same WORLD_SIZE (torchrun: the same --nnodes and "
                "--nproc_per_node on every node; srun: --ntasks); each rank waits for WORLD_SIZE ranks, so a "
                "mismatch hangs the first collective.",
                evidence=tuple(f"rank {r}: WORLD_SIZE={e.get('world_size')}" for r, e in sorted(entries.items())),
                ranks=tuple(sorted(entries)),
            )
        )
    if missing and not out:  # a world-size mismatch explains the ranks waited for in vain
        came = label(sorted(entries), nodes) or "none"
        out.append(
            _finding(
                MISSING_ID,
                f"rank{'s' if len(missing) > 1 else ''} {', '.join(map(str, missing))} never joined within {t:g} s "
                f"(WORLD_SIZE={me.world_size}; joined: {came})",
                detail="Likely: that rank was never started (a node of the launch not started, or started with "
                "another MASTER_ADDR/MASTER_PORT), it exited before the check (see its own output), or "
                "WORLD_SIZE is larger than the number of processes launched.",
                evidence=(f"MASTER_ADDR:MASTER_PORT={at}", *(f"rank {r} joined from {h}" for r, h in nodes.items())),
                ranks=tuple(missing),
            )
        )
    return out


def _timeout_finding(me: Launch, t: float, phase: str) -> Finding:
    return _finding(
        TIMEOUT_ID,
        f"the distributed check of rank {me.rank} did not finish (last phase: {phase or 'start'}); it was stopped",
        detail=f"envdoctor waited 2 x --timeout ({t:g} s) after this rank's report and killed the probe's "
        "process group. A collective that hangs: a rank stuck or stopped (SIGSTOP, a debugger), or a network that "
        "drops packets between the ranks.",
    )


def _nccl_hung(joined: Joined, merged: Report) -> Finding:
    return _finding(
        NCCL_ID,
        "the NCCL all_gather did not finish: envdoctor stopped it (gloo worked, so the hosts reach each other)",
        detail=f"Stopped after 2 x --timeout ({joined.timeout:g} s). Likely: NCCL picked a network interface the "
        "other nodes cannot reach (set NCCL_SOCKET_IFNAME), InfiniBand/RoCE misconfigured (try NCCL_IB_DISABLE=1 "
        "to confirm), or peer-to-peer between GPUs broken (try NCCL_P2P_DISABLE=1). Rerun with NCCL_DEBUG=INFO.",
        ranks=tuple(int(r["rank"]) for r in (merged.distributed or {}).get("ranks", ())),
    )


def _last_phase(stderr: str) -> str:
    phases = re.findall(r"^envdoctor-phase: (\w+)$", stderr, re.MULTILINE)
    return phases[-1] if phases else ""


def _finding(
    rid: str,
    title: str,
    *,
    detail: str = "",
    evidence: Iterable[str] = (),
    fix: Iterable[str] = (),
    ranks: tuple[int, ...] = (),
    severity: Severity = Severity.ERROR,
    packages: Iterable[str] = ("torch",),
) -> Finding:
    return Finding(
        id=rid,
        severity=severity,
        title=title,
        detail=detail,
        packages=tuple(packages),
        evidence=tuple(evidence),
        advice=tuple(fix),
        check=CHECK,
        ranks=ranks,
    )


# ------------------------------------------------------------------------------------------- merging


@dataclass(frozen=True)
class RankView:
    """One rank as gathered: where it runs, its facts and its report."""

    rank: int
    local_rank: int
    host: str
    facts: Mapping[str, Any]
    report: Report
    env: Mapping[str, Mapping[str, str]]
    accelerate: Mapping[str, Any] | None
    checked_by: int
    """The rank whose check this rank's report is: its own, or another rank's of its node (nodeshare)."""

    @classmethod
    def from_gathered(cls, entry: Mapping[str, Any], own: Report | None = None) -> RankView:
        wire = entry.get("report") or {}
        return cls(
            rank=int(entry["rank"]),
            local_rank=int(entry.get("local_rank", 0)),
            host=str(entry.get("host", "")),
            facts=entry.get("facts") or {},
            report=own if own is not None else from_wire(wire.get("report") or {}),
            env=wire.get("env") or {},
            accelerate=wire.get("accelerate"),
            checked_by=int(entry["rank"] if wire.get("checked_by") is None else wire["checked_by"]),
        )

    @property
    def packages(self) -> Mapping[str, str]:
        return self.facts.get("packages") or {}

    @property
    def device(self) -> Mapping[str, Any]:
        return self.facts.get("device") or {}

    def gpu(self) -> str:
        """The GPU this rank trains on (its LOCAL_RANK-th visible one), in words."""
        device = self.device
        if not device.get("cuda_available"):
            return "no GPU"
        devices = {int(d.get("index", -1)): d for d in device.get("devices") or ()}
        mine = devices.get(self.local_rank)
        if mine is None:
            return f"no GPU for LOCAL_RANK {self.local_rank} ({device.get('device_count')} visible)"
        cc = mine.get("capability") or []
        return f"{mine.get('name')} (sm_{''.join(str(c) for c in cc)})"

    def torch_build(self) -> str:
        torch = self.facts.get("torch") or {}
        device = self.device
        if not torch.get("version"):
            return "no torch"
        parts = [f"torch {torch.get('version')}"]
        if device.get("torch_cuda"):
            parts.append(f"CUDA {device.get('torch_cuda')}")
        if device.get("torch_hip"):
            parts.append(f"HIP {device.get('torch_hip')}")
        if torch.get("nccl"):
            parts.append(f"NCCL {torch.get('nccl')}")
        return ", ".join(parts)


def merge(own: Report, payload: Mapping[str, Any], *, timeout: float, launcher: str = "") -> Report:
    """Rank 0's merged report from its own report and the probe's gathered payload (pure)."""
    gathered = [g for g in payload.get("gathered") or () if isinstance(g, Mapping)]
    views = [RankView.from_gathered(g, own if int(g["rank"]) == 0 else None) for g in gathered]
    views.sort(key=lambda v: v.rank)
    size = len(views)
    nodes = {v.rank: v.host for v in views}
    groups: dict[str, tuple[Finding, list[int]]] = {}
    for v in views:
        for f in v.report.findings:
            key = json.dumps(f.to_dict(), sort_keys=True)
            groups.setdefault(key, (f, []))[1].append(v.rank)
    findings = [dataclasses.replace(f, ranks=tuple(rs)) for f, rs in groups.values()]
    findings += drift(views, size)
    nccl = payload.get("nccl")
    findings += _nccl_findings(nccl, nodes, size)
    gloo = payload.get("gloo") or {}
    if gloo and not gloo.get("ok"):
        findings.append(_finding(COLLECTIVE_ID, f"the gloo all_gather returned wrong values: {gloo.get('error')}"))
    skipped: dict[tuple[str, str], list[int]] = {}
    for v in views:
        for sk in v.report.skipped:
            skipped.setdefault((sk.check, sk.reason), []).append(v.rank)
    skips = [
        Skipped(check, reason if len(rs) == size else f"{reason} (on {label(rs, nodes, size)})")
        for (check, reason), rs in skipped.items()
    ]
    built = Report.build(
        findings,
        skipped=skips,
        summary=own.summary,
        checks=list(dict.fromkeys([*own.checks, CHECK])),
        train=own.train,
    )
    info = {
        "world_size": size,
        "backend": "gloo",
        "launcher": launcher,
        "complete": True,
        "nodes": len(set(nodes.values())),
        "ranks": [
            {
                "rank": v.rank,
                "local_rank": v.local_rank,
                "node": v.host,
                "python": v.facts.get("python"),
                "torch": v.torch_build(),
                "gpu": v.gpu(),
                "verdict": v.report.verdict(),
                "checked_by": v.checked_by,
            }
            for v in views
        ],
        "gloo": {"ok": bool(gloo.get("ok")), "seconds": gloo.get("seconds"), "error": gloo.get("error")},
        "nccl": _nccl_info(nccl),
    }
    return dataclasses.replace(built, probes=own.probes, distributed=info)


def _nccl_info(nccl: Any) -> dict[str, Any]:
    if not isinstance(nccl, Mapping):
        return {"ran": False, "why": "not every rank has a CUDA GPU for its LOCAL_RANK", "ok": None, "ranks": []}
    ranks = [r for r in nccl.get("ranks") or () if isinstance(r, Mapping)]
    return {"ran": True, "why": "", "ok": bool(ranks) and all(r.get("ok") for r in ranks), "ranks": ranks}


def _nccl_findings(nccl: Any, nodes: Mapping[int, str], size: int) -> list[Finding]:
    if not isinstance(nccl, Mapping):
        return []
    bad = [r for r in nccl.get("ranks") or () if isinstance(r, Mapping) and not r.get("ok")]
    if not bad and not nccl.get("gather_error"):
        return []
    by_error: dict[str, list[int]] = {}
    for r in bad:
        error = r.get("error") or {}
        by_error.setdefault(f"{error.get('type')}: {error.get('message')}", []).append(int(r.get("rank", -1)))
    if nccl.get("gather_error"):
        by_error.setdefault(f"collecting the NCCL outcomes failed: {nccl['gather_error']}", [])
    return [
        _finding(
            NCCL_ID,
            f"the NCCL all_gather failed on {label(rs, nodes, size) or 'some ranks'}: {text}",
            detail="gloo worked between the same ranks, so the hosts reach each other: NCCL's own transport is the "
            "problem. Likely: NCCL_SOCKET_IFNAME (or the interface NCCL picks) not reachable from the other nodes, "
            "InfiniBand/RoCE misconfigured (NCCL_IB_DISABLE=1 to confirm), broken GPU peer-to-peer "
            "(NCCL_P2P_DISABLE=1 to confirm), or a driver/NCCL mismatch between nodes. Rerun with NCCL_DEBUG=INFO.",
            ranks=tuple(rs),
        )
        for text, rs in by_error.items()
    ]


# ------------------------------------------------------------------------------------------- drift


def _spread(values: Mapping[int, Any]) -> list[tuple[Any, list[int]]]:
    """Each distinct value with its ranks, in the order of the first rank that has it."""
    out: dict[str, tuple[Any, list[int]]] = {}
    for rank in sorted(values):
        key = json.dumps(values[rank], sort_keys=True, default=str)
        out.setdefault(key, (values[rank], []))[1].append(rank)
    return list(out.values())


def _drift(
    rid: str,
    what: str,
    values: Mapping[int, Any],
    nodes: Mapping[int, str],
    *,
    severity: Severity,
    show: Callable[[Any], str] = str,
    detail: str = "",
    packages: Iterable[str] = (),
    fix: Iterable[str] = (),
) -> Finding | None:
    spread = _spread(values)
    if len(spread) < 2:
        return None
    said = "; ".join(f"{show(value)} on {label(rs, nodes)}" for value, rs in spread)
    return Finding(
        id=rid,
        severity=severity,
        title=f"{what} differs between ranks: {said}",
        detail=detail,
        packages=tuple(packages),
        evidence=tuple(f"rank {r} ({nodes.get(r, '')}): {show(values[r])}" for r in sorted(values))
        if len(values) <= EVIDENCE_RANKS
        else (),
        fix=tuple(fix),
        check=CHECK,
        ranks=tuple(sorted(values)),
    )


def drift(views: Sequence[RankView], size: int) -> list[Finding]:
    """What differs between ranks that should be the same everywhere, each as a finding naming the ranks."""
    nodes = {v.rank: v.host for v in views}
    out: list[Finding | None] = [*_package_drift(views, nodes), *_machine_drift(views, nodes)]
    out += _precision_drift(views, nodes)
    out += _env_drift(views, nodes)
    out += _accelerate_drift(views, nodes)
    return [f for f in out if f is not None]


def _package_drift(views: Sequence[RankView], nodes: Mapping[int, str]) -> list[Finding | None]:
    """A distribution at another release (or missing) on some ranks; torch is judged with its build."""
    out: list[Finding | None] = []

    def version(value: Any) -> str:
        return "not installed" if value is None else str(value)

    names = sorted({n for v in views for n in v.packages} - {"torch"})  # torch: with its build, below
    for name in names:
        values = {v.rank: v.packages.get(name) for v in views}
        first = _spread(values)[0][0]  # rank 0's
        out.append(
            _drift(
                DRIFT_PACKAGE_ID,
                name,
                values,
                nodes,
                severity=Severity.ERROR if name in STACK else Severity.WARNING,
                show=version,
                packages=(name,),
                detail="Every rank must run the same code: a different release on one node fails late (an "
                "import, a changed default, a collective that never matches) or trains differently.",
                fix=(f"{name}=={first}",) if first is not None else (),
            )
        )
    return out


def _machine_drift(views: Sequence[RankView], nodes: Mapping[int, str]) -> list[Finding | None]:
    """Python, the torch build, the GPU and the driver, where they differ between ranks."""
    out: list[Finding | None] = []
    out.append(
        _drift(
            DRIFT_PYTHON_ID,
            "Python",
            {v.rank: v.facts.get("python") for v in views},
            nodes,
            severity=Severity.ERROR
            if len({".".join(str(v.facts.get("python")).split(".")[:2]) for v in views}) > 1
            else Severity.WARNING,
            show=lambda x: f"Python {x}",
        )
    )
    out.append(
        _drift(
            DRIFT_TORCH_ID,
            "the torch build",
            {v.rank: v.torch_build() for v in views},
            nodes,
            severity=Severity.ERROR,
            packages=("torch",),
            detail="Ranks with different torch builds (version, CUDA, NCCL) may not agree on the wire format "
            "of a collective, and compute differently.",
        )
    )
    gpus = {v.rank: v.gpu() for v in views}
    no_gpu_for_rank = any(g.startswith("no GPU for") for g in gpus.values())
    some_gpu = any(not g.startswith("no GPU") for g in gpus.values())
    missing_gpu = no_gpu_for_rank or (some_gpu and "no GPU" in gpus.values())
    out.append(
        _drift(
            DRIFT_GPU_ID,
            "the GPU",
            gpus,
            nodes,
            severity=Severity.ERROR if missing_gpu else Severity.WARNING,
            packages=("torch",),
            detail="The slowest GPU sets the pace of every step; a GPU model without a feature (bf16 below compute "
            "capability 8.0) changes what a precision does on that rank; a rank without a GPU for its LOCAL_RANK "
            "fails at its first CUDA call (fewer visible GPUs than processes on that node: CUDA_VISIBLE_DEVICES, "
            "--nproc_per_node).",
        )
    )
    out.append(
        _drift(
            DRIFT_DRIVER_ID,
            "the NVIDIA driver (CUDA it supports)",
            {v.rank: v.device.get("driver_cuda") for v in views},
            nodes,
            severity=Severity.WARNING,
            show=lambda x: "no driver" if x is None else f"CUDA {x}",
        )
    )
    return out


def _env_drift(views: Sequence[RankView], nodes: Mapping[int, str]) -> list[Finding | None]:
    """An environment variable that changes behaviour, with another value (compared by digest) on some ranks."""
    out: list[Finding | None] = []
    names = sorted({n for v in views for n in v.env})
    for name in names:
        shown = {v.rank: (v.env.get(name) or {}).get("shown") for v in views}
        digest = {v.rank: (v.env.get(name) or {}).get("digest") for v in views}
        if len(_spread(digest)) > 1:
            found = _drift(
                DRIFT_ENV_ID,
                name,
                {r: (digest[r], shown[r]) for r in digest},
                nodes,
                severity=Severity.WARNING,
                show=lambda pair: "unset" if pair[1] is None else repr(pair[1]),
                detail="An environment variable that changes how torch, NCCL or the Hugging Face libraries behave "
                "has another value on some ranks (set it in the launch script, for every rank).",
            )
            out.append(found)
    return out


def _precision_drift(views: Sequence[RankView], nodes: Mapping[int, str]) -> list[Finding | None]:
    verdicts: dict[str, dict[int, str]] = {}
    requested = None
    for v in views:
        train = v.report.train or {}
        requested = requested or train.get("requested")
        for p in train.get("precisions") or ():
            verdicts.setdefault(str(p.get("precision")), {})[v.rank] = str(p.get("verdict"))
    label_of = {"no": "fp32", "fp16": "fp16", "bf16": "bf16"}
    return [
        _drift(
            DRIFT_PRECISION_ID,
            f"the {label_of.get(p, p)} training step's verdict",
            values,
            nodes,
            severity=Severity.ERROR if p == requested else Severity.WARNING,
            packages=("torch", "accelerate"),
            detail="The same precision does not do the same thing on every rank (another GPU, another build): "
            "the ranks would train in different dtypes or fail apart.",
        )
        for p, values in verdicts.items()
        if len(values) == len(views)
    ]


def _accelerate_drift(views: Sequence[RankView], nodes: Mapping[int, str]) -> list[Finding | None]:
    configs = {v.rank: v.accelerate for v in views}
    if all(c is None for c in configs.values()):
        return []
    keys = sorted({k for c in configs.values() if c for k in (c.get("values") or {})})
    out: list[Finding | None] = []
    for key in keys:
        values = {r: None if c is None else (c.get("values") or {}).get(key) for r, c in configs.items()}
        out.append(
            _drift(
                DRIFT_ACCELERATE_ID,
                f"accelerate config `{key}`",
                values,
                nodes,
                severity=Severity.WARNING,
                show=lambda x: "unset" if x is None else repr(x),
                packages=("accelerate",),
                detail="Each node reads its own accelerate config file ($HF_HOME/accelerate/default_config.yaml): "
                "copy one file to every node, or pass --config_file to accelerate launch.",
            )
        )
    return out


def tell(report: Report, rank: int, redact: Callable[[str], str]) -> list[str]:
    """What a rank other than 0 prints (stderr): its own failures only."""
    lines = [
        f"envdoctor: rank {rank}: {str(f.severity).upper()} [{f.id}] {redact(f.title)}"
        for f in report.active
        if f.check == CHECK and f.severity >= Severity.WARNING
    ]
    return lines
