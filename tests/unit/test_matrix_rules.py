"""Each shipped rule on the smallest fabricated world that triggers it, and on one that must not."""

from __future__ import annotations

from pathlib import Path

import pytest

from envdoctor.cache import Cache
from envdoctor.checks.rules import check_rules
from envdoctor.checks.signals.base import Files
from envdoctor.diagnose import load_matrix
from envdoctor.knowledge.matrix import Matrix
from envdoctor.report import Finding, Severity
from tests.fakes import Fake, elf_so, make_site, scan


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
    # pandas 2.2.3, pandas/core/common.py:245: compatibility code that runs only under an older numpy
    gated = (
        "import numpy as np\nnp_version_gte1p24 = True\n\ndef asarray(v):\n"
        "    if not np_version_gte1p24:\n        warn(np.VisibleDeprecationWarning)\n    return v\n"
    )
    compat = {"pd/__init__.py": "", "pd/common.py": gated}
    assert fired(tmp_path / "e", matrix, {"numpy": Fake("2.1.3"), "pd": Fake("2.2.3", ["numpy"], files=compat)}) == []
    # scipy 1.16 scipy/signal/_polyutils.py:15-19: a handled import and its fallback for numpy 1.x
    fallback = (
        "try:\n    from numpy.exceptions import RankWarning\nexcept ImportError:\n"
        "    # numpy 1.x\n    from numpy import RankWarning\n"
    )
    handled = {"sp/__init__.py": "from sp import poly\n", "sp/poly.py": fallback}
    assert fired(tmp_path / "f", matrix, {"numpy": Fake("2.4.6"), "sp": Fake("1.16", ["numpy"], files=handled)}) == []
    # the same name outside a try, or under a handler that does not catch what the removal raises, still fires
    unhandled = {"sp/__init__.py": "from sp import poly\n", "sp/poly.py": fallback.replace("ImportError", "KeyError")}
    got = fired(tmp_path / "g", matrix, {"numpy": Fake("2.4.6"), "sp": Fake("1.16", ["numpy"], files=unhandled)})
    assert got == ["numpy2-removed-name-at-import"]


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


# The three old-protoc rules: (package, requirement it declares, first regenerated release, severity, what
# the title calls the old code); per rule, the releases and protobufs that must and must not fire.
OLD_PROTOS = {
    "googleapis-common-protos-old-protos-under-protobuf4": (
        "googleapis-common-protos",
        ["protobuf>=3.12.0"],
        "1.56.1",
        Severity.ERROR,
        "protobuf code",
    ),
    "sentencepiece-old-protos-under-protobuf4": (
        "sentencepiece",
        [],
        "0.2.0",
        Severity.WARNING,
        "a sentencepiece_model_pb2",
    ),
    "tensorboardx-old-protos-under-protobuf4": (
        "tensorboardX",
        ["protobuf>=3.8.0"],
        "2.6.2.2",
        Severity.ERROR,
        "protobuf code",
    ),
}


@pytest.mark.parametrize(
    ("rule_id", "version", "protobuf", "fires"),
    [
        ("googleapis-common-protos-old-protos-under-protobuf4", "1.56.0", "4.21.12", True),
        ("googleapis-common-protos-old-protos-under-protobuf4", "1.52.0", "6.33.6", True),
        ("googleapis-common-protos-old-protos-under-protobuf4", "1.56.0", "3.20.3", False),  # protobuf 3 accepts it
        ("googleapis-common-protos-old-protos-under-protobuf4", "1.56.1", "4.21.12", False),  # regenerated
        ("googleapis-common-protos-old-protos-under-protobuf4", "1.70.0", "5.29.5", False),
        ("sentencepiece-old-protos-under-protobuf4", "0.1.99", "5.28.3", True),
        ("sentencepiece-old-protos-under-protobuf4", "0.1.94", "4.21.0", True),
        ("sentencepiece-old-protos-under-protobuf4", "0.1.99", "3.20.3", False),
        ("sentencepiece-old-protos-under-protobuf4", "0.2.0", "5.28.3", False),  # regenerated
        ("sentencepiece-old-protos-under-protobuf4", "0.1.91", "5.28.3", False),  # ships no _pb2 file
        ("tensorboardx-old-protos-under-protobuf4", "2.5", "4.21.12", True),
        ("tensorboardx-old-protos-under-protobuf4", "0.6.9", "6.33.6", True),  # the first release on PyPI
        ("tensorboardx-old-protos-under-protobuf4", "2.0", "4.21.0", True),
        ("tensorboardx-old-protos-under-protobuf4", "2.5", "3.20.3", False),
        ("tensorboardx-old-protos-under-protobuf4", "2.5.1", "4.21.12", False),  # caps protobuf<=3.20.1: pip check's
        ("tensorboardx-old-protos-under-protobuf4", "2.6", "4.21.12", False),  # caps protobuf<4
        ("tensorboardx-old-protos-under-protobuf4", "2.6.1", "4.22.3", False),  # regenerated
        ("tensorboardx-old-protos-under-protobuf4", "2.6.2.2", "4.21.12", False),
    ],
)
def test_old_protoc_modules_under_protobuf4(
    tmp_path: Path, matrix: Matrix, rule_id: str, version: str, protobuf: str, fires: bool
) -> None:
    package, requires, fixed, severity, what = OLD_PROTOS[rule_id]
    world = {package: Fake(version, requires), "protobuf": Fake(protobuf)}
    assert fired(tmp_path, matrix, world) == ([rule_id] if fires else [])
    if fires:  # the versions in the title, the upgrade first among the fixes
        [f] = findings(tmp_path / "f", matrix, world)
        assert f.severity == severity
        assert f.title == f"{package} {version} ships {what} too old for protobuf {protobuf}"
        assert f.fix == (f"{package}>={fixed}", "protobuf<4")


