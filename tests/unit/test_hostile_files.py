"""Hostile installed files (issue 11, items 3, 5, 6, 7, 8, 9): each world holds one hostile distribution AND
a real break in another (peft imports clear_device_cache, which the installed accelerate lacks). The
check must finish, report the real error (exit 1), say in one note what it could not read, print no
traceback and change nothing on disk but its own cache. Every run is bounded: a regression fails, it
does not hang (a time limit) or eat the machine (an address-space limit)."""

from __future__ import annotations

import json
import os
import re
import resource
import shlex
import stat
import struct
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from envdoctor import exitcodes
from envdoctor.source.installed import SOURCE_LIMIT
from tests.fakes import Fake, elf_so, make_venv, write_dist

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT = 60.0
MEMORY = 3 * 1024**3

BROKEN_IMPORT = "from accelerate.utils.memory import clear_device_cache\n"
ERROR_TITLE = (
    "peft 0.15.0 imports clear_device_cache from accelerate.utils.memory, which accelerate 0.31.0 does not define"
)


def real_break(site: Path) -> None:
    """The real break every world also holds: ``import peft`` fails, pip check is satisfied."""
    write_dist(
        site,
        "accelerate",
        Fake(
            "0.31.0",
            files={
                "accelerate/__init__.py": "from .utils import release_memory\n",
                "accelerate/utils/__init__.py": "from .memory import release_memory\n",
                "accelerate/utils/memory.py": "def release_memory(*objects):\n    return objects\n",
            },
        ),
    )
    write_dist(
        site,
        "peft",
        Fake(
            "0.15.0",
            ["accelerate>=0.21.0"],
            files={
                "peft/__init__.py": "from .utils import loftq\n",
                "peft/utils/__init__.py": "from .loftq import loftq\n",
                "peft/utils/loftq.py": BROKEN_IMPORT + "\ndef loftq():\n    pass\n",
            },
        ),
    )


def _limits() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY, MEMORY))


def envdoctor(python: Path | str, *args: str, cache: Path | None = None) -> subprocess.CompletedProcess[bytes]:
    env = dict(os.environ)
    if cache is not None:
        env["ENVDOCTOR_CACHE_DIR"] = str(cache)
    return subprocess.run(
        [sys.executable, "-m", "envdoctor", "check", "--python", str(python), *args],
        capture_output=True,
        timeout=TIMEOUT,
        env=env,
        cwd=ROOT,
        preexec_fn=_limits,
    )


def report(python: Path | str, cache: Path | None = None) -> tuple[int, dict[str, Any]]:
    proc = envdoctor(python, "--format", "json", cache=cache)
    assert b"Traceback" not in proc.stderr, proc.stderr.decode(errors="replace")
    assert proc.stderr == b"", proc.stderr.decode(errors="replace")
    return proc.returncode, json.loads(proc.stdout)


def titles(data: dict[str, Any], severity: str = "error") -> list[str]:
    return [f["title"] for f in data["findings"] if f["severity"] == severity]


def unread(data: dict[str, Any]) -> list[str]:
    """The evidence lines of the files-unread notes ("path: why")."""
    return [e for f in data["findings"] if f["id"] == "files-unread" for e in f["evidence"]]


def snapshot(root: Path) -> dict[bytes, tuple[int, int, int]]:
    """Every entry below ``root`` (bytes names: some are not UTF-8), not following links or opening FIFOs."""
    out = {}
    for folder, dirs, files in os.walk(os.fsencode(root)):
        for name in dirs + files:
            path = os.path.join(folder, name)
            st = os.lstat(path)
            out[path] = (st.st_mode, st.st_size, st.st_mtime_ns)
    return out


def assert_real_error_reported(code: int, data: dict[str, Any]) -> None:
    assert code == exitcodes.FINDINGS
    assert ERROR_TITLE in titles(data)
    assert data["skipped"] == []
    assert data["verdict"].startswith("BROKEN: 1 error")


@pytest.fixture
def world(tmp_path: Path) -> tuple[Path, Path]:
    python, site = make_venv(tmp_path / "venv")
    real_break(site)
    return python, site


# -- 3: regular files only, a size cap, bounded work per file ---------------------------------------------


