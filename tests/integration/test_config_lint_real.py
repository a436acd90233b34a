"""Config lint for real: accelerate configs written by accelerate's own writer (``ClusterConfig.to_yaml_file``, what
``accelerate config`` calls) in the train-cpu bed (accelerate 1.15.0), read by probes/accelerate_config.py there
(PyYAML from the bed), linted against device facts. No GPU ran here: the GPU machines are tests/data/step-train-cpu.json's
device facts edited by hand, since the lint is pure given the device facts."""

from __future__ import annotations

import copy
import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from envdoctor.runtime import config_lint
from tests import beds
from tests.hostile import envdoctor

pytestmark = pytest.mark.venv

DATA = Path(__file__).resolve().parents[1] / "data"
WRITER = """
import json, sys
from accelerate.commands.config.config_args import ClusterConfig
from accelerate.utils import ComputeEnvironment, DistributedType
kw = json.loads(sys.argv[2])
kw["distributed_type"] = DistributedType(kw["distributed_type"])
kw.setdefault("mixed_precision", None)  # what `accelerate config` passes with a DeepSpeed config file
ClusterConfig(compute_environment=ComputeEnvironment.LOCAL_MACHINE, debug=False, use_cpu=False, **kw).to_yaml_file(sys.argv[1])
"""


def written(bed: beds.Bed, path: Path, **settings: Any) -> Path:
    """``path``: an accelerate config as accelerate 1.15.0's writer writes it."""
    subprocess.run([str(bed.python), "-c", WRITER, str(path), json.dumps(settings)], check=True, timeout=120)
    return path


def machine(name: str, capability: tuple[int, int], count: int, shm_mib: int) -> dict[str, Any]:
    """Device facts of a CUDA machine: the recorded CPU run's, edited (no GPU ran here)."""
    device: dict[str, Any] = copy.deepcopy(json.loads((DATA / "step-train-cpu.json").read_text())["device"])
    device.update(
        torch_build="cuda",
        torch_cuda="12.8",
        cuda_available=True,
        device_count=count,
        devices=[
            {"index": i, "name": name, "capability": list(capability), "total_memory": 16 << 30} for i in range(count)
        ],
        shm={"total_bytes": shm_mib << 20, "free_bytes": shm_mib << 20},
    )
    return device


T4_X2 = machine("Tesla T4", (7, 5), 2, 64)
A100 = machine("NVIDIA A100-SXM4-40GB", (8, 0), 1, 8192)


def lint(bed: beds.Bed, config: Path, device: dict[str, Any]) -> dict[str, str]:
    payload, skipped = config_lint.run(str(bed.python), path=str(config), cwd=str(config.parent), timeout=60)
    assert skipped is None and payload is not None
    return {f.id: f.title for f in config_lint.lint(payload, device)}


@pytest.fixture
def no_cuda_home(monkeypatch: pytest.MonkeyPatch) -> None:
    """No CUDA toolkit: no CUDA_HOME, no nvcc on PATH (this machine has an nvcc script in /usr/local/bin)."""
    monkeypatch.delenv("CUDA_HOME", raising=False)
    monkeypatch.delenv("CUDA_PATH", raising=False)
    monkeypatch.setenv("PATH", "/usr/bin:/bin")


def test_bf16_on_two_t4s_and_too_little_shm(train_cpu: beds.Bed, tmp_path: Path) -> None:
    config = written(
        train_cpu, tmp_path / "c.yaml", distributed_type="MULTI_GPU", mixed_precision="bf16", num_processes=2
    )
    found = lint(train_cpu, config, T4_X2)
    assert set(found) == {"accelerate-config-bf16-unsupported", "shm-too-small"}
    assert "Tesla T4 (sm_75)" in found["accelerate-config-bf16-unsupported"]
    assert found["shm-too-small"].startswith("/dev/shm is 64 MiB")
    assert lint(train_cpu, config, machine("NVIDIA A100", (8, 0), 2, 8192)) == {}  # the same file, where it fits


def test_more_processes_than_gpus_and_a_multi_gpu_type_on_one_gpu(train_cpu: beds.Bed, tmp_path: Path) -> None:
    config = written(
        train_cpu, tmp_path / "c.yaml", distributed_type="MULTI_GPU", mixed_precision="bf16", num_processes=2
    )
    found = lint(train_cpu, config, A100)
    assert set(found) == {"accelerate-config-too-many-processes", "accelerate-config-multi-gpu-on-one"}
    assert found["accelerate-config-too-many-processes"].endswith(
        "num_processes 2 on 1 machine(s), 1 GPU(s) visible here"
    )


