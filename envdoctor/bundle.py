"""``envdoctor report``: one bundle for a bug report, instead of ``transformers env``, ``accelerate env`` and
``python -m torch.utils.collect_env``.

What it holds: the training stack's versions and builds (local tag, wheel tag, installer, editable or VCS
source), Python and the platform, the device facts (the training-step probe with ``facts_only``: torch's
build, CUDA, the GPUs, the driver, MPS, CPUs, /dev/shm; only when torch is installed), the findings of
``envdoctor check``, the accelerate config file, pip's index configuration and the environment variables that
steer the stack. The device probe runs in a thread beside the check, so the bundle costs about the slower of
the two. The command line redacts every string (envdoctor.redact.Redactor.for_output) before rendering.
"""

from __future__ import annotations

import os
import platform
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from envdoctor.knowledge.stack import STACK
from envdoctor.progress import Progress, Silent
from envdoctor.report import Report

SCHEMA = "envdoctor.bundle/1"

ENV_PREFIXES = ("CUDA_", "NCCL_", "HF_", "HUGGING_FACE_", "TRANSFORMERS_", "ACCELERATE_", "PYTORCH_", "TORCH_")
ENV_NAMES = (
    "OMP_NUM_THREADS",
    "WANDB_API_KEY",
    "WANDB_MODE",
    "PIP_INDEX_URL",
    "PIP_EXTRA_INDEX_URL",
    "LD_LIBRARY_PATH",
)


@dataclass(frozen=True)
class Bundle:
    report: Report
    python: Mapping[str, Any]
    system: Mapping[str, Any]
    stack: tuple[Mapping[str, Any], ...]
    device: Mapping[str, Any] | None
    device_note: str
    accelerate_config: Mapping[str, Any]
    pip: Mapping[str, Any]
    environment: Mapping[str, str] = field(default_factory=dict)

    def to_dict(self, *, redacted: bool) -> dict[str, Any]:
        from envdoctor._version import __version__
        from envdoctor.render.json import to_dict

        return {
            "schema": SCHEMA,
            "envdoctor_version": __version__,
            "redacted": redacted,
            "python": dict(self.python),
            "system": dict(self.system),
            "stack": [dict(row) for row in self.stack],
            "device": dict(self.device) if self.device is not None else None,
            "device_note": self.device_note,
            "accelerate_config": dict(self.accelerate_config),
            "pip": dict(self.pip),
            "environment": dict(self.environment),
            "check": to_dict(self.report),
        }


def collect(
    *,
    python: str | os.PathLike[str] | None = None,
    timeout: float = 60.0,
    device: bool = True,
    progress: Progress | None = None,
    env: Mapping[str, str] | None = None,
) -> Bundle:
    """Everything the bundle holds, for the environment of ``python`` (default: this interpreter). Raises what
    envdoctor.api.check raises; a device probe that fails is a note in the bundle, never an error."""
    from envdoctor import api
    from envdoctor.target import Target

    env = os.environ if env is None else env
    progress = progress if progress is not None else Silent()
    target = Target.resolve(python)
    progress.step(f"reading the environment of {target.python}")
    inv = target.inventory(timeout=timeout)
    facts: dict[str, Any] = {}
    worker = None
    groups: list[int] = []
    if device and inv.get("torch") is not None:
        progress.step("reading the device facts (imports torch in the target)")
        worker = threading.Thread(target=_device, args=(target.python, timeout, facts, groups.append), daemon=True)
        worker.start()
    try:
        report = api.check(python=target.python, timeout=timeout, progress=progress)
        while worker is not None and worker.is_alive():  # in slices: a stop signal the kernel hands to the
            worker.join(0.2)  # worker must not wait for the probe's timeout (see runner.start_deaf)
    except BaseException:  # Ctrl-C, SIGTERM, a target that cannot be read: the device probe does not outlive us
        from envdoctor import runner

        runner.kill_groups(groups)
        raise
    note = facts.get("note", "") if device else "not read (--no-device)"
    if device and inv.get("torch") is None:
        note = "torch is not installed in the target"
    return Bundle(
        report=report,
        python={
            "executable": inv.python.executable,
            "version": inv.python.version,
            "implementation": inv.python.implementation,
            "sysconfig_platform": inv.python.platform,
            "soabi": inv.python.soabi,
            "venv": bool(inv.python.base_prefix) and inv.python.prefix != inv.python.base_prefix,
            "prefix": inv.python.prefix,
        },
        system=_system(inv.markers),
        stack=tuple(_row(inv, name) for name in STACK if inv.get(name) is not None),
        device=facts.get("device"),
        device_note=note,
        accelerate_config=_accelerate_config(env),
        pip=_pip(inv.python.prefix, env),
        environment=_environment(env),
    )


