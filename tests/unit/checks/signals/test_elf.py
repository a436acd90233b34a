"""The ELF reader behind the torch-symbols-missing signal: fabricated files, and real ones against readelf/nm."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from envdoctor.checks.signals.elf import is_torch_symbol, read_dynamic
from tests.fakes import elf_so


def test_reads_needed_and_symbols(tmp_path: Path) -> None:
    so = tmp_path / "lib.so"
    so.write_bytes(
        elf_so(["libc10.so", "libtorch_cpu.so"], ["_ZN3c104warnEv", "memcpy"], ["_ZN2at3addEv"], ["_ZN3c10wkEv"])
    )
    info = read_dynamic(str(so))
    assert info is not None
    assert info.needed == ("libc10.so", "libtorch_cpu.so")
    assert info.undefined == {"_ZN3c104warnEv", "memcpy"}  # the weak undefined one is not required
    assert info.defined == {"_ZN2at3addEv"}
    only_torch = read_dynamic(str(so), is_torch_symbol)
    assert only_torch is not None and only_torch.undefined == {"_ZN3c104warnEv"}


@pytest.mark.parametrize(
    "data", [b"", b"not an elf file", b"\x7fELF\x02\x01\x01" + bytes(9), elf_so(["libc10.so"])[:80]]
)
def test_not_elf_or_damaged_is_none(tmp_path: Path, data: bytes) -> None:
    so = tmp_path / "x.so"
    so.write_bytes(data)
    assert read_dynamic(str(so)) is None
    assert read_dynamic(str(tmp_path / "missing.so")) is None


@pytest.mark.parametrize(
    ("name", "torch"),
    [
        ("_ZN3c105ErrorC2ENS_14SourceLocationESs", True),
        ("_ZNK2at10TensorBase4sizeEl", True),
        ("_ZN5torch6detail10class_baseC2ERKSsS3_SsRKSt9type_infoS6_", True),
        ("_ZTVN3c1011StorageImplE", True),
        ("_Z16THPVariable_WrapRKN2at10TensorBaseE", True),
        ("aoti_torch_abi_version", True),
        ("torch_library_impl", True),
        ("_ZNSt6vectorIiSaIiEE9push_backEOi", False),
        ("_ZN9torchtext5VocabC1Ev", False),
        ("memcpy", False),
    ],
)
def test_torch_symbols(name: str, torch: bool) -> None:
    assert is_torch_symbol(name) is torch


def test_agrees_with_readelf_and_nm_on_a_real_extension() -> None:
    if not (shutil.which("readelf") and shutil.which("nm")):
        pytest.skip("binutils not installed")
    import _ctypes  # a compiled extension module of this interpreter

    path = getattr(_ctypes, "__file__", "")
    if not path.endswith(".so"):
        pytest.skip("_ctypes is built into this interpreter")
    info = read_dynamic(path)
    assert info is not None
    dyn = subprocess.run(["readelf", "-d", path], capture_output=True, text=True, check=True).stdout
    needed = tuple(line.split("[", 1)[1].rstrip("]") for line in dyn.splitlines() if "(NEEDED)" in line)
    assert info.needed == needed
    nm = subprocess.run(["nm", "-D", "--undefined-only", path], capture_output=True, text=True, check=True).stdout
    strong = {parts[1].split("@")[0] for parts in (line.split() for line in nm.splitlines()) if parts[0] == "U"}
    assert info.undefined == strong
