"""envdoctor.runtime.diagnosis on real error texts: the stderr of real failing imports on the test beds
(tests/data/tracebacks/, see its README) and a user report (shared/seeds/000). Each asserts the cause
kind, the packages (from the traceback's paths and the modules the message names) and the fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from envdoctor.knowledge.wheelfacts import Facts
from envdoctor.runtime.diagnosis import TableOwners, diagnose, error_line

DATA = Path(__file__).resolve().parents[2] / "data" / "tracebacks"

PEFT_OLD_ACCELERATE = TableOwners(
    modules={"peft": "peft", "accelerate": "accelerate", "transformers": "transformers", "torch": "torch"},
    versions={"peft": "0.15.0", "accelerate": "0.31.0", "transformers": "4.46.3", "torch": "2.13.0+cpu"},
)
NUMPY2_ABI = TableOwners(
    modules={"bottleneck": "bottleneck", "h5py": "h5py", "numpy": "numpy"},
    versions={"bottleneck": "1.3.8", "h5py": "3.10.0", "numpy": "2.0.2"},
)

# (file, owners, kind, first packages, fix, words the cause must contain)
CASES = [
    (
        "peft-old-accelerate-import-peft",
        PEFT_OLD_ACCELERATE,
        "name-missing",
        ("peft", "accelerate"),
        ("accelerate>=0.32.0",),
        ["clear_device_cache", "accelerate 0.31.0"],
    ),
    (
        "peft-old-accelerate-trainer",
        PEFT_OLD_ACCELERATE,
        "name-missing",
        ("peft", "accelerate", "transformers"),
        ("accelerate>=0.32.0",),
        ["peft imports clear_device_cache from accelerate.utils.memory"],
    ),
    (
        "torchvision-cuda-on-cpu",
        TableOwners(
            modules={"torchvision": "torchvision", "torch": "torch"},
            versions={"torchvision": "0.28.0", "torch": "2.13.0+cpu"},
        ),
        "torch-operator-missing",
        ("torchvision", "torch"),
        ("torchvision==0.28.0+cpu", "torch==2.13.0"),
        ["torchvision::nms", "torch 2.13.0+cpu"],
    ),
    ("numpy2-abi-bottleneck", NUMPY2_ABI, "numpy-abi", ("bottleneck", "numpy"), ("numpy<2",), ["NumPy 1.x", "2.0.2"]),
    ("numpy2-abi-h5py", NUMPY2_ABI, "numpy-abi", ("h5py", "numpy"), ("numpy<2",), ["NumPy 1.x"]),
    (
        "torchtext-newer-torch",
        TableOwners(modules={"torchtext": "torchtext", "torch": "torch"}, versions={"torch": "2.13.0+cpu"}),
        "undefined-symbol",
        ("torchtext", "torch"),
        (),
        ["libtorchtext.so", "_ZN5torch6detail10class_base", "torch 2.13.0+cpu"],
    ),
    (
        "conflict-transformers",
        TableOwners(modules={"transformers": "transformers", "tokenizers": "tokenizers"}),
        "version-check",
        ("transformers", "tokenizers"),
        ("tokenizers>=0.23.1,<0.24.0",),
        ["tokenizers>=0.23.1,<0.24.0", "0.22.2"],
    ),
    (
        "conflict-safetensors",
        TableOwners(modules={"transformers": "transformers"}),
        "module-missing",
        (),
        (),
        ["no installed distribution provides safetensors"],
    ),
    (
        "tensorboardx-protobuf4",
        TableOwners(modules={"tensorboardX": "tensorboardx", "google": "protobuf"}, versions={"protobuf": "4.21.12"}),
        "protobuf-old-generated",
        ("tensorboardx", "protobuf"),
        ("protobuf<4",),
        ["old protoc", "protobuf 4.21.12"],
    ),
    (
        "symbol-break-2",
        TableOwners(modules={"accelerate": "accelerate", "huggingface_hub": "huggingface-hub"}),
        "name-missing",
        ("accelerate", "huggingface-hub"),
        (),
        ["split_torch_state_dict_into_shards"],
    ),
    (
        "torchaudio-cuda-on-cpu",
        TableOwners(modules={"torchaudio": "torchaudio", "torch": "torch"}, versions={"torch": "2.13.0+cpu"}),
        "missing-library",
        ("torchaudio", "torch"),
        (),
        ["libc10_cuda.so", "CUDA build"],
    ),
    (
        "xformers-cuda-on-cpu",
        TableOwners(versions={"xformers": "0.0.35"}),
        "built-for-another-torch",
        ("xformers", "torch"),
        ("torch==2.10.0",),
        ["xformers 0.0.35 was built for torch 2.10.0+cu128 (CUDA 12.8)", "2.13.0+cpu"],
    ),
    (
        "numpy2-removed-name",
        TableOwners(modules={"nibabel": "nibabel", "numpy": "numpy"}, versions={"numpy": "2.0.2"}),
        "numpy2-removed-name",
        ("nibabel", "numpy"),
        ("numpy<2",),
        ["np.sctypes"],
    ),
    (
        "torch-old-tensorboard",
        TableOwners(
            paths={
                "/root/.cache/envdoctor-tests/beds/torch-old-tensorboard/lib/python3.11/site-packages/torch/utils/"
                "tensorboard/__init__.py": "torch"
            },
            modules={"torch": "torch", "tensorboard": "tensorboard"},
            versions={"torch": "2.13.0+cpu", "tensorboard": "1.14.0"},
        ),
        "version-check",
        ("torch", "tensorboard"),
        ("tensorboard>=1.15",),
        ["torch checks at import time that tensorboard>=1.15 is installed; tensorboard 1.14.0 is installed"],
    ),
    (
        "jax-newer-jaxlib",
        TableOwners(modules={"jax": "jax", "jaxlib": "jaxlib"}, versions={"jax": "0.4.20", "jaxlib": "0.4.23"}),
        "version-check",
        ("jax", "jaxlib"),
        ("jaxlib<=0.4.20",),
        ["jax checks at import time that jaxlib<=0.4.20 is installed; jaxlib 0.4.23 is installed"],
    ),
]


@pytest.mark.parametrize(("name", "owners", "kind", "packages", "fix", "words"), CASES, ids=[c[0] for c in CASES])
def test_real_error_texts(
    name: str, owners: TableOwners, kind: str, packages: tuple[str, ...], fix: tuple[str, ...], words: list[str]
) -> None:
    diag = diagnose((DATA / f"{name}.txt").read_text(encoding="utf-8"), owners, Facts.shipped())
    assert diag.kind == kind
    assert diag.packages[: len(packages)] == packages
    assert diag.fix == fix
    for word in words:
        assert word in diag.cause


def test_googleapis_protos_packages_come_from_the_record_paths() -> None:
    """google/ is a namespace several distributions share: the file's owner comes from its RECORD path."""
    text = (DATA / "googleapis-protos-protobuf4.txt").read_text(encoding="utf-8")
    site = "/root/.cache/envdoctor-tests/beds/googleapis-protos-protobuf4/lib/python3.11/site-packages"
    owners = TableOwners(
        paths={f"{site}/google/rpc/status_pb2.py": "googleapis-common-protos"},
        modules={"google": "protobuf"},
        versions={"protobuf": "4.21.12"},
    )
    diag = diagnose(text, owners)
    assert diag.kind == "protobuf-old-generated"
    assert diag.packages[:2] == ("googleapis-common-protos", "protobuf")
    assert diag.fix == ("protobuf<4",)