def findings(tmp_path: Path, matrix: Matrix, dists: dict[str, Fake]) -> list[Finding]:
    inv = scan(make_site(tmp_path, dists))
    return check_rules(inv, matrix, Files(Cache(tmp_path / "cache")))


def test_torchaudio_cuda_build_on_cpu_torch(tmp_path: Path, matrix: Matrix) -> None:
    def torchaudio(needs: bytes) -> Fake:  # 2.11.0 declares no requirement at all
        lib = (b"\x7fELF" + needs).decode("latin-1")
        return Fake("2.11.0", files={"torchaudio/__init__.py": "", "torchaudio/lib/_torchaudio.abi3.so": lib})

    cuda_ta = torchaudio(b"\x00libc10_cuda.so\x00libtorch_cuda.so\x00libcudart.so.13\x00")
    cpu_ta = torchaudio(b"\x00libc10.so\x00libtorch_cpu.so\x00")
    rule = ["torchaudio-cuda-build-on-cpu-torch"]
    assert fired(tmp_path / "a", matrix, {"torch": torch_build("2.13.0+cpu", "None"), "torchaudio": cuda_ta}) == rule
    assert fired(tmp_path / "b", matrix, {"torch": torch_build("2.13.0", "None"), "torchaudio": cuda_ta}) == rule
    # must not fire: a CUDA torch with the same torchaudio, or a CPU torchaudio beside the CPU torch
    assert fired(tmp_path / "c", matrix, {"torch": torch_build("2.13.0", "'13.0'"), "torchaudio": cuda_ta}) == []
    assert fired(tmp_path / "d", matrix, {"torch": torch_build("2.13.0+cpu", "None"), "torchaudio": cpu_ta}) == []


XFORMERS_0_0_35 = '{"version": {"cuda": 1208, "hip": null, "torch": "2.10.0+cu128", "python": "3.10.19"}, "env": {}}'


def xformers_build(record: str | None) -> Fake:
    files = {"xformers/__init__.py": "", "xformers/_cpp_lib.py": ""}
    if record is not None:
        files["xformers/cpp_lib.json"] = record
    return Fake("0.0.35", ["torch>=2.10", "numpy"], files=files)


def test_xformers_cuda_build_on_cpu_torch(tmp_path: Path, matrix: Matrix) -> None:
    cpu_torch = torch_build("2.13.0+cpu", "None")
    [f] = findings(tmp_path / "a", matrix, {"torch": cpu_torch, "xformers": xformers_build(XFORMERS_0_0_35)})
    assert f.id == "xformers-cuda-build-on-cpu-torch"
    assert f.severity == Severity.WARNING
    assert f.title == (
        "xformers 0.0.35 was built for torch 2.10.0+cu128 (CUDA 12.8), you have torch 2.13.0+cpu, a CPU build"
    )
    assert f.fix == ("torch==2.10.0",)
    assert any(e.endswith("xformers/cpp_lib.json: torch '2.10.0+cu128', cuda 1208") for e in f.evidence)
    # must not fire: a CUDA torch; a build without CUDA (ROCm: "cuda": null); no record, or one that is not JSON
    cuda_torch = torch_build("2.13.0", "'13.0'")
    assert fired(tmp_path / "b", matrix, {"torch": cuda_torch, "xformers": xformers_build(XFORMERS_0_0_35)}) == []
    rocm = XFORMERS_0_0_35.replace('"cuda": 1208, "hip": null', '"cuda": null, "hip": 60200')
    assert fired(tmp_path / "c", matrix, {"torch": cpu_torch, "xformers": xformers_build(rocm)}) == []
    assert fired(tmp_path / "d", matrix, {"torch": cpu_torch, "xformers": xformers_build(None)}) == []
    assert fired(tmp_path / "e", matrix, {"torch": cpu_torch, "xformers": xformers_build("{not json")}) == []