def _device(python: str, timeout: float, out: dict[str, Any], on_start: Callable[[int], None]) -> None:
    from envdoctor import runner

    try:
        result = runner.run_probe(python, "step", {"facts_only": True}, timeout=timeout, on_start=on_start)
    except Exception as exc:  # the bundle is still worth having without the device
        out["note"] = f"the device probe could not run: {exc}"
        return
    payload = result.payload if result.ok else None
    torch = (payload or {}).get("imports", {}).get("torch") or {}
    if payload is None:
        out["note"] = f"the device probe failed: {result.message}"
    elif not torch.get("ok", False):
        error = torch.get("error") or {}
        out["note"] = f"`import torch` fails in the target: {error.get('type')}: {error.get('message')}"
        out["device"] = payload.get("device")
    else:
        out["device"] = payload.get("device")
        out["note"] = f"torch {torch.get('version') or ''} imported in the target".replace("  ", " ")


def _row(inv: Any, name: str) -> dict[str, Any]:
    from envdoctor.knowledge.torchbuild import pytorch_tag

    dist = inv.get(name)
    direct = dist.direct_url or {}
    source = ""
    if direct.get("dir_info", {}).get("editable"):
        source = f"editable {direct.get('url', '')}"
    elif "vcs_info" in direct:
        vcs = direct["vcs_info"]
        source = f"{vcs.get('vcs', 'vcs')} {direct.get('url', '')}@{vcs.get('commit_id', '')}"
    elif direct.get("url"):
        source = str(direct["url"])
    copies = inv.copies.get(dist.name, ())
    return {
        "name": dist.display_name,
        "version": dist.raw_version,
        "build": pytorch_tag(dist.raw_version) or "",
        "wheel": ", ".join(dist.wheel_tags),
        "installer": dist.installer or "",
        "source": source,
        "copies": len(copies),
    }


def _system(markers: Mapping[str, str]) -> dict[str, Any]:
    """The platform, as ``transformers env`` and ``collect_env`` print it (read here: the target runs on this
    machine), and the target's PEP 508 markers."""
    libc, libc_version = platform.libc_ver()
    return {
        "platform": platform.platform(),
        "os": _os_release(),
        "machine": markers.get("platform_machine", ""),
        "kernel": markers.get("platform_release", ""),
        "libc": f"{libc} {libc_version}".strip(),
        "cpu": _cpu_model(),
        "memory_bytes": _memory(),
    }


def _os_release() -> str:
    try:
        for line in Path("/etc/os-release").read_text(encoding="utf-8").splitlines():
            if line.startswith("PRETTY_NAME="):
                return line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    return platform.system()


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def _memory() -> int | None:
    try:
        for line in Path("/proc/meminfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def _accelerate_config(env: Mapping[str, str]) -> dict[str, Any]:
    """accelerate's default config file, found as accelerate finds it (``$HF_HOME/accelerate``, else
    ``${XDG_CACHE_HOME:-~/.cache}/huggingface/accelerate``; default_config.yaml, else .json)."""
    home = env.get("HF_HOME") or os.path.join(env.get("XDG_CACHE_HOME") or "~/.cache", "huggingface")
    folder = Path(os.path.expanduser(home)) / "accelerate"
    for name in ("default_config.yaml", "default_config.json"):
        path = folder / name
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        return {"path": str(path), "text": text[:20000]}
    return {"path": str(folder / "default_config.yaml"), "text": None}


def _pip(prefix: str, env: Mapping[str, str]) -> dict[str, Any]:
    from envdoctor.fix.pipconfig import PipConfig

    cfg = PipConfig.load(prefix or None, env)
    return {
        "index_url": cfg.index_url,
        "extra_index_urls": list(cfg.extra_index_urls),
        "find_links": list(cfg.find_links),
        "config_files": list(cfg.files),
    }


def _environment(env: Mapping[str, str]) -> dict[str, str]:
    """The variables that steer the stack; a secret's value is never shown (only that it is set)."""
    from envdoctor.redact import MASK, is_secret_name

    names = sorted(k for k in env if k.startswith(ENV_PREFIXES) or k in ENV_NAMES)
    return {k: f"set ({MASK})" if is_secret_name(k) else env[k] for k in names}