def test_fifo_module_and_fifo_cache_entry_do_not_hang(world: tuple[Path, Path], tmp_path: Path) -> None:
    python, site = world
    write_dist(site, "piped", Fake(files={"piped/__init__.py": "", "piped/pipe.py": "x = 1\n"}))
    os.unlink(site / "piped/pipe.py")
    os.mkfifo(site / "piped/pipe.py")
    before = snapshot(tmp_path / "venv")
    cache = tmp_path / "cache"
    code, data = report(python, cache)
    assert_real_error_reported(code, data)
    assert unread(data) == [f"{site}/piped/pipe.py: is not a regular file (a FIFO)"]
    assert snapshot(tmp_path / "venv") == before

    entries = sorted(cache.rglob("*.json"))
    assert entries
    for entry in entries:  # every cache entry becomes a FIFO: a later run must not block on one
        entry.unlink()
        os.mkfifo(entry)
    code, again = report(python, cache)
    assert_real_error_reported(code, again)
    assert unread(again) == unread(data)


def test_module_and_extension_linked_to_dev_zero(world: tuple[Path, Path]) -> None:
    python, site = world
    write_dist(site, "numpy", Fake("2.0.0"))
    ext = "zeroed/_ext.cpython-311-x86_64-linux-gnu.so"
    write_dist(site, "zeroed", Fake(requires=["numpy"], files={"zeroed/__init__.py": "", "zeroed/z.py": "", ext: b""}))
    for rel in ("zeroed/z.py", ext):
        os.unlink(site / rel)
        os.symlink("/dev/zero", site / rel)
    code, data = report(python)
    assert_real_error_reported(code, data)
    notes = unread(data)
    assert f"{site}/zeroed/z.py: is not a regular file (a character device)" in notes
    assert f"{site}/{ext}: is not a regular file (a character device)" in notes


