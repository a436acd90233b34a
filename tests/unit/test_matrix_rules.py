"""Each shipped rule on the smallest fabricated world that triggers it, and on one that must not."""

from __future__ import annotations

from pathlib import Path

import pytest

from envdoctor.api import load_matrix
from envdoctor.cache import Cache
from envdoctor.checks.rules import Files, check_rules
from envdoctor.matrix import Matrix
from tests.fakes import Fake, make_site, scan


@pytest.fixture(scope="module")
def matrix() -> Matrix:
    loaded = load_matrix()
    assert isinstance(loaded, Matrix), loaded
    return loaded


def fired(tmp_path: Path, matrix: Matrix, dists: dict[str, Fake]) -> list[str]:
    inv = scan(make_site(tmp_path, dists))
    return sorted(f.id for f in check_rules(inv, matrix, Files(Cache(tmp_path / "cache"))))


@pytest.mark.parametrize(
    ("transformers", "torch", "expected"),
    [
        ("4.51.3", "2.0.1", []),  # no gate before 4.52
        ("4.52.0", "2.0.1", ["transformers-4-52-0-needs-torch-2-1"]),
        ("4.57.6", "2.1.0", []),
        ("5.0.0", "2.1.2", ["transformers-5-0-0-needs-torch-2-2"]),
        ("5.14.1", "2.3.1+cu121", ["transformers-5-1-0-needs-torch-2-4"]),
        ("5.15.0", "2.4.1", ["transformers-5-15-0-needs-torch-2-5"]),
        ("5.23.0", "2.5.1", ["transformers-5-20-0-needs-torch-2-6"]),
        ("5.23.0", "2.6.0", []),
        ("5.24.0", "2.5.1", []),  # past the last release read: no claim
    ],
)
def test_transformers_torch_floor(
    tmp_path: Path, matrix: Matrix, transformers: str, torch: str, expected: list[str]
) -> None:
    assert fired(tmp_path, matrix, {"transformers": Fake(transformers), "torch": Fake(torch)}) == expected


def torch_build(version: str, cuda: str) -> Fake:
    return Fake(
        version,
        files={
            "torch/__init__.py": "",
            "torch/version.py": f"__version__ = '{version}'\ncuda: Optional[str] = {cuda}\n",
        },
    )


def torchvision_build(needs: bytes) -> Fake:
    return Fake(
        "0.28.0",
        ["torch==2.13.0"],
        files={"torchvision/__init__.py": "", "torchvision/_C.so": (b"\x7fELF" + needs).decode("latin-1")},
    )


def test_torchvision_cuda_build_on_cpu_torch(tmp_path: Path, matrix: Matrix) -> None:
    cuda_tv = torchvision_build(b"\x00libc10_cuda.so\x00libtorch_cuda.so\x00")
    cpu_tv = torchvision_build(b"\x00libc10.so\x00libtorch_cpu.so\x00")
    rule = ["torchvision-cuda-build-on-cpu-torch"]
    assert fired(tmp_path / "a", matrix, {"torch": torch_build("2.13.0", "None"), "torchvision": cuda_tv}) == rule
    assert fired(tmp_path / "b", matrix, {"torch": torch_build("2.13.0+cpu", "None"), "torchvision": cuda_tv}) == rule
    # must not fire: a CUDA torch (no +cpu tag, cuda set) with the same torchvision, or a CPU torchvision
    assert fired(tmp_path / "c", matrix, {"torch": torch_build("2.13.0", "'13.0'"), "torchvision": cuda_tv}) == []
    assert fired(tmp_path / "d", matrix, {"torch": torch_build("2.13.0+cpu", "None"), "torchvision": cpu_tv}) == []


def extension(*markers: bytes) -> str:
    return (b"\x7fELF\x00" + b"\x00".join(markers)).decode("latin-1")


