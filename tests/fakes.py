"""Fabricated site-packages for unit tests: real dist-info folders on disk, read by the real probe."""

from __future__ import annotations

import base64
import hashlib
import os
import runpy
import struct
import sys
import venv
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from envdoctor.inventory import Inventory

ROOT = Path(__file__).resolve().parent.parent
PROBE = ROOT / "probes" / "inventory.py"


@dataclass
class Fake:
    """One fabricated distribution. ``metadata`` replaces the generated METADATA text verbatim."""

    version: str = "1.0"
    requires: list[str] = field(default_factory=list)
    requires_python: str | None = None
    files: Mapping[str, str | bytes] = field(default_factory=dict)  # bytes: written as they are (ELF files)
    metadata: str | bytes | None = None
    no_metadata: bool = False
    record: bool = True
    wheel_tags: list[str] = field(default_factory=lambda: ["py3-none-any"])
    display_name: str | None = None
    record_hashes: Mapping[str, str] = field(default_factory=dict)  # relative path -> "sha256=..." in RECORD


def write_dist(site: Path, name: str, fake: Fake) -> Path:
    folder = site / f"{name.replace('-', '_')}-{fake.version}.dist-info"
    folder.mkdir(parents=True, exist_ok=True)
    if not fake.no_metadata:
        data = fake.metadata if fake.metadata is not None else _metadata(fake.display_name or name, fake)
        (folder / "METADATA").write_bytes(data.encode() if isinstance(data, str) else data)
    (folder / "INSTALLER").write_text("pip\n")
    if fake.wheel_tags:
        tags = "".join(f"Tag: {t}\n" for t in fake.wheel_tags)
        (folder / "WHEEL").write_text(f"Wheel-Version: 1.0\nGenerator: fake\nRoot-Is-Purelib: true\n{tags}")
    for rel, text in fake.files.items():
        target = site / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(text, bytes):
            target.write_bytes(text)
        else:
            target.write_text(text)
    if fake.record:  # what an installer writes: every file, the dist-info's own included
        listed = [*fake.files, *(f"{folder.name}/{p.name}" for p in sorted(folder.iterdir()))]
        lines = "".join(f"{rel},{fake.record_hashes.get(rel, '')},\n" for rel in listed)
        (folder / "RECORD").write_text(lines + f"{folder.name}/RECORD,,\n")
    return folder


def _metadata(name: str, fake: Fake) -> str:
    lines = ["Metadata-Version: 2.1", f"Name: {name}", f"Version: {fake.version}"]
    if fake.requires_python:
        lines.append(f"Requires-Python: {fake.requires_python}")
    lines += [f"Requires-Dist: {r}" for r in fake.requires]
    return "\n".join(lines) + "\n\nA description.\n"


def elf_so(
    needed: Sequence[str] = (), undefined: Sequence[str] = (), defined: Sequence[str] = (), weak: Sequence[str] = ()
) -> bytes:
    """A minimal 64-bit little-endian ELF shared object: section headers, .dynstr, .dynsym and .dynamic only
    (what the dynamic loader reads to bind an extension), with these DT_NEEDED entries and symbols."""
    strtab = bytearray(b"\0")

    def name(text: str) -> int:
        strtab.extend(text.encode() + b"\0")
        return len(strtab) - len(text) - 1

    global_func, weak_func = (1 << 4) | 2, (2 << 4) | 2
    symbols = [struct.pack("<IBBHQQ", 0, 0, 0, 0, 0, 0)]
    symbols += [struct.pack("<IBBHQQ", name(n), global_func, 0, 0, 0, 0) for n in undefined]
    symbols += [struct.pack("<IBBHQQ", name(n), weak_func, 0, 0, 0, 0) for n in weak]
    symbols += [struct.pack("<IBBHQQ", name(n), global_func, 0, 5, 0x1000, 8) for n in defined]
    dynamic = b"".join(struct.pack("<qQ", 1, name(n)) for n in needed) + struct.pack("<qQ", 0, 0)
    dynsym = b"".join(symbols)
    body = [bytes(strtab), dynsym, dynamic]
    offsets, at = [], 64
    for part in body:
        offsets.append(at)
        at += len(part)
    shoff = at
    sections = [
        struct.pack("<IIQQQQIIQQ", 0, 0, 0, 0, 0, 0, 0, 0, 0, 0),
        struct.pack("<IIQQQQIIQQ", 0, 3, 2, 0, offsets[0], len(strtab), 0, 0, 1, 0),  # .dynstr
        struct.pack("<IIQQQQIIQQ", 0, 11, 2, 0, offsets[1], len(dynsym), 1, 1, 8, 24),  # .dynsym
        struct.pack("<IIQQQQIIQQ", 0, 6, 3, 0, offsets[2], len(dynamic), 1, 0, 8, 16),  # .dynamic
    ]
    ident = b"\x7fELF" + bytes([2, 1, 1, 0]) + bytes(8)
    header = ident + struct.pack("<HHIQQQIHHHHHH", 3, 62, 1, 0, 0, shoff, 0, 64, 0, 0, 64, len(sections), 0)
    return header + b"".join(body) + b"".join(sections)


def make_site(root: Path, dists: Mapping[str, Fake]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for name, fake in dists.items():
        write_dist(root, name, fake)
    return root


def scan(*paths: Path, markers: Mapping[str, str] | None = None, python_version: str | None = None) -> Inventory:
    """Run the real inventory probe in this process over ``paths`` (instead of sys.path)."""
    probe: dict[str, Any] = runpy.run_path(str(PROBE), run_name="envdoctor_probe")
    payload = probe["main"]({"path": [str(p) for p in paths]})
    if markers:
        payload["markers"].update(markers)
    if python_version:
        payload["python"]["version"] = python_version
    return Inventory.from_payload(payload)


def make_venv(path: Path) -> tuple[Path, Path]:
    """A real, empty virtual environment (no pip): its python and its site-packages."""
    venv.EnvBuilder(with_pip=False, symlinks=os.name != "nt").create(path)
    python = path / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    ver = f"python{sys.version_info[0]}.{sys.version_info[1]}"
    site = path / "lib" / ver / "site-packages"
    return python, site


def make_wheel(folder: Path, name: str, version: str, files: Mapping[str, str | bytes]) -> Path:
    """A real, installable pure-Python wheel of ``name`` ``version`` holding ``files`` (path -> content), its
    METADATA, WHEEL and RECORD (with hashes) written as a build backend writes them."""
    folder.mkdir(parents=True, exist_ok=True)
    stem = f"{name.replace('-', '_')}-{version}"
    meta = f"{stem}.dist-info"
    contents = {
        **{rel: data.encode() if isinstance(data, str) else data for rel, data in files.items()},
        f"{meta}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode(),
        f"{meta}/WHEEL": b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = []
    for rel, data in contents.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{rel},sha256={digest},{len(data)}")
    record.append(f"{meta}/RECORD,,")
    wheel = folder / f"{stem}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        for rel, data in contents.items():
            zf.writestr(rel, data)
        zf.writestr(f"{meta}/RECORD", "\n".join(record) + "\n")
    return wheel
