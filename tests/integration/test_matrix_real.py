"""The matrix on real venvs, and every rule's wheel evidence checked against the real wheel."""

from __future__ import annotations

import hashlib
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest

from envdoctor.cache import Cache
from envdoctor.checks.signals import torch as torch_signals
from envdoctor.checks.signals.base import Files
from envdoctor.diagnose import load_matrix
from envdoctor.inventory import Dist
from envdoctor.knowledge.matrix import Evidence, HardwareFact, Matrix, Rule
from tests import beds, peers


def _report(python: Path) -> dict[str, Any]:
    return peers.envdoctor_report(python)[1]


@pytest.mark.venv
def test_torchvision_cuda_build_beside_cpu_torch(torchvision_cuda_on_cpu: beds.Bed) -> None:
    bed = torchvision_cuda_on_cpu
    rc, out = peers.pip_check(bed.python)
    assert rc == 0, out  # the versions match exactly ...
    data = _report(bed.python)  # ... envdoctor says why it will fail, before anything imports it ...
    [f] = [f for f in data["findings"] if f["severity"] == "error"]
    assert f["id"] == "torchvision-cuda-build-on-cpu-torch"
    assert f["title"] == "torchvision 0.28.0 is a CUDA build, but torch 2.13.0+cpu is a CPU build"
    assert any("torchvision/_C.so needs libc10_cuda.so" in e for e in f["evidence"])
    proc = subprocess.run([str(bed.python), "-c", "import torchvision"], capture_output=True, text=True, timeout=600)
    assert "operator torchvision::nms does not exist" in proc.stderr  # ... and it does fail


def _errors(data: dict[str, Any]) -> list[dict[str, Any]]:
    return [f for f in data["findings"] if f["severity"] == "error"]


