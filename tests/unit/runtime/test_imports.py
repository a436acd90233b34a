"""Import probes (envdoctor.runtime.imports): hostile packages on a fabricated venv, the merge of probe
failures into static findings, and the probe list's validation."""

from __future__ import annotations

import json
import os
import pty
import re
import select
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from envdoctor.errors import UsageError
from envdoctor.knowledge.matrix import MatrixError
from envdoctor.report import Finding, Severity
from envdoctor.runtime.diagnosis import Diagnosis
from envdoctor.runtime.imports import load_probes, parse_statement, probe_findings
from envdoctor.runtime.outcomes import ImportProbe, ImportResult
from tests.fakes import Fake, write_dist
from tests.hostile import (
    BOUND,
    HANGS_AND_SAYS_SO,
    alive,
    blocked_signals,
    envdoctor,
    environment,
    group_alive,
    interrupt_once_it_hangs,
    one_line_error,
    read_fifo_line,
    reaper,
    signal_a_thread,
    snapshot,
    start,
)

HOSTILE = {
    "segv_at_import": "import os, signal\nos.kill(os.getpid(), signal.SIGSEGV)\n",
    "hangs_at_import": (
        "import os, time\n"
        "with open({pidfile!r}, 'w') as fh:\n"
        "    fh.write('%d %d' % (os.getpid(), os.getpgid(0)))\n"
        "time.sleep(300)\n"
    ),
    "floods_stdout": "import sys\nsys.stdout.write('x' * 50_000_000)\nsys.stdout.flush()\n",
    "exits_at_import": "import sys\nsys.exit(0)\n",
    "leaves_a_child": (
        "import subprocess\n"
        "child = subprocess.Popen(['sleep', '300'])\n"
        "with open({pidfile!r}, 'w') as fh:\n"
        "    fh.write('%d' % child.pid)\n"
    ),
    "reads_stdin": "line = input()\n",
    "fine": "VALUE = 1\n",
}
TIMEOUT = 10


FAKE_TORCH = Fake("2.13.0", files={"torch/__init__.py": "READY = True\n"})
"""A fabricated `torch`: installed, the shipped `import torch` probe (share = true) runs, so every other
probe is first tried in a child forked from a parent that imported it (envdoctor.runtime.shared)."""


@pytest.mark.parametrize("shared", [False, True], ids=["own-process", "forked-from-a-shared-parent"])
def test_hostile_imports_are_findings_never_crashes_and_leave_nothing_running(
    fake_venv: tuple[Path, Path], tmp_path: Path, shared: bool
) -> None:
    python, site = fake_venv
    if shared:
        write_dist(site, "torch", FAKE_TORCH)
    pids = {name: tmp_path / f"{name}.pid" for name in ("hangs_at_import", "leaves_a_child")}
    for name, code in HOSTILE.items():
        text = code.format(pidfile=str(pids[name])) if name in pids else code
        write_dist(site, name.replace("_", "-"), Fake("1.0", files={f"{name}/__init__.py": text}))
    args = [a for name in HOSTILE for a in ("--import", f"import {name}")]
    before = snapshot(site)
    started: list[int] = []
    with reaper(started):
        proc = envdoctor("check", "--python", str(python), "--format", "json", "--timeout", str(TIMEOUT), *args)
        hang_pid, hang_group = (int(x) for x in pids["hangs_at_import"].read_text().split())
        child = int(pids["leaves_a_child"].read_text())
        started += [hang_pid, child]
        assert not alive(hang_pid) and not group_alive(hang_group)
        assert not alive(child)
    assert proc.returncode == 1, proc.stderr
    assert snapshot(site) == before  # nothing written into the target (no __pycache__)
    report = json.loads(proc.stdout)
    probes = {p["statement"]: p for p in report["probes"]}
    assert probes["import segv_at_import"]["ending"] == "crashed"
    assert probes["import segv_at_import"]["signal"] == "SIGSEGV"
    assert probes["import hangs_at_import"]["ending"] == "timeout"
    assert probes["import exits_at_import"]["ending"] == "failed"
    assert probes["import exits_at_import"]["error_type"] == "SystemExit"
    assert probes["import reads_stdin"]["ending"] == "failed"
    assert probes["import reads_stdin"]["error_type"] == "EOFError"
    assert probes["import floods_stdout"]["ending"] == "ok"
    assert probes["import floods_stdout"]["stdout_bytes"] == 50_000_000
    assert probes["import leaves_a_child"]["ending"] == "ok"
    assert probes["import fine"]["ending"] == "ok"
    failed = [f for f in report["findings"] if f["id"] == "import-failed"]
    titles = " | ".join(f["title"] for f in failed)
    assert "`import segv_at_import`: killed by SIGSEGV" in titles
    assert f"`import hangs_at_import`: did not finish within {TIMEOUT} s" in titles
    assert "`import exits_at_import` fails: SystemExit: 0" in titles
    assert "`import reads_stdin` fails: EOFError" in titles
    assert len(failed) == 4
    assert {f["severity"] for f in failed} == {"error"}
    segv = next(f for f in failed if "segv_at_import" in f["title"])
    assert segv["packages"] == ["segv-at-import"]  # from the faulthandler frame's file, owned by its RECORD
    assert segv["evidence"][-1].endswith("segv_at_import/__init__.py:2 in <module>")
    exits = next(f for f in failed if "exits_at_import" in f["title"])
    assert "calls sys.exit(0) while it is being imported" in exits["detail"]
    assert exits["packages"] == ["exits-at-import"]


