"""The dynamic section and dynamic symbols of an ELF shared object, read without loading it.

What the dynamic loader looks at when Python imports an extension module: the libraries it names
(``DT_NEEDED``) and the symbols it leaves undefined for them to provide. Only the section headers,
``.dynamic``, ``.dynsym`` and their string tables are read (by seeking), so a 400 MB ``libtorch_cpu.so``
costs a few MB of reading. Anything that is not a well-formed ELF file gives None: the caller then
makes no claim about it. Bounded (the file comes from the environment under test): a regular file only,
the first ``.dynamic`` and the first ``.dynsym`` (a loader uses one of each), every section inside the
file, at most ``_MAX_READ`` bytes in all.
"""

from __future__ import annotations

import os
import re
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

from envdoctor.source.installed import Reader, Unread, open_regular

_SHT_DYNAMIC = 6
_SHT_DYNSYM = 11
_DT_NEEDED = 1
_STB_GLOBAL = 1
_STB_WEAK = 2
_STB_GNU_UNIQUE = 10
_MAX_SECTION = 256 * 1024 * 1024
_MAX_READ = 512 * 1024 * 1024
_MAX_NAME = 64 * 1024


@dataclass(frozen=True)
class DynamicInfo:
    needed: tuple[str, ...]  # DT_NEEDED, in order
    undefined: frozenset[str] = field(
        default_factory=frozenset
    )  # strong undefined symbols (weak ones may stay unbound)
    defined: frozenset[str] = field(default_factory=frozenset)  # exported symbols (global, weak, unique)


def read_dynamic(
    path: str, keep: Callable[[str], bool] = lambda name: True, reader: Reader | None = None
) -> DynamicInfo | None:
    """DT_NEEDED and the dynamic symbols of ``path`` whose names ``keep`` accepts; None if not ELF (or not a
    regular file: then ``reader`` notes why)."""
    try:
        fd, size = open_regular(path)
    except Unread as exc:
        if reader is not None and not exc.missing:
            reader.note(path, exc.reason)
        return None
    try:
        with os.fdopen(fd, "rb") as fh:
            return _read(fh, size, keep)
    except (OSError, ValueError, struct.error, IndexError):
        return None


def _read(fh: BinaryIO, file_size: int, keep: Callable[[str], bool]) -> DynamicInfo | None:
    ident = fh.read(16)
    if len(ident) < 16 or ident[:4] != b"\x7fELF" or ident[4] not in (1, 2) or ident[5] not in (1, 2):
        return None
    is64, end = ident[4] == 2, "<" if ident[5] == 1 else ">"
    header = fh.read(48 if is64 else 36)
    if is64:
        shoff, shentsize, shnum = struct.unpack(end + "24xQ10xHH2x", header)
        sh_format = end + "IIQQQQIIQQ"
    else:
        shoff, shentsize, shnum = struct.unpack(end + "16xI10xHH2x", header)
        sh_format = end + "IIIIIIIIII"
    if not shoff or not shnum or shentsize < struct.calcsize(sh_format) or shoff + shentsize * shnum > file_size:
        return None
    fh.seek(shoff)
    table = fh.read(shentsize * shnum)
    sections = [struct.unpack_from(sh_format, table, i * shentsize) for i in range(shnum)]
    budget = [_MAX_READ]

    def content(index: int) -> bytes:
        _name, _type, _flags, _addr, offset, size, *_ = sections[index]
        if size > _MAX_SECTION or offset + size > file_size or size > budget[0]:
            raise ValueError("section too large, outside the file, or past the reading budget")
        budget[0] -= size
        fh.seek(offset)
        return fh.read(size)

    needed: list[str] = []
    undefined: set[str] = set()
    defined: set[str] = set()
    done: set[int] = set()  # the first section of each type only: a loader reads one of each
    for index, (_name, sh_type, _flags, _addr, _offset, _size, link, _info, _align, entsize) in enumerate(sections):
        if sh_type not in (_SHT_DYNAMIC, _SHT_DYNSYM) or sh_type in done:
            continue
        done.add(sh_type)
        strings, data = content(link), content(index)
        if sh_type == _SHT_DYNAMIC:
            step = 16 if is64 else 8
            for tag, value in struct.iter_unpack(end + ("qQ" if is64 else "iI"), data[: len(data) // step * step]):
                if tag == 0:
                    break
                if tag == _DT_NEEDED:
                    needed.append(_string(strings, value))
        else:
            for name, is_undefined in _symbols(data, strings, end, is64, entsize):
                if keep(name):
                    (undefined if is_undefined else defined).add(name)
    return DynamicInfo(tuple(needed), frozenset(undefined), frozenset(defined))


def _string(table: bytes, offset: int) -> str:
    stop = table.find(b"\0", offset, offset + _MAX_NAME)  # bounded: a table without NULs costs no more
    return table[offset:stop].decode("utf-8", "replace") if stop >= 0 else ""


def _symbols(data: bytes, strings: bytes, end: str, is64: bool, entsize: int) -> Iterator[tuple[str, bool]]:
    """(name, strong undefined?) of the global, weak and unique symbols of a .dynsym section; weak undefined
    symbols (which may stay unbound) are left out."""
    sym = end + ("IBBHQQ" if is64 else "IIIBBH")
    step = max(entsize, struct.calcsize(sym))
    for i in range(0, len(data) - step + 1, step):
        if is64:
            st_name, st_info, _other, st_shndx, _value, _size = struct.unpack_from(sym, data, i)
        else:
            st_name, _value, _size, st_info, _other, st_shndx = struct.unpack_from(sym, data, i)
        bind = st_info >> 4
        if not st_name or bind not in (_STB_GLOBAL, _STB_WEAK, _STB_GNU_UNIQUE):
            continue
        if st_shndx == 0 and bind == _STB_WEAK:
            continue
        yield _string(strings, st_name), st_shndx == 0


# C++ names in torch's namespaces (c10::, at::, torch::, caffe2::, with their vtables and typeinfo), the
# THP* helpers of libtorch_python, and the C functions of torch's stable ABI (aoti_torch_*, torch_*).
_TORCH_SYMBOL = re.compile(r"^(?:_Z(?:T[VIS])?N[KVrLO]*(?:3c10|2at|5torch|6caffe2)|_Z\d+THP|aoti_torch_|torch_)")


def is_torch_symbol(name: str) -> bool:
    return _TORCH_SYMBOL.match(name) is not None