@pytest.mark.venv
def test_torchaudio_cuda_build_beside_cpu_torch(torchaudio_cuda_on_cpu: beds.Bed) -> None:
    bed = torchaudio_cuda_on_cpu
    assert peers.pip_check(bed.python)[0] == 0  # torchaudio 2.11.0 declares nothing: pip has nothing to check
    [f] = _errors(_report(bed.python))
    assert f["id"] == "torchaudio-cuda-build-on-cpu-torch"
    assert f["title"] == "torchaudio 2.11.0 is a CUDA build, but torch 2.13.0+cpu is a CPU build"
    assert any("torchaudio/lib/_torchaudio.abi3.so needs libc10_cuda.so" in e for e in f["evidence"])
    proc = subprocess.run([str(bed.python), "-c", "import torchaudio"], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 1
    assert "libc10_cuda.so: cannot open shared object file" in proc.stderr
    assert "OSError: Could not load this library" in proc.stderr and "_torchaudio.abi3.so" in proc.stderr


@pytest.mark.venv
def test_xformers_cuda_build_beside_cpu_torch(xformers_cuda_on_cpu: beds.Bed) -> None:
    bed = xformers_cuda_on_cpu
    assert peers.pip_check(bed.python)[0] == 0
    data = _report(bed.python)
    assert _errors(data) == []  # import works: a warning, not an error
    [f] = [f for f in data["findings"] if f["id"] == "xformers-cuda-build-on-cpu-torch"]
    assert f["severity"] == "warning"
    assert f["title"] == (
        "xformers 0.0.35 was built for torch 2.10.0+cu128 (CUDA 12.8), you have torch 2.13.0+cpu, a CPU build"
    )
    assert f["fix"] == ["torch==2.10.0"]
    proc = subprocess.run([str(bed.python), "-c", "import xformers"], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0
    assert "PyTorch 2.10.0+cu128 with CUDA 1208 (you have 2.13.0+cpu)" in proc.stderr  # xformers says the same
    code = "import torch, xformers.ops as x; q = torch.randn(1, 8, 2, 16); x.memory_efficient_attention(q, q, q)"
    proc = subprocess.run([str(bed.python), "-c", code], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 1
    assert "NotImplementedError: No operator found for `memory_efficient_attention_forward`" in proc.stderr
    assert "operator wasn't built" in proc.stderr


@pytest.mark.venv
def test_first_step_keeps_the_cpu_builds_on_real_beds(
    torchtext_newer_torch: beds.Bed, torchvision_cuda_on_cpu: beds.Bed
) -> None:
    """The fix names torch==2.3.0 (torchtext's torch) and torchvision==0.28.0+cpu; from PyPI the first is the CUDA
    build (GBs over the CPU one) and the second does not exist: both go to the CPU index."""
    for bed, line in (
        (torchtext_newer_torch, "pip install torch==2.3.0 --index-url https://download.pytorch.org/whl/cpu"),
        (
            torchvision_cuda_on_cpu,
            "pip install torchvision==0.28.0+cpu --index-url https://download.pytorch.org/whl/cpu",
        ),
    ):
        out = subprocess.run(
            [sys.executable, "-m", "envdoctor", "check", "--python", str(bed.python), "--format", "text"],
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        ).stdout
        lines = out.splitlines()
        assert lines[lines.index("Fix (first step):") + 1 :][:2] == [f"  {line}", ""], out


@pytest.mark.venv
def test_torchtext_built_for_older_torch(torchtext_newer_torch: beds.Bed) -> None:
    bed = torchtext_newer_torch
    assert peers.pip_check(bed.python)[0] == 0  # torchtext 0.18.0 declares torch>=2.3.0
    [f] = _errors(_report(bed.python))
    assert f["id"] == "extension-built-for-another-torch"
    assert f["title"] == (
        "torchtext 0.18.0 was built for another torch (it declares torch>=2.3.0): torch 2.13.0+cpu lacks 17 C++ "
        "symbols its extensions link to"
    )
    assert f["fix"] == ["torch==2.3.0"]
    proc = subprocess.run([str(bed.python), "-c", "import torchtext"], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 1
    # the symbol the loader names is one envdoctor counted (it names the first it cannot bind)
    symbol = proc.stderr.split("undefined symbol: ", 1)[1].split()[0]
    assert symbol == "_ZN5torch6detail10class_baseC2ERKSsS3_SsRKSt9type_infoS6_"
    links = torch_signals._torch_links(_dist(bed, "torchtext"), Files(Cache(None)))
    assert symbol in links["torchtext/lib/libtorchtext.so"]["undefined"]
    assert "OSError: Could not load this library" in proc.stderr


def _dist(bed: beds.Bed, name: str) -> Dist:
    from tests.fakes import scan

    dist = scan(bed.site).get(name)
    assert dist is not None
    return dist


def wheel_evidence() -> list[tuple[str, Evidence]]:
    """Every wheel a rule or a hardware fact cites (the torch ones are the local CPU build, never a CUDA download)."""
    matrix = load_matrix()
    assert isinstance(matrix, Matrix), matrix
    items: list[Rule | HardwareFact] = [*matrix.rules, *matrix.hardware]
    return [(item.id, e) for item in items for e in item.evidence if e.kind == "wheel"]


@pytest.fixture(scope="module")
def wheel_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("wheels")


@pytest.mark.online
@pytest.mark.parametrize(("rule_id", "evidence"), wheel_evidence(), ids=lambda x: x if isinstance(x, str) else "")
def test_wheel_evidence_is_in_the_real_wheel(rule_id: str, evidence: Evidence, wheel_dir: Path) -> None:
    f = evidence.fields
    wheel = wheel_dir / f["wheel"]
    if not wheel.exists():  # a wheel cited several times is fetched once
        name, version = f["wheel"].split("-")[:2]
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--no-deps",
                "--only-binary=:all:",
                "-q",
                "-d",
                str(wheel_dir),
                f"{name}=={version}",
            ],
            check=True,
            timeout=900,
        )
    assert hashlib.sha256(wheel.read_bytes()).hexdigest() == f["sha256"], rule_id
    data = zipfile.ZipFile(wheel).read(f["path"])
    if f.get("line"):
        line = data.decode("utf-8").splitlines()[int(f["line"]) - 1]
        assert str(f["match"]) in line, (rule_id, line)
    else:
        assert str(f["match"]).encode() in data, rule_id


@pytest.mark.venv
def test_numpy1_built_extensions_under_numpy2(numpy2_abi_break: beds.Bed, numpy2_abi_ok: beds.Bed) -> None:
    bed = numpy2_abi_break
    rc, out = peers.pip_check(bed.python)
    assert rc == 0, out
    data = _report(bed.python)
    flagged = sorted(f["packages"][0] for f in data["findings"] if f["id"] == "numpy1-extension-under-numpy2")
    assert flagged == ["bottleneck", "h5py"]
    for module, error in (
        ("bottleneck", "numpy.core.multiarray failed to import"),
        ("h5py", "numpy.dtype size changed"),
    ):
        proc = subprocess.run([str(bed.python), "-c", f"import {module}"], capture_output=True, text=True, timeout=300)
        assert proc.returncode != 0 and error in proc.stderr
    # the control: releases built against numpy 2, same numpy: nothing flagged, and they import
    assert [f for f in _report(numpy2_abi_ok.python)["findings"] if f["severity"] == "error"] == []
    proc = subprocess.run(
        [str(numpy2_abi_ok.python), "-c", "import bottleneck, h5py"], capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr


@pytest.mark.venv
def test_numpy2_removed_name_at_import(numpy2_removed_name: beds.Bed, numpy2_removed_name_ok: beds.Bed) -> None:
    bed = numpy2_removed_name
    rc, out = peers.pip_check(bed.python)
    assert rc == 0, out
    [f] = [f for f in _report(bed.python)["findings"] if f["id"] == "numpy2-removed-name-at-import"]
    assert f["packages"] == ["nibabel", "numpy"]
    assert any(
        str(e).endswith("nibabel/casting.py:717: np.sctypes (numpy 2: Access dtypes explicitly instead.)")
        for e in f["evidence"]
    )
    proc = subprocess.run([str(bed.python), "-c", "import nibabel"], capture_output=True, text=True, timeout=300)
    assert "`np.sctypes` was removed in the NumPy 2.0 release" in proc.stderr
    ok = _report(numpy2_removed_name_ok.python)
    assert [f for f in ok["findings"] if f["id"].startswith("numpy2-")] == []


LOAD_JSON = (
    "import sys, datasets\nds = datasets.load_dataset('json', data_files=sys.argv[1], split='train')\nprint(len(ds))\n"
)


@pytest.mark.venv
def test_datasets_local_files_with_fsspec_2023_10(
    datasets_fsspec_protocol: beds.Bed, datasets_fsspec_protocol_ok: beds.Bed, tmp_path: Path
) -> None:
    data = tmp_path / "tiny.jsonl"
    data.write_text('{"text": "a"}\n{"text": "b"}\n')
    env = {"HF_DATASETS_OFFLINE": "1", "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf"), "PATH": "/usr/bin:/bin"}

    def load(bed: beds.Bed) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(bed.python), "-c", LOAD_JSON, str(data)], capture_output=True, text=True, timeout=600, env=env
        )

    bed = datasets_fsspec_protocol
    assert peers.pip_check(bed.python)[0] == 0
    ids = [f["id"] for f in _report(bed.python)["findings"] if f["severity"] == "error"]
    assert ids == ["datasets-local-files-fsspec-2023-10"]
    assert 'can only concatenate tuple (not "str") to tuple' in load(bed).stderr
    ok = datasets_fsspec_protocol_ok
    assert [f for f in _report(ok.python)["findings"] if f["severity"] == "error"] == []
    proc = load(ok)
    assert proc.stdout.strip() == "2", proc.stderr[-2000:]


@pytest.mark.venv
def test_tensorboard_old_protos_under_protobuf4(
    tensorboard_protobuf4: beds.Bed, tensorboard_protobuf4_ok: beds.Bed
) -> None:
    code = "from tensorboard.compat.proto import event_pb2; print('ok')"
    bed = tensorboard_protobuf4
    assert peers.pip_check(bed.python)[0] == 0
    ids = [f["id"] for f in _report(bed.python)["findings"] if f["severity"] == "error"]
    assert ids == ["tensorboard-old-protos-under-protobuf4"]
    proc = subprocess.run([str(bed.python), "-c", code], capture_output=True, text=True, timeout=300)
    assert "Descriptors cannot not be created directly" in proc.stderr
    ok = tensorboard_protobuf4_ok
    assert [f for f in _report(ok.python)["findings"] if f["severity"] == "error"] == []
    proc = subprocess.run([str(ok.python), "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.stdout.strip() == "ok", proc.stderr[-2000:]