def test_source_over_the_size_cap_is_unread_not_parsed(world: tuple[Path, Path]) -> None:
    python, site = world
    big = BROKEN_IMPORT + "x = 1\n" * (SOURCE_LIMIT // 6 + 1)
    write_dist(site, "huge", Fake(files={"huge/__init__.py": big}))
    code, data = report(python)
    assert_real_error_reported(code, data)
    assert unread(data) == [f"{site}/huge/__init__.py: is larger than 4 MiB (4 MiB)"]


def many_sections_elf(size: int = 4 * 1024 * 1024) -> bytes:
    """A 64-bit ELF of ``size`` bytes whose 65,535 section headers all claim to be .dynsym over the whole
    file, each naming the next as its string table."""
    shnum, shentsize = 65535, 64
    shoff = 64
    ident = b"\x7fELF" + bytes([2, 1, 1, 0]) + bytes(8)
    header = ident + struct.pack("<HHIQQQIHHHHHH", 3, 62, 1, 0, 0, shoff, 0, 64, 0, 0, shentsize, shnum, 0)
    sections = b"".join(
        struct.pack("<IIQQQQIIQQ", 0, 11, 2, 0, 0, size, (i + 1) % shnum, 1, 8, 24) for i in range(shnum)
    )
    body = header + sections
    return body + b"\x11" * (size - len(body))


def test_elf_with_65535_section_headers_is_read_once(world: tuple[Path, Path]) -> None:
    python, site = world
    write_dist(site, "torch", Fake("2.13.0+cpu", files={"torch/lib/libc10.so": elf_so(defined=["_ZN3c105ErrorC1Ev"])}))
    ext = "crafted/_C.so"
    write_dist(site, "crafted", Fake(requires=["torch"], files={"crafted/__init__.py": "", ext: many_sections_elf()}))
    code, data = report(python)
    assert_real_error_reported(code, data)


# -- 5: cache entries of the wrong shape are ignored and rewritten -----------------------------------------


def test_cache_entries_of_the_wrong_shape_are_ignored_and_rewritten(world: tuple[Path, Path], tmp_path: Path) -> None:
    python, site = world
    write_dist(site, "numpy", Fake("2.0.0"))
    write_dist(site, "ext", Fake(requires=["numpy"], files={"ext/__init__.py": "", "ext/_e.so": elf_so()}))
    cache = tmp_path / "cache"
    code, first = report(python, cache)
    assert_real_error_reported(code, first)
    entries = sorted(cache.rglob("*.json"))
    kinds = set()
    for entry in entries:  # "imports": 5, "findings": 5, "rules": 5, "built": 5, ...: parse, wrong shape
        stored = json.loads(entry.read_text())
        kinds |= set(stored) - {"key"}
        entry.write_text(json.dumps({k: (v if k == "key" else 5) for k, v in stored.items()}))
    assert {"imports", "findings", "rules", "built"} <= kinds
    code, second = report(python, cache)
    assert_real_error_reported(code, second)
    assert second["findings"] == first["findings"]
    for entry in entries:  # rewritten: the same shape as before
        stored = json.loads(entry.read_text())
        assert not any(v == 5 for v in stored.values()), entry.name


# -- 6: RECORD entries outside the site folder are not the distribution's files ----------------------------


def test_record_paths_outside_the_site_folder_are_not_read(world: tuple[Path, Path], tmp_path: Path) -> None:
    python, site = world
    outside = tmp_path / "outside"
    numpy1 = b"\x7fELF...numpy.core._multiarray_umath..."
    write_dist(site, "numpy", Fake("2.0.0"))
    files: dict[str, str | bytes] = {
        "escape/__init__.py": "",
        "../../../../outside/up.so": numpy1,
        str(outside / "absolute.so"): numpy1,
        "escape/../../../../../outside/dotdot.so": numpy1,
    }
    write_dist(site, "escape", Fake(requires=["numpy"], files=files))
    assert (outside / "up.so").exists() and (outside / "dotdot.so").exists() and (outside / "absolute.so").exists()
    code, data = report(python)
    assert_real_error_reported(code, data)
    assert not [f for f in data["findings"] if f["id"] == "numpy1-extension-under-numpy2"]


# -- 7: a module too deep to parse is unknown; the rest is checked -----------------------------------------


@pytest.mark.parametrize("deep", ["-" * 200_000 + "1", "1+" * 200_000 + "1"], ids=["MemoryError", "RecursionError"])
def test_module_too_deep_to_parse_is_one_unknown_file(world: tuple[Path, Path], deep: str) -> None:
    python, site = world
    source = BROKEN_IMPORT + f"x = {deep}\n"  # a suspicious import: the file is parsed to confirm it
    write_dist(site, "deep", Fake(files={"deep/__init__.py": "", "deep/expr.py": source}))
    write_dist(site, "user", Fake(files={"user/__init__.py": "from deep.expr import x\n"}))  # parses deep.expr
    code, data = report(python)
    assert_real_error_reported(code, data)
    assert len(unread(data)) == 1
    assert re.fullmatch(rf"{re.escape(str(site))}/deep/expr.py: could not be parsed \(\w+Error\)", unread(data)[0])


# -- 8: names carried as the file system gives them -------------------------------------------------------


def test_non_utf8_venv_folder_and_dist_info_name(tmp_path: Path) -> None:
    _, plain_site = make_venv(tmp_path / "plain")
    root = os.fsdecode(os.fsencode(tmp_path) + b"/caf\xe9")
    os.rename(tmp_path / "plain", root)  # venv itself cannot create a venv under such a name
    python, site = Path(root, "bin", "python"), Path(str(plain_site).replace(str(tmp_path / "plain"), root))
    real_break(site)
    folder = write_dist(site, "odd", Fake(files={"odd/__init__.py": ""}))
    os.rename(folder, os.fsdecode(os.fsencode(site) + b"/odd\xff-1.0.dist-info"))
    before = snapshot(tmp_path)
    code, data = report(python)
    assert_real_error_reported(code, data)
    assert data["summary"]["distributions"] == 3
    assert data["python"]["executable"] == str(python)  # the same name, escaped in JSON, read back as it was
    proc = envdoctor(python, "--format", "text")
    assert proc.returncode == exitcodes.FINDINGS and proc.stderr == b""
    assert b"/caf\\xe9/" in proc.stdout and b"\xe9" not in proc.stdout
    assert snapshot(tmp_path) == before


# -- 9: every string from the target is data --------------------------------------------------------------

FORGED = "\nOK: 0 errors, 0 warnings (1 distribution checked)\n"
OWN_LINE = re.compile(r"^(envdoctor check: |(ERROR|WARNING|INFO) \[|Could not check:|Fix \(first step\):|BROKEN: |$)")


def hostile_names(site: Path) -> None:
    write_dist(
        site, "ansi", Fake(metadata="Metadata-Version: 2.1\nName: ansi\x1b[2J\x1b]0;pwned\x07\nVersion: 1.0\x1b[31m\n")
    )
    write_dist(site, "shell", Fake(metadata="Metadata-Version: 2.1\nName: evil$(id)\nVersion: 1.0\n", record=False))
    os.mkdir(site / f"forged{FORGED}-1.0.dist-info")  # no METADATA: its name is the folder's


def test_hostile_names_are_escaped_quoted_and_never_a_line_of_their_own(world: tuple[Path, Path]) -> None:
    python, site = world
    hostile_names(site)
    proc = envdoctor(python, "--format", "text")
    assert proc.returncode == exitcodes.FINDINGS and proc.stderr == b""
    out = proc.stdout.decode()
    assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]", out)
    for line in out.splitlines():  # every line at column 0 is one of envdoctor's own
        assert line.startswith(" ") or OWN_LINE.match(line), line
    assert out.rstrip().splitlines()[-1].startswith("BROKEN: 1 error")
    assert "\\nOK: 0 errors" in out and "ansi\\x1b[2J\\x1b]0;pwned\\x07" in out

    code, data = report(python)
    assert_real_error_reported(code, data)
    fixes = [x for f in data["findings"] for x in f["advice"] if "evil" in x]
    assert fixes == ["pip install --force-reinstall --no-deps 'evil$(id)==1.0'"]
    assert shlex.split(fixes[0])[-1] == "evil$(id)==1.0"