# torch 2.13 exports the cxx11-ABI names; torchtext 0.18.0's extensions ask for the old-ABI (`Ss`) ones
CXX11_ERROR = "_ZN3c105ErrorC2ENS_14SourceLocationENSt7__cxx1112basic_stringIcSt11char_traitsIcESaIcEEE"
OLD_ERROR = "_ZN3c105ErrorC2ENS_14SourceLocationESs"
OLD_CLASS_BASE = "_ZN5torch6detail10class_baseC2ERKSsS3_SsRKSt9type_infoS6_"
DEVICE_TYPE_NAME = "_ZN3c1014DeviceTypeNameENS_10DeviceTypeEb"


def torch_with_libs(version: str = "2.13.0+cpu", cuda: str = "None", exports: tuple[str, ...] = ()) -> Fake:
    fake = torch_build(version, cuda)
    return Fake(
        version,
        files={
            **fake.files,
            "torch/lib/libc10.so": elf_so(["libstdc++.so.6"], defined=[CXX11_ERROR, DEVICE_TYPE_NAME, *exports]),
            "torch/lib/libtorch_cpu.so": elf_so(
                ["libc10.so"], undefined=[CXX11_ERROR], defined=["aoti_torch_abi_version"]
            ),
            "torch/lib/libtorch_python.so": elf_so(["libtorch_cpu.so"]),
        },
    )


def torchtext_build(
    *undefined: str, needed: tuple[str, ...] = ("libc10.so", "libtorch_cpu.so"), weak: tuple[str, ...] = ()
) -> Fake:
    return Fake(
        "0.18.0",
        ["tqdm", "requests", "torch (>=2.3.0)", "numpy"],
        files={
            "torchtext/__init__.py": "",
            "torchtext/lib/libtorchtext.so": elf_so(
                needed, undefined=list(undefined), defined=["_ZN9torchtext5VocabC1Ev"], weak=list(weak)
            ),
            # the Python module: links to the package's own library and to libtorch_python
            "torchtext/_torchtext.cpython-311-x86_64-linux-gnu.so": elf_so(
                ["libtorchtext.so", "libtorch_python.so"], undefined=["_ZN9torchtext5VocabC1Ev"]
            ),
        },
    )


def test_extension_built_for_another_torch(tmp_path: Path, matrix: Matrix) -> None:
    torch = torch_with_libs()
    old = torchtext_build(OLD_ERROR, OLD_CLASS_BASE, DEVICE_TYPE_NAME, "aoti_torch_abi_version")
    [f] = findings(tmp_path / "a", matrix, {"torch": torch, "torchtext": old})
    assert f.id == "extension-built-for-another-torch"
    assert f.title == (
        "torchtext 0.18.0 was built for another torch (it declares torch>=2.3.0): torch 2.13.0+cpu lacks 2 C++ "
        "symbols its extensions link to"
    )
    assert f.packages == ("torchtext", "torch")
    assert f.fix == ("torch==2.3.0",)
    assert any(
        e.endswith(f"torchtext/lib/libtorchtext.so needs {OLD_ERROR} and 1 more torch symbols") for e in f.evidence
    )
    # a package built from source that declares torch without a version (flash-attn): no torch to name as the fix
    flash = Fake(
        "2.8.3",
        ["torch", "einops"],
        files={"flash_attn_2_cuda.cpython-311-x86_64-linux-gnu.so": elf_so(["libc10.so"], undefined=[OLD_ERROR])},
    )
    [f] = findings(tmp_path / "b", matrix, {"torch": torch, "flash-attn": flash})
    assert f.title.startswith("flash-attn 2.8.3 was built for another torch (it declares torch, with no version)")
    assert f.fix == ()
    # must not fire: every torch symbol it needs is exported (a build for this torch) ...
    ok = torchtext_build(CXX11_ERROR, DEVICE_TYPE_NAME, "aoti_torch_abi_version")
    assert fired(tmp_path / "c", matrix, {"torch": torch, "torchtext": ok}) == []
    # ... the missing names are weak (the loader leaves them unbound) ...
    weak = torchtext_build(CXX11_ERROR, weak=(OLD_ERROR,))
    assert fired(tmp_path / "d", matrix, {"torch": torch, "torchtext": weak}) == []
    # ... or the extension needs a library this torch lacks (a CUDA build beside a CPU torch: the loader stops
    # there, and the CUDA rules say why) ...
    cuda = torchtext_build(OLD_ERROR, needed=("libc10.so", "libc10_cuda.so"))
    assert fired(tmp_path / "e", matrix, {"torch": torch, "torchtext": cuda}) == []
    # ... or torch's own files are not listed (no RECORD): nothing to compare with
    unlisted = Fake(torch.version, files=torch.files, record=False)
    assert fired(tmp_path / "f", matrix, {"torch": unlisted, "torchtext": old}) == []
    # a later torch that exports the old name again clears it
    both = torch_with_libs(exports=(OLD_ERROR, OLD_CLASS_BASE))
    assert fired(tmp_path / "g", matrix, {"torch": both, "torchtext": old}) == []