def test_import_is_only_import_statements() -> None:
    assert parse_statement(" from x import y ") == "from x import y"
    for bad in ("print(1)", "import", "from . import y", "import os; os.system('x')"):
        with pytest.raises(UsageError):
            parse_statement(bad)


def test_shipped_probe_list_loads() -> None:
    statements = {p.statement for p in load_probes()}
    assert "from transformers import Trainer, TrainingArguments, AutoModelForCausalLM" in statements
    assert "import torchvision" in statements


def test_invalid_probe_list_reports_every_problem_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "imports.toml"
    path.write_text(
        '[[probe]]\npackage = "torch"\nstatement = "import torch"\n\n'
        '[[probe]]\npackage = "x"\nstatement = "print(1)"\ncolour = 1\n\n'
        '[[probe]]\nstatement = "import torch"\n'
    )
    with pytest.raises(MatrixError) as info:
        load_probes(path)
    text = str(info.value)
    assert "imports.toml:5: unknown key 'colour'" in text
    assert "imports.toml:5: statement 'print(1)': only import statements" in text
    assert "imports.toml:10: package must be a distribution name" in text
    assert "imports.toml:10: duplicate statement (first at line 1)" in text


def _failed(statement: str, packages: tuple[str, ...], cause: str = "c", package: str = "peft") -> ImportResult:
    diag = Diagnosis("name-missing", "ImportError: cannot import name 'clear_device_cache'", cause, packages)
    return ImportResult(
        ImportProbe(statement, package),
        "failed",
        1.0,
        error_type="ImportError",
        message="cannot import name 'clear_device_cache'",
        diagnosis=diag,
    )


def test_a_probe_failure_a_static_finding_explains_is_merged_not_reported_twice() -> None:
    static = Finding(
        "symbol-missing",
        Severity.WARNING,
        "peft 0.15.0 imports clear_device_cache from accelerate.utils.memory, which accelerate 0.31.0 does not define",
        packages=("peft", "accelerate"),
        check="symbols",
    )
    unrelated = Finding("record-missing", Severity.INFO, "x", packages=("peft",))
    results = [
        _failed("import peft", ("peft", "accelerate")),
        _failed("from transformers import Trainer", ("peft", "accelerate", "transformers"), package="transformers"),
    ]
    merged, new = probe_findings([static, unrelated], results, 60)
    assert new == []
    assert merged[0].severity is Severity.ERROR
    assert merged[0].evidence == (
        "import probe: `import peft` really fails: ImportError: cannot import name 'clear_device_cache'",
        "import probe: `from transformers import Trainer` really fails: ImportError: cannot import name "
        "'clear_device_cache'",
    )
    assert merged[1] == unrelated


def test_unexplained_failures_with_one_cause_are_one_finding() -> None:
    results = [_failed("import peft", ("peft", "accelerate")), _failed("from peft import LoraConfig", ("peft",))]
    merged, new = probe_findings([], results, 60)
    assert merged == []
    assert len(new) == 1
    assert new[0].id == "import-failed"
    assert new[0].title.startswith("`import peft`, `from peft import LoraConfig` fail: ImportError")
    assert new[0].packages == ("peft", "accelerate")


