"""Notebooks: the `!envdoctor` view under a kernel, no prompt without an answer, stale modules, the HTML view."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import types
from pathlib import Path

from envdoctor import exitcodes
from envdoctor.kernel import Place, detect, restart_advice, stale_here
from envdoctor.report import Finding, Report, Severity, Summary
from tests.fakes import Fake, write_dist

ROOT = Path(__file__).resolve().parents[2]
ANSI = re.compile(r"\x1b\[")

# A parent process whose command line reads like a kernel's (`python -m ipykernel_launcher -f ...`), running
# the command given after it with a pseudo-terminal as stdin, stdout and stderr, as ipykernel's `!` does (pexpect).
_KERNEL = """
import os, pty, subprocess, sys
main, child = pty.openpty()
proc = subprocess.Popen(sys.argv[2:], stdin=child, stdout=child, stderr=child, env=dict(os.environ, COLUMNS="80"))
os.close(child)
out = b""
while True:
    try:
        chunk = os.read(main, 65536)
    except OSError:
        break
    if not chunk:
        break
    out += chunk
sys.stdout.buffer.write(out)
sys.exit(proc.wait())
"""


def under_kernel(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``!envdoctor ARGS`` as a notebook cell runs it: a child of the kernel, on a pty."""
    cmd = [sys.executable, "-c", _KERNEL, "ipykernel_launcher", sys.executable, "-m", "envdoctor", *args]
    full = {k: v for k, v in os.environ.items() if k not in ("COLAB_RELEASE_TAG", "KAGGLE_KERNEL_RUN_TYPE")}
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300, env={**full, **(env or {})}, cwd=ROOT)


def test_bang_check_in_a_notebook_is_plain_text_unwrapped_without_progress(fake_venv: tuple[Path, Path]) -> None:
    python, site = fake_venv
    long = "x" * 40
    write_dist(site, f"peft-{long}", Fake("0.15.0", [f"accelerate-{long}-{long}>=0.21.0"]))
    proc = under_kernel("check", "--python", str(python))
    out = proc.stdout.replace("\r\n", "\n")
    assert proc.returncode == exitcodes.FINDINGS, out
    assert not ANSI.search(out) and "╭" not in out and "│" not in out  # no colour, no box
    assert "reading the environment" not in out  # no progress lines mixed into the cell
    line = next(x for x in out.splitlines() if x.startswith("ERROR [requirement-missing]"))
    assert f"accelerate-{long}-{long}>=0.21.0, which is not installed" in line  # one line, not wrapped at 80
    assert "[kernel-modules-partial]" in out and "run `envdoctor.check()`" in out


def test_bang_pin_apply_never_waits_for_an_answer(fake_venv: tuple[Path, Path]) -> None:
    python, _ = fake_venv
    proc = under_kernel("pin", "--apply", "--no-verify", "--python", str(python))
    lines = proc.stdout.replace("\r\n", "\n").strip().splitlines()
    assert proc.returncode == exitcodes.USAGE
    assert lines == [
        "envdoctor: error: --apply asks before changing anything; in a notebook cell nothing can answer: pass --yes"
    ]


def test_place_from_the_variables_and_the_advice_in_its_words() -> None:
    me = os.getpid()
    assert detect({"COLAB_RELEASE_TAG": "release-colab_20260101"}, pid=me).kind == "colab"
    assert detect({"KAGGLE_KERNEL_RUN_TYPE": "Interactive"}, pid=me).kind == "kaggle"
    assert detect({"JPY_PARENT_PID": "1"}, pid=me).kind == "jupyter"
    assert detect({}, pid=me) == Place()  # pytest is no kernel
    assert "Runtime > Restart session" in restart_advice(Place("colab", 42), ["urllib3"], ["urllib3"])
    assert "Kernel > Restart" in restart_advice(Place("jupyter", 42), ["urllib3"])
    assert restart_advice(Place("jupyter", 42), []) == ""


def _module(name: str, path: Path, version: str | None) -> types.ModuleType:
    module = types.ModuleType(name)
    module.__file__ = str(path)
    if version is not None:
        module.__version__ = version
    return module


def test_a_module_loaded_before_an_install_is_stale(tmp_path: Path) -> None:
    site = tmp_path / "site"
    write_dist(site, "urllib3", Fake("1.26.20", files={"urllib3/__init__.py": ""}))
    folder = write_dist(site, "PyYAML", Fake("6.0.2", files={"yaml/__init__.py": ""}))
    (folder / "top_level.txt").write_text("_yaml\nyaml\n")  # the module is not named like the project
    write_dist(site, "idna", Fake("3.10", files={"idna/__init__.py": ""}))
    modules = {
        "urllib3": _module("urllib3", site / "urllib3/__init__.py", "2.2.0"),  # imported before the install
        "yaml": _module("yaml", site / "yaml/__init__.py", "6.0.1"),
        "idna": _module("idna", site / "idna/__init__.py", "3.10"),  # what is installed
        "json": _module("json", Path(os.__file__).parent / "json/__init__.py", "2.0.9"),  # not from the site
        "gone": _module("gone", site / "gone/__init__.py", "0.1"),  # uninstalled since
    }
    script = tmp_path / "notebooks"  # the script's folder is on sys.path too, and holds no installed package
    (script / "helpers.py").parent.mkdir()
    modules["__main__"] = _module("__main__", script / "<stdin>", None)
    modules["helpers"] = _module("helpers", script / "helpers.py", "1.0")  # deleted since
    found = stale_here([str(script), str(site)], modules)
    assert [f.id for f in found] == ["module-stale"] * 3
    assert [f.packages for f in found] == [("gone",), ("pyyaml",), ("urllib3",)]
    urllib3 = found[2]
    assert urllib3.severity is Severity.ERROR
    assert (
        urllib3.title
        == "urllib3 2.2.0 is loaded in this process, 1.26.20 is installed: restart the Python process before training"
    )
    assert found[0].title.startswith("gone 0.1 is loaded in this process, and no longer installed")