def test_numpy1_extension_under_numpy2(tmp_path: Path, matrix: Matrix) -> None:
    old = Fake(
        "1.3.8",
        ["numpy"],
        files={
            "bn/__init__.py": "",
            "bn/move.cpython-311-x86_64-linux-gnu.so": extension(b"numpy.core._multiarray_umath"),
        },
    )
    new = Fake(
        "1.4.0",
        ["numpy"],
        files={
            "bn/__init__.py": "",
            "bn/move.cpython-311-x86_64-linux-gnu.so": extension(
                b"numpy._core._multiarray_umath", b"numpy.core._multiarray_umath"
            ),
        },
    )
    pybind = Fake("1.0", ["numpy"], files={"pb/_ext.so": extension(b"numpy.core.multiarray")})
    rule = ["numpy1-extension-under-numpy2"]
    assert fired(tmp_path / "a", matrix, {"numpy": Fake("2.0.2"), "bottleneck": old}) == rule
    assert fired(tmp_path / "b", matrix, {"numpy": Fake("1.26.4"), "bottleneck": old}) == []  # numpy 1: fine
    assert fired(tmp_path / "c", matrix, {"numpy": Fake("2.0.2"), "bottleneck": new}) == []  # built for 2
    assert fired(tmp_path / "d", matrix, {"numpy": Fake("2.0.2"), "pybind": pybind}) == []  # finds numpy at run time


def test_numpy2_removed_names(tmp_path: Path, matrix: Matrix) -> None:
    at_import = "import numpy as np\n\ndef ok_floats():\n    return np.sctypes['float'][:]\n\nOK_FLOATS = ok_floats()\n"
    in_function = "import numpy as np\n\ndef to_float(x):\n    return np.float_(x)\n"
    in_string = "import numpy as np\nDOC = 'np.float_ was removed'\n"
    lib = {"nib/__init__.py": "", "nib/casting.py": at_import}
    both = ["numpy2-removed-name-at-import", "numpy2-removed-name-in-function"]
    assert (
        fired(tmp_path / "a", matrix, {"numpy": Fake("2.0.2"), "nib": Fake("5.1.0", ["numpy>=1.19"], files=lib)})
        == both[:1]
    )
    assert (
        fired(tmp_path / "b", matrix, {"numpy": Fake("1.26.4"), "nib": Fake("5.1.0", ["numpy>=1.19"], files=lib)}) == []
    )
    later = {"nib/__init__.py": "", "nib/util.py": in_function}
    assert (
        fired(tmp_path / "c", matrix, {"numpy": Fake("2.0.2"), "nib": Fake("1.0", ["numpy"], files=later)}) == both[1:]
    )
    text = {"nib/__init__.py": in_string}
    assert fired(tmp_path / "d", matrix, {"numpy": Fake("2.0.2"), "nib": Fake("1.0", ["numpy"], files=text)}) == []


@pytest.mark.parametrize(
    ("datasets", "fsspec", "expected"),
    [
        ("2.14.0", "2023.10.0", ["datasets-local-files-fsspec-2023-10"]),
        ("2.14.4", "2026.9.0", ["datasets-local-files-fsspec-2023-10"]),
        ("2.14.0", "2023.9.2", []),
        ("2.14.6", "2023.10.0", []),
    ],
)
def test_datasets_fsspec_protocol(
    tmp_path: Path, matrix: Matrix, datasets: str, fsspec: str, expected: list[str]
) -> None:
    assert fired(tmp_path, matrix, {"datasets": Fake(datasets), "fsspec": Fake(fsspec)}) == expected


@pytest.mark.parametrize(
    ("tensorboard", "protobuf", "expected"),
    [
        ("2.9.0", "4.21.12", ["tensorboard-old-protos-under-protobuf4"]),
        ("2.6.0", "5.29.5", ["tensorboard-old-protos-under-protobuf4"]),
        ("2.9.0", "3.20.3", []),
        ("2.20.0", "6.33.6", []),
    ],
)
def test_tensorboard_old_protos(
    tmp_path: Path, matrix: Matrix, tensorboard: str, protobuf: str, expected: list[str]
) -> None:
    assert fired(tmp_path, matrix, {"tensorboard": Fake(tensorboard), "protobuf": Fake(protobuf)}) == expected