def test_explain_text_and_stdin_and_rule_ids_side_by_side(fake_venv: tuple[Path, Path]) -> None:
    python, site = fake_venv
    write_dist(
        site, "accelerate", Fake("0.31.0", files={"accelerate/__init__.py": "", "accelerate/utils/memory.py": ""})
    )
    seed = (
        "RuntimeError: Failed to import transformers.trainer because of the following error\n"
        "(look up to see its traceback):\ncannot import name 'clear_device_cache' from 'accelerate.utils.memory'\n"
        "(/usr/local/lib/python3.12/dist-packages/accelerate/utils/memory.py)\n"
    )
    by_flag = envdoctor("explain", "--python", str(python), "--text", seed)
    by_stdin = subprocess.run(
        [sys.executable, "-m", "envdoctor", "explain", "--python", str(python), "-"],
        input=seed,
        capture_output=True,
        text=True,
        env=environment(),
        timeout=BOUND,
        check=False,
    )
    for proc in (by_flag, by_stdin):
        assert proc.returncode == 0, proc.stderr
        assert "accelerate 0.31.0 does not define" in proc.stdout
        assert "Packages:  accelerate\n" in proc.stdout
        assert "Fix:       accelerate>=0.32.0\n" in proc.stdout
    rule = envdoctor("explain", "numpy1-extension-under-numpy2")
    assert rule.returncode == 0 and rule.stdout.startswith("numpy1-extension-under-numpy2  (error")
    assert envdoctor("explain").returncode == 2
    assert envdoctor("explain", "--python", str(python), "--text", "  ").returncode == 2


def test_probes_with_what_if_is_a_usage_error() -> None:
    proc = envdoctor("check", "--probes", "--install", "idna")
    assert proc.returncode == 2
    assert "not with --install" in proc.stderr


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_an_interrupt_while_import_probes_run_stops_every_one_at_once(
    fake_venv: tuple[Path, Path], tmp_path: Path, sig: signal.Signals, code: int
) -> None:
    """Probes run on threads: an interrupt kills the running probes' groups and starts no queued one."""
    python, site = fake_venv
    fifo = tmp_path / "started"
    os.mkfifo(fifo)
    write_dist(site, "hangs", Fake("1.0", files={"hangs/__init__.py": HANGS_AND_SAYS_SO.format(fifo=str(fifo))}))
    write_dist(site, "fine", Fake("1.0", files={"fine/__init__.py": ""}))
    queued = [a for i in range(20) for a in ("--import", f"import fine as f{i}")]
    args = ("check", "--python", str(python), "--timeout", "600", "--import", "import hangs", *queued)
    returncode, _, error = interrupt_once_it_hangs(args, fifo, sig)
    assert returncode == code
    assert f"interrupted ({sig.name})" in error


@pytest.mark.skipif(
    os.uname().machine not in ("x86_64", "aarch64") or not sys.platform.startswith("linux"), reason="tgkill"
)
def test_an_interrupt_the_kernel_hands_to_a_worker_thread_still_stops_the_run_at_once(
    fake_venv: tuple[Path, Path], tmp_path: Path
) -> None:
    """A signal sent to a process goes to any thread that does not block it. Taken by a probe's worker
    thread, it once left the main thread asleep until the hung probe's timeout (CI saw the Ctrl-C test
    time out under load). Here it is handed to such a thread on purpose."""
    python, site = fake_venv
    fifo = tmp_path / "started"
    os.mkfifo(fifo)
    write_dist(site, "hangs", Fake("1.0", files={"hangs/__init__.py": HANGS_AND_SAYS_SO.format(fifo=str(fifo))}))
    pids: list[int | subprocess.Popen[str]] = []
    with reaper(pids):
        proc = start("check", "--python", str(python), "--timeout", "600", "--import", "import hangs")
        pids.append(proc)
        probe, pgid, child = map(int, read_fifo_line(fifo).split())
        pids += [probe, child]
        threads = [int(t) for t in os.listdir(f"/proc/{proc.pid}/task") if int(t) != proc.pid]
        hearing = [t for t in threads if signal.SIGINT not in blocked_signals(proc.pid, t)]
        deaf = [t for t in threads if t not in hearing]
        assert hearing and deaf  # the worker that started the probe hears; its pipe readers and timer do not
        signal_a_thread(proc.pid, hearing[0], signal.SIGINT)
        _, stderr = proc.communicate(timeout=BOUND)
        assert proc.returncode == 130
        assert "interrupted (SIGINT)" in one_line_error(stderr)
        assert not alive(probe) and not alive(child) and not group_alive(pgid)