def test_html_view_has_the_verdict_groups_fix_block_and_escaped_evidence() -> None:
    report = Report.build(
        [
            Finding(
                "requirement-missing",
                Severity.ERROR,
                "peft needs <accelerate>",
                fix=("accelerate>=0.21",),
                evidence=("/site/peft-0.15.0.dist-info/METADATA: Requires-Dist: accelerate>=0.21",),
            ),
            Finding("symbol-missing", Severity.WARNING, "a warning", packages=("x",)),
        ],
        summary=Summary(python="/venv/bin/python", python_version="3.11.7", distributions=3),
    )
    html = report._repr_html_()
    assert "BROKEN: 1 error, 1 warning (3 distributions checked)" in html
    assert "Errors (1)" in html and "Warnings (1)" in html
    assert "peft needs &lt;accelerate&gt;" in html and "<accelerate>" not in html
    assert "<details><summary>evidence (1)</summary>" in html
    assert "<pre" in html and "pip install &#x27;accelerate&gt;=0.21&#x27;" in html

    class Printer:
        def __init__(self) -> None:
            self.parts: list[str] = []

        def text(self, s: str) -> None:
            self.parts.append(s)

    p = Printer()
    report._repr_pretty_(p, False)
    short = "".join(p.parts)
    assert short.splitlines()[0] == report.verdict()
    assert len(short) < 400 and "ERROR   [requirement-missing] peft needs <accelerate>" in short
    assert str(report).startswith("envdoctor check: /venv/bin/python (Python 3.11.7), 3 distributions")


def test_script_scan_reads_a_notebooks_code_cells_with_their_numbers(tmp_path: Path) -> None:
    from envdoctor.scan import read_cells

    nb = tmp_path / "train.ipynb"
    cells = [
        {"cell_type": "markdown", "source": ["import nothing\n"]},
        {"cell_type": "code", "source": ["%pip install trl\n", "import trl\n", "!envdoctor check\n"]},
        {"cell_type": "code", "source": "%%bash\necho hi\n"},
        {"cell_type": "code", "source": "x = 1"},
    ]
    nb.write_text(json.dumps({"cells": cells}))
    got = read_cells(str(nb))
    assert [(c.number, c.code) for c in got] == [(2, "\nimport trl\n\n"), (4, "x = 1")]
    assert got[0].where(2) == f"{nb} cell 2 line 2"


def test_script_scan_finds_a_removed_name_in_a_fabricated_site(fake_venv: tuple[Path, Path], tmp_path: Path) -> None:
    import envdoctor

    python, site = fake_venv
    write_dist(site, "lib", Fake("2.0", files={"lib/__init__.py": "", "lib/util.py": "KEPT = 1\n"}))
    script = tmp_path / "train.py"
    script.write_text("import os\nfrom lib.util import KEPT, GONE\nimport lib.old\nimport mine\n")
    found = [f for f in envdoctor.check(python=str(python), scripts=[script]) if f.check == "script"]
    assert [f.title for f in found] == [
        f"{script}:2: `from lib.util import KEPT, GONE` fails: lib 2.0 does not define GONE in lib.util",
        f"{script}:3: `import lib.old` fails: lib 2.0 has no module lib.old",
    ]


def test_pin_result_shows_its_moves_and_requirements_in_a_cell(tmp_path: Path) -> None:
    from envdoctor.pinning import PinResult, Verification
    from envdoctor.pins import PinSet
    from envdoctor.planner import Move, Plan
    from envdoctor.versions import canonical
    from tests.fakes import scan

    write_dist(tmp_path / "site", "accelerate", Fake("0.31.0"))
    inv = scan(tmp_path / "site")
    move = Move(canonical("accelerate"), "accelerate", "0.31.0", "0.32.1", "accelerate==0.32.1", ("symbol-missing",))
    result = PinResult(inv, Report(), Plan(moves=(move,)), PinSet(()), Verification(True, "pip 24.0 resolves it"))
    html = result._repr_html_()
    assert "verified: pip 24.0 resolves it" in html and "accelerate 0.31.0 -&gt; 0.32.1" in html
    assert "<details><summary>the whole pin file" in html

    class Printer:
        def __init__(self) -> None:
            self.parts: list[str] = []

        def text(self, s: str) -> None:
            self.parts.append(s)

    p = Printer()
    result._repr_pretty_(p, False)
    assert "".join(p.parts).splitlines()[:2] == [
        "verified: pip 24.0 resolves it",
        "  moves accelerate 0.31.0 -> 0.32.1",
    ]


def test_script_is_not_read_against_a_what_if(tmp_path: Path) -> None:
    script = tmp_path / "train.py"
    script.write_text("import os\n")
    proc = subprocess.run(
        [sys.executable, "-m", "envdoctor", "check", "--install", "idna==3.10", "--script", str(script)],
        capture_output=True, text=True, cwd=ROOT, timeout=120,
    )  # fmt: skip
    assert proc.returncode == exitcodes.USAGE
    assert proc.stderr.strip() == (
        "envdoctor: error: --script is read against the installed environment; not with --install / -r"
    )