SEED_000 = """\
RuntimeError: Failed to import transformers.trainer because of the following error
(look up to see its traceback):
cannot import name 'clear_device_cache' from 'accelerate.utils.memory'
(/usr/local/lib/python3.12/dist-packages/accelerate/utils/memory.py)
"""


def test_user_report_from_colab_without_frames() -> None:
    """shared/seeds/000: the wrapped error as the user pasted it, from another machine (Colab's
    dist-packages); the environment it is explained against has accelerate 0.24.0."""
    owners = TableOwners(modules={"accelerate": "accelerate"}, versions={"accelerate": "0.24.0"})
    diag = diagnose(SEED_000, owners, Facts.shipped())
    assert diag.kind == "name-missing"
    assert diag.packages == ("accelerate",)
    assert diag.fix == ("accelerate>=0.32.0",)
    assert "accelerate 0.24.0 does not define" in diag.cause


def test_import_time_version_check_shapes() -> None:
    """The generic shapes: `X requires Y >= v` and transformers' torch floor, as its matrix symptom words it."""
    diag = diagnose("ImportError: trl requires transformers >= 4.46.0, found 4.40.0")
    assert (diag.kind, diag.packages, diag.fix) == ("version-check", ("trl", "transformers"), ("transformers>=4.46.0",))
    diag = diagnose("RuntimeError: jaxlib is version 0.4.13, but this version of jax requires version >= 0.4.14.")
    assert (diag.packages, diag.fix) == (("jax", "jaxlib"), ("jaxlib>=0.4.14",))
    diag = diagnose("Disabling PyTorch because PyTorch >= 2.1 is required but found 2.0.1")
    assert (diag.packages, diag.fix) == (("transformers", "torch"), ("torch>=2.1",))


def test_unknown_failure_is_reported_without_an_invented_cause() -> None:
    text = 'Traceback (most recent call last):\n  File "<string>", line 1, in <module>\nOSError: [Errno 5] I/O\n'
    diag = diagnose(text)
    assert (diag.kind, diag.cause, diag.fix, diag.error) == ("unknown", "", (), "OSError: [Errno 5] I/O")


def test_a_crash_dump_lists_the_innermost_frame_last() -> None:
    """faulthandler (PYTHONFAULTHANDLER, set for the probes) prints the innermost frame first."""
    text = (
        "Fatal Python error: Segmentation fault\n\nCurrent thread 0x00007f (most recent call first):\n"
        '  File "/v/lib/python3.11/site-packages/segv/__init__.py", line 2 in <module>\n'
        '  File "<frozen importlib._bootstrap>", line 241 in _call_with_frames_removed\n'
    )
    diag = diagnose(text, TableOwners(modules={"segv": "segv-dist"}))
    assert str(diag.frames[-1]) == "/v/lib/python3.11/site-packages/segv/__init__.py:2 in <module>"
    assert diag.packages == ("segv-dist",)


def test_error_line_skips_advice_after_the_exception() -> None:
    text = (DATA / "tensorboardx-protobuf4.txt").read_text(encoding="utf-8")
    assert error_line(text).startswith("TypeError: Descriptors cannot not be created directly")