def test_probe_all_imports_every_other_distributions_top_level_modules(fake_venv: tuple[Path, Path]) -> None:
    python, site = fake_venv
    files = {"twotops_a/__init__.py": "", "twotops_b.py": "raise ImportError('b is broken')\n", "_private.py": ""}
    write_dist(site, "two-tops", Fake("1.0", files=files))
    proc = envdoctor("check", "--python", str(python), "--probe-all", "--format", "json")
    assert proc.returncode == 1, proc.stderr
    report = json.loads(proc.stdout)
    assert {p["statement"]: p["ending"] for p in report["probes"]} == {
        "import twotops_a": "ok",
        "import twotops_b": "failed",
    }
    failed = [f for f in report["findings"] if f["id"] == "import-failed"]
    assert [f["title"] for f in failed] == ["`import twotops_b` fails: ImportError: b is broken"]
    assert failed[0]["packages"] == ["two-tops"]


def test_a_known_warning_of_an_import_that_works_is_a_warning_finding() -> None:
    diag = Diagnosis("version-check", "", "transformers requires torch>=2.1 at import time", ("transformers", "torch"))
    works = ImportResult(ImportProbe("import transformers", "transformers"), "ok", 2.0, diagnosis=diag)
    _merged, new = probe_findings([], [works], 60)
    assert len(new) == 1
    assert (new[0].id, new[0].severity) == ("import-warning", Severity.WARNING)
    assert new[0].title == "`import transformers` works but warns: transformers requires torch>=2.1 at import time"


SHARING = {
    # fails only when another module is already imported (as it is in a forked child): passes fresh
    "fails_when_preloaded": "import sys\nif 'torch' in sys.modules:\n    raise ImportError('torch was imported first')\n",
    # passes only when another module is already imported, without importing it: fails fresh
    "needs_it_preloaded": "import sys\nif 'torch' not in sys.modules:\n    raise ImportError('torch not imported yet')\n",
    # fails only in a forked child of the shared parent (probes/import_fork.py), passes in its own process
    "fails_when_forked": "import sys\nif 'import_fork' in sys.argv:\n    raise ImportError('forked')\n",
    "uses_torch": "import torch\nVALUE = torch.READY\n",
}


def test_sharing_a_parent_never_changes_a_verdict(fake_venv: tuple[Path, Path]) -> None:
    """Every probe is first tried in a child of a parent that imported torch: a failure there runs again
    in a fresh interpreter (whose result counts), and a pass counts only when the probe's own imports
    reach torch; so the verdicts are those of fresh interpreters."""
    python, site = fake_venv
    write_dist(site, "torch", FAKE_TORCH)
    for name, code in SHARING.items():
        write_dist(site, name.replace("_", "-"), Fake("1.0", files={f"{name}/__init__.py": code}))
    args = [a for name in SHARING for a in ("--import", f"import {name}")]
    proc = envdoctor("check", "--python", str(python), "--format", "json", *args)
    assert proc.returncode == 1, proc.stderr
    probes = {p["statement"]: p for p in json.loads(proc.stdout)["probes"]}
    assert probes["import torch"]["process"] == "shared"
    assert (probes["import uses_torch"]["ending"], probes["import uses_torch"]["process"]) == ("ok", "forked")
    assert (probes["import fails_when_preloaded"]["ending"], probes["import fails_when_preloaded"]["process"]) == (
        "ok",
        "fresh",
    )
    assert probes["import needs_it_preloaded"]["ending"] == "failed"
    assert probes["import needs_it_preloaded"]["message"] == "torch not imported yet"
    assert (probes["import fails_when_forked"]["ending"], probes["import fails_when_forked"]["process"]) == (
        "ok",
        "fresh",
    )