def deepspeed_json(path: Path, **extra: Any) -> Path:
    """A DeepSpeed config as the DeepSpeed docs' ZeRO-2 example writes it."""
    config = {
        "train_micro_batch_size_per_gpu": "auto",
        "gradient_accumulation_steps": 4,
        "bf16": {"enabled": True},
        "zero_optimization": {"stage": 2, "offload_optimizer": {"device": "cpu", "pin_memory": True}},
        **extra,
    }
    path.write_text(json.dumps(config, indent=4))
    return path


def test_deepspeed_settings_in_both_files(train_cpu: beds.Bed, tmp_path: Path, no_cuda_home: None) -> None:
    ds = deepspeed_json(tmp_path / "ds.json")
    config = written(
        train_cpu,
        tmp_path / "c.yaml",
        distributed_type="DEEPSPEED",
        mixed_precision="fp16",
        num_processes=1,
        deepspeed_config={
            "deepspeed_config_file": "ds.json",
            "gradient_accumulation_steps": 2,
            "zero3_init_flag": False,
        },
    )
    found = lint(train_cpu, config, A100)
    assert set(found) == {
        "accelerate-config-set-twice",
        "accelerate-config-grad-accum-mismatch",
        "deepspeed-ops-no-cuda-home",
    }
    assert (
        "mixed_precision: fp16" in found["accelerate-config-set-twice"]
        and "(the DeepSpeed JSON says bf16)" in (found["accelerate-config-set-twice"])
    )
    assert f"the DeepSpeed JSON {ds} says 4" in found["accelerate-config-grad-accum-mismatch"]
    assert "compiles cpu_adam" in found["deepspeed-ops-no-cuda-home"]
    assert "Tesla T4 (sm_75)" in lint(train_cpu, config, T4_X2)["accelerate-config-bf16-unsupported"]


def test_what_accelerate_config_writes_for_a_deepspeed_file_is_clean(
    train_cpu: beds.Bed, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    deepspeed_json(tmp_path / "ds.json")
    config = written(
        train_cpu,
        tmp_path / "c.yaml",
        distributed_type="DEEPSPEED",
        num_processes=1,
        deepspeed_config={"deepspeed_config_file": str(tmp_path / "ds.json"), "zero3_init_flag": False},
    )
    monkeypatch.setenv("CUDA_HOME", "/usr/local/cuda")
    assert lint(train_cpu, config, A100) == {}


def test_malformed_files_are_findings_with_file_and_line(train_cpu: beds.Bed, tmp_path: Path) -> None:
    config = written(
        train_cpu, tmp_path / "c.yaml", distributed_type="MULTI_GPU", mixed_precision="bf16", num_processes=2
    )
    lines = config.read_text().splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith("num_processes"))
    lines[at] = "num_processes: [2"
    config.write_text("\n".join(lines) + "\n")
    [(fid, title)] = lint(train_cpu, config, A100).items()
    assert fid == "accelerate-config-invalid" and title.startswith(f"{config}:{at + 2}: not valid YAML")
    ds = tmp_path / "ds.json"
    ds.write_text('{\n  "bf16": {"enabled": true},\n}\n')
    good = written(
        train_cpu,
        tmp_path / "d.yaml",
        distributed_type="DEEPSPEED",
        num_processes=1,
        deepspeed_config={"deepspeed_config_file": str(ds)},
    )
    [(fid, title)] = lint(train_cpu, good, A100).items()
    assert fid == "accelerate-config-invalid" and title.startswith(f"{ds}:3: not valid JSON")


def test_the_default_config_under_hf_home_is_linted_by_check_train(
    train_cpu: beds.Bed, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "accelerate").mkdir()
    written(train_cpu, tmp_path / "accelerate" / "default_config.yaml", distributed_type="MULTI_GPU", num_processes=2)
    monkeypatch.setenv("HF_HOME", str(tmp_path))
    proc = envdoctor("check", "--python", str(train_cpu.python), "--train", "--no-symbols", "--format", "json")
    assert proc.returncode == 1, proc.stderr  # an error: this machine has no GPU
    report = json.loads(proc.stdout)
    assert report["train"]["config"] == {
        "path": str(tmp_path / "accelerate" / "default_config.yaml"),
        "source": "default",
    }
    ids = [f["id"] for f in report["findings"] if f["check"] == "config-lint"]
    assert ids == ["accelerate-config-too-many-processes"]


def test_a_malformed_config_given_on_the_command_line_is_an_error_not_a_crash(
    train_cpu: beds.Bed, tmp_path: Path
) -> None:
    config = tmp_path / "broken.yaml"
    config.write_text("compute_environment: LOCAL_MACHINE\n\tdistributed_type: MULTI_GPU\n")
    args = ("check", "--python", str(train_cpu.python), "--accelerate-config", str(config), "--no-symbols")
    proc = envdoctor(*args, "--format", "text")
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert f"ERROR [accelerate-config-invalid] {config}:2: not valid YAML" in proc.stdout
    assert os.path.exists(config)
