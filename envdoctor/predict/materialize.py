"""The files of the distributions an install would bring, without installing them.

pip downloads each planned release's wheel (``pip download --no-deps --only-binary=:all:``, run for the
target interpreter so the wheel fits it) into envdoctor's cache, and the wheel is unpacked there, beside
nothing else: a wheel is a site-packages layout, so the static checks (imports and the names each module
defines, the matrix signals that read binaries) read it like an installed distribution. The environment
itself is never touched.

Not downloaded: the PyTorch family and CUDA libraries (gigabytes; their Python sources are not what the
import check needs), anything pip cannot fetch as a wheel. Those stay ``planned`` (metadata only), and
the caller is told which.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import runpy
import shutil
import tempfile
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from envdoctor import runner
from envdoctor.inventory import Dist, Inventory
from envdoctor.knowledge.torchbuild import NOT_FETCHED
from envdoctor.redact import Redactor, secret_values
from envdoctor.resources import data_dir
from envdoctor.versions import canonical

MAX_UNPACKED_BYTES = 512 * 1024 * 1024


def materialize(
    python: str, future: Inventory, cache_dir: Path, *, timeout: float = 600.0, known: Inventory | None = None
) -> tuple[Inventory, list[str]]:
    """``future`` with each planned distribution replaced by its unpacked wheel, where one could be had;
    and one note per distribution that stays metadata-only."""
    from envdoctor.predict.dryrun import ResolveError, choose_pip

    wanted = [d for d in future.winners.values() if d.planned and d.raw_version]
    notes: list[str] = []
    ready: dict[str, Dist] = {}
    fetch: list[Dist] = []
    for dist in wanted:
        if dist.name in NOT_FETCHED or (dist.direct_url or {}).get("url"):
            notes.append(f"{dist.label}: not downloaded (checked from its metadata only)")
            continue
        found = _unpacked(cache_dir, dist)
        if found is not None:
            ready[dist.name] = found
        else:
            fetch.append(dist)
    if fetch:
        env = runner.child_environment()
        scrub = Redactor([*secret_values(), *secret_values(env)])
        try:
            pip = choose_pip(python, env, scrub, known)
        except ResolveError as exc:
            notes.append(f"wheels not downloaded: {exc.message}")
            fetch = []
        with tempfile.TemporaryDirectory(prefix="envdoctor-wheels-") as tmp:
            for dist in fetch:  # one by one: one release without a wheel must not cost the others
                wheel = download_wheel(
                    pip.argv, env, dist.display_name, dist.raw_version or "", Path(tmp), timeout=timeout
                )
                if wheel is None:
                    notes.append(f"{dist.label}: no wheel could be downloaded (checked from its metadata only)")
                    continue
                got = _unpack(cache_dir, dist, wheel)
                if got is None:
                    notes.append(f"{dist.label}: its wheel could not be read (checked from its metadata only)")
                else:
                    ready[dist.name] = got
    dists = tuple(ready.get(d.name, d) if d.planned else d for d in future.dists)
    return dataclasses.replace(future, dists=dists), notes


def download_wheel(
    pip: Sequence[str], env: Mapping[str, str], name: str, version: str, into: Path, *, timeout: float
) -> Path | None:
    """``name==version``'s wheel for the target (``pip download --no-deps --only-binary=:all:``), or None."""
    from envdoctor.predict.dryrun import NETWORK_OPTIONS, QUIET_OPTIONS

    argv = [*pip, "download", "--no-deps", "--only-binary=:all:", "--quiet", "-d", str(into)]
    argv += [*QUIET_OPTIONS, *NETWORK_OPTIONS]
    result = runner.run_command([*argv, f"{name}=={version}"], timeout=timeout, env=env)
    if result.outcome is not runner.Outcome.OK:
        return None
    return next((p for p in into.glob("*.whl") if _wheel_of(p, canonical(name))), None)


def unpacked(cache_dir: Path, name: str, version: str, wheel: Path | None = None) -> Path | None:
    """The folder holding ``name==version``'s unpacked wheel in envdoctor's cache: already there, or
    unpacked from ``wheel``; None when neither."""
    folder = cache_dir / "unpacked" / f"{canonical(name)}-{version}"
    if (folder / ".complete").exists():
        return folder
    return _extract(folder, wheel) if wheel is not None else None


def _unpacked(cache_dir: Path, dist: Dist) -> Dist | None:
    folder = unpacked(cache_dir, dist.name, dist.raw_version or "")
    if folder is None:
        return None
    with contextlib.suppress(OSError):
        os.utime(folder)  # recently used: the cache's trim removes it last
    return _read_dist(folder, dist)


def _unpack(cache_dir: Path, dist: Dist, wheel: Path) -> Dist | None:
    folder = unpacked(cache_dir, dist.name, dist.raw_version or "", wheel)
    return _read_dist(folder, dist) if folder is not None else None


def _extract(folder: Path, wheel: Path) -> Path | None:
    partial = folder.with_name(folder.name + f".partial-{os.getpid()}")
    shutil.rmtree(partial, ignore_errors=True)
    try:
        with zipfile.ZipFile(wheel) as zf:
            members = zf.infolist()
            if sum(m.file_size for m in members) > MAX_UNPACKED_BYTES:
                return None
            for member in members:
                name = member.filename
                if name.startswith(("/", "\\")) or ".." in Path(name).parts:
                    continue  # a hostile wheel does not write outside its folder
                zf.extract(member, partial)
        (partial / ".complete").write_text(wheel.name, encoding="utf-8")
        shutil.rmtree(folder, ignore_errors=True)
        os.replace(partial, folder)
    except (OSError, zipfile.BadZipFile, ValueError):
        shutil.rmtree(partial, ignore_errors=True)
        return None
    return folder


def _read_dist(folder: Path, dist: Dist) -> Dist | None:
    """The distribution in an unpacked wheel, read by the inventory probe's own code (stdlib only)."""
    probe = runpy.run_path(str(data_dir("probes") / "inventory.py"), run_name="envdoctor_probe")
    payload: Mapping[str, Any] = probe["main"]({"path": [str(folder)]})
    found = [d for d in Inventory.from_payload(payload).dists if d.name == dist.name]
    return found[0] if found else None


def _wheel_of(path: Path, name: str) -> bool:
    stem = path.name.split("-", 2)
    return len(stem) >= 2 and canonical(stem[0]) == name