def _with_stderr_on_a_terminal(args: list[str]) -> tuple[int, str, str]:
    """Run envdoctor with stderr on a pseudo-terminal and stdout on a pipe: (exit code, stdout, terminal)."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "envdoctor", *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=slave,
        env=environment(),
    )
    os.close(slave)
    seen = bytearray()
    try:
        while select.select([master], [], [], BOUND)[0]:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: every writer has closed the terminal
                break
            if not chunk:
                break
            seen += chunk
    finally:
        os.close(master)
    out, _ = proc.communicate(timeout=BOUND)
    return proc.returncode, out.decode(), seen.decode(errors="replace")


def test_live_progress_goes_to_a_terminal_stderr_only(fake_venv: tuple[Path, Path]) -> None:
    python, site = fake_venv
    write_dist(site, "fine", Fake("1.0", files={"fine/__init__.py": ""}))
    args = ["check", "--python", str(python), "--import", "import fine", "--format", "json"]
    piped = envdoctor(*args)
    assert piped.returncode == 0, piped.stderr
    assert piped.stderr == ""  # stderr is a pipe: nothing progress-like at all
    code, out, terminal = _with_stderr_on_a_terminal(args)
    assert code == 0, terminal
    assert re.search(r"import probes \d/1 done, 0 failed, \d+\.\d s", terminal)  # the live view (rich), elapsed
    assert "`import fine`: ok in" in terminal  # each result as it lands
    assert "\x1b" not in out and "import probes" not in out
    assert [(p["statement"], p["ending"]) for p in json.loads(out)["probes"]] == [
        (p["statement"], p["ending"]) for p in json.loads(piped.stdout)["probes"]
    ]
    assert json.loads(out)["findings"] == json.loads(piped.stdout)["findings"]


def test_a_share_probe_that_hangs_is_a_timeout_and_the_others_still_run(fake_venv: tuple[Path, Path]) -> None:
    """The shared parent's `import torch` hangs: it is killed after --timeout, the parent gives up, and every
    probe runs in its own process: torch's reported as the timeout it is, the others as they are."""
    python, site = fake_venv
    write_dist(site, "torch", Fake("2.13.0", files={"torch/__init__.py": "import time\ntime.sleep(300)\n"}))
    write_dist(site, "fine", Fake("1.0", files={"fine/__init__.py": ""}))
    proc = envdoctor("check", "--python", str(python), "--format", "json", "--timeout", "5", "--import", "import fine")
    assert proc.returncode == 1, proc.stderr
    probes = {p["statement"]: p for p in json.loads(proc.stdout)["probes"]}
    assert (probes["import torch"]["ending"], probes["import torch"]["process"]) == ("timeout", "fresh")
    assert (probes["import fine"]["ending"], probes["import fine"]["process"]) == ("ok", "fresh")


def test_each_probe_forks_from_the_level_its_distribution_needs(fake_venv: tuple[Path, Path]) -> None:
    """Share probes run in order (`import torch`, then the Trainer import); a probe whose distribution
    requires only torch is forked from a parent that has imported torch and nothing more, one that requires
    both from the parent that has imported both, one that requires neither runs in its own process."""
    python, site = fake_venv
    write_dist(site, "torch", FAKE_TORCH)
    trainer = "import torch\nclass Trainer: pass\nclass TrainingArguments: pass\nclass AutoModelForCausalLM: pass\n"
    write_dist(site, "transformers", Fake("5.0.0", requires=["torch"], files={"transformers/__init__.py": trainer}))
    seen = "import sys\nimport torch\nSEEN = 'transformers' in sys.modules\nassert not SEEN, 'transformers loaded'\n"
    write_dist(site, "torch-only", Fake("1.0", requires=["torch"], files={"torch_only/__init__.py": seen}))
    both = "import transformers, torch\n"
    write_dist(site, "on-both", Fake("1.0", requires=["transformers"], files={"on_both/__init__.py": both}))
    write_dist(site, "plain", Fake("1.0", files={"plain/__init__.py": ""}))
    proc = envdoctor("check", "--python", str(python), "--format", "json", "--probe-all")
    assert proc.returncode == 0, proc.stdout[-3000:]
    where = {p["statement"]: (p["ending"], p["process"]) for p in json.loads(proc.stdout)["probes"]}
    assert where["import torch"] == ("ok", "shared")
    assert where["from transformers import Trainer, TrainingArguments, AutoModelForCausalLM"] == ("ok", "shared")
    assert where["import torch_only"] == ("ok", "forked")  # forked before transformers was imported
    assert where["import on_both"] == ("ok", "forked")
    assert where["import plain"] == ("ok", "fresh")


def test_waiting_in_slices_still_raises_a_probes_own_timeout_error() -> None:
    """The main thread waits for each probe in short slices; a TimeoutError the probe itself raised is
    not mistaken for the end of a slice (which would wait forever)."""
    from concurrent.futures import Future

    from envdoctor.runtime.imports import _result

    future: Future[ImportResult] = Future()
    future.set_exception(TimeoutError("the probe's own"))
    with pytest.raises(TimeoutError, match="the probe's own"):
        _result(future)