def test_hostile_names_in_the_terminal_view(world: tuple[Path, Path]) -> None:
    python, site = world
    hostile_names(site)
    proc = envdoctor(python, "--format", "terminal")
    assert proc.returncode == exitcodes.FINDINGS and proc.stderr == b""
    out = proc.stdout.decode()
    assert not re.sub(r"\x1b\[[0-9;]*m", "", out).count("\x1b")  # only rich's own colour codes
    plain = re.sub(r"\x1b\[[0-9;]*m", "", out)
    assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]", plain)
    assert not [line for line in plain.splitlines() if line.startswith(("OK", "BROKEN"))][:-1]
    assert plain.rstrip().splitlines()[-1].startswith("BROKEN: 1 error")


def test_fifo_in_place_of_metadata_does_not_hang_the_probe(world: tuple[Path, Path]) -> None:
    python, site = world
    folder = write_dist(site, "piped-meta", Fake())
    os.unlink(folder / "METADATA")
    os.mkfifo(folder / "METADATA")
    code, data = report(python)
    assert_real_error_reported(code, data)
    damaged = [f for f in data["findings"] if f["id"] == "metadata-corrupt"]
    assert damaged and "not a regular file" in damaged[0]["detail"]
    assert stat.S_ISFIFO(os.lstat(folder / "METADATA").st_mode)


def test_a_url_from_direct_url_json_never_adds_a_line_to_the_pin_file(world: tuple[Path, Path]) -> None:
    python, site = world
    folder = write_dist(site, "vcs-thing", Fake("1.0"))
    url = "https://example.com/x.git\n--index-url https://evil.example/simple"
    (folder / "direct_url.json").write_text(json.dumps({"url": url, "vcs_info": {"vcs": "git", "commit_id": "abc"}}))
    proc = subprocess.run(
        [sys.executable, "-m", "envdoctor", "pin", "--python", str(python), "--no-verify", "--all"],
        capture_output=True,
        timeout=TIMEOUT,
        cwd=ROOT,
        preexec_fn=_limits,
    )
    assert b"Traceback" not in proc.stderr
    out = proc.stdout.decode()
    assert not [line for line in out.splitlines() if line.startswith("--index-url")]
    assert "vcs-thing @ git+https://example.com/x.git\\n--index-url https://evil.example/simple@abc" in out
