"""The command line on real interpreters and fabricated environments, bad input included."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from envdoctor import exitcodes
from tests.fakes import Fake, write_dist

ROOT = Path(__file__).resolve().parents[2]


def envdoctor(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run the CLI as a user does: ``python -m envdoctor`` in a fresh process."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "envdoctor", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=full_env,
        cwd=ROOT,
    )


def one_line_error(proc: subprocess.CompletedProcess[str]) -> str:
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    assert proc.stdout == ""
    return lines[0]


def test_clean_venv_is_ok_and_json_is_only_json(fake_venv: tuple[Path, Path]) -> None:
    python, site = fake_venv
    write_dist(site, "a", Fake("1.0", ["b>=1"]))
    write_dist(site, "b", Fake("1.2"))
    proc = envdoctor("check", "--python", str(python), "--format", "json")
    assert proc.returncode == exitcodes.OK, proc.stderr
    data = json.loads(proc.stdout)
    assert data["schema"] == "envdoctor.report/2"
    assert data["findings"] == []
    assert data["summary"]["distributions"] == 2


def test_conflict_exits_1_and_names_it(fake_venv: tuple[Path, Path]) -> None:
    python, site = fake_venv
    write_dist(site, "a", Fake("1.0", ["b>=2"]))
    write_dist(site, "b", Fake("1.2"))
    proc = envdoctor("check", "--python", str(python))
    assert proc.returncode == exitcodes.FINDINGS
    assert "a 1.0 requires b>=2, but b 1.2 is installed" in proc.stdout
    assert proc.stdout.rstrip().splitlines()[-1].startswith("BROKEN: 1 error")


def test_venv_folder_is_accepted_for_python(fake_venv: tuple[Path, Path]) -> None:
    python, _ = fake_venv
    proc = envdoctor("check", "--python", str(python.parent.parent), "--format", "json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["python"]["executable"].startswith(str(python.parent.parent))


def test_fail_on_warning(fake_venv: tuple[Path, Path]) -> None:
    python, site = fake_venv
    write_dist(site, "broken", Fake(metadata="Metadata-Version: 2.1\nName: broken\n"))
    assert envdoctor("check", "--python", str(python)).returncode == exitcodes.OK
    assert envdoctor("check", "--python", str(python), "--fail-on", "warning").returncode == exitcodes.FINDINGS


def test_corrupt_metadata_is_a_finding_not_a_crash(fake_venv: tuple[Path, Path]) -> None:
    python, site = fake_venv
    write_dist(site, "garbage", Fake(metadata=b"\x00\xff\xfe" * 1000))
    write_dist(site, "a", Fake("1.0", ["garbage"]))
    proc = envdoctor("check", "--python", str(python), "--format", "json")
    assert proc.returncode == 0, proc.stderr
    assert [f["id"] for f in json.loads(proc.stdout)["findings"]] == ["metadata-corrupt"]


def test_missing_python(tmp_path: Path) -> None:
    proc = envdoctor("check", "--python", str(tmp_path / "nope" / "python"))
    assert proc.returncode == exitcodes.USAGE
    assert "no such file" in one_line_error(proc)


def test_not_executable(tmp_path: Path) -> None:
    f = tmp_path / "python"
    f.write_text("print('hi')\n")
    proc = envdoctor("check", "--python", str(f))
    assert proc.returncode == exitcodes.USAGE
    assert "not executable" in one_line_error(proc)


def test_non_python_executable(tmp_path: Path) -> None:
    proc = envdoctor("check", "--python", "/bin/echo")
    assert proc.returncode == exitcodes.USAGE
    assert "is this a Python interpreter?" in one_line_error(proc)


def test_binary_that_is_not_a_program(tmp_path: Path) -> None:
    f = tmp_path / "python"
    f.write_bytes(b"\x7fELF garbage")
    f.chmod(0o755)
    proc = envdoctor("check", "--python", str(f))
    assert proc.returncode == exitcodes.USAGE
    assert "cannot run" in one_line_error(proc)


def test_python2_gets_a_clear_message(tmp_path: Path) -> None:
    # No Python 2 can be installed on these machines. This stand-in runs the launcher with
    # sys.version_info of 2.7.18, which exercises the version gate and the exit-97 protocol.
    fake = tmp_path / "python2"
    fake.write_text(
        '#!/bin/sh\n[ "$1" = -B ] && shift\n'
        f"exec {sys.executable} -c \"import sys; sys.version_info = (2, 7, 18, 'final', 0); "
        'sys.argv = sys.argv[1:]; exec(compile(open(sys.argv[0]).read(), sys.argv[0], \'exec\'))" "$@"\n'
    )
    fake.chmod(0o755)
    proc = envdoctor("check", "--python", str(fake))
    assert proc.returncode == exitcodes.USAGE
    assert "Python 2.7; envdoctor's probes need Python 3.8 or newer" in one_line_error(proc)


def test_python_that_hangs_on_start(tmp_path: Path) -> None:
    fake = tmp_path / "python"
    fake.write_text("#!/bin/sh\nsleep 300\n")
    fake.chmod(0o755)
    proc = envdoctor("check", "--python", str(fake), "--timeout", "2", timeout=60)
    assert proc.returncode == exitcodes.USAGE
    assert "did not finish within 2 s" in one_line_error(proc)


def test_startup_that_segfaults(fake_venv: tuple[Path, Path]) -> None:
    python, site = fake_venv
    (site / "zz_crash.pth").write_text("import os, signal; os.kill(os.getpid(), signal.SIGSEGV)\n")
    proc = envdoctor("check", "--python", str(python))
    assert proc.returncode == exitcodes.USAGE
    assert "killed by SIGSEGV" in one_line_error(proc)


def test_startup_that_prints_megabytes(fake_venv: tuple[Path, Path]) -> None:
    python, site = fake_venv
    (site / "zz_noisy.pth").write_text("import sys; [sys.stdout.write('x' * 1000 + '\\n') for _ in range(20000)]\n")
    write_dist(site, "a", Fake("1.0"))
    proc = envdoctor("check", "--python", str(python), "--format", "json")
    assert proc.returncode == 0, proc.stderr[-500:]
    assert json.loads(proc.stdout)["summary"]["distributions"] == 1  # our stdout is ours alone


def test_output_file_written_atomically(fake_venv: tuple[Path, Path], tmp_path: Path) -> None:
    python, _ = fake_venv
    out = tmp_path / "r.json"
    proc = envdoctor("check", "--python", str(python), "--format", "json", "-o", str(out))
    assert proc.returncode == 0 and proc.stdout == ""
    assert json.loads(out.read_text())["schema"] == "envdoctor.report/2"
    assert not list(tmp_path.glob("*.partial"))


def test_usage_errors_exit_2() -> None:
    assert envdoctor("check", "--format", "yaml").returncode == exitcodes.USAGE
    assert envdoctor().returncode == exitcodes.USAGE
    assert envdoctor("check", "--timeout", "0").returncode == exitcodes.USAGE


def test_secrets_are_redacted_everywhere(fake_venv: tuple[Path, Path]) -> None:
    python, site = fake_venv
    token = "hf_SECRETtokenVALUE123"
    folder = write_dist(site, "private-pkg", Fake("1.0", ["missing-dep"]))
    (folder / "direct_url.json").write_text(json.dumps({"url": "https://user:pa55word@example.com/p.whl"}))
    # the token leaks into a path that the report prints
    write_dist(site, f"tok-{token}", Fake("1.0", no_metadata=True))
    for fmt in ("json", "text", "terminal"):
        proc = envdoctor("check", "--python", str(python), "--format", fmt, env={"HF_TOKEN": token})
        assert token not in proc.stdout + proc.stderr
        assert "****" in proc.stdout


def test_console_script_and_module_agree(fake_venv: tuple[Path, Path]) -> None:
    python, site = fake_venv
    write_dist(site, "a", Fake("1.0", ["b>=2"]))
    script = Path(sys.executable).parent / "envdoctor"
    if not script.exists():
        pytest.skip("envdoctor console script not installed beside this interpreter")
    via_script = subprocess.run(
        [str(script), "check", "--python", str(python), "--format", "json"], capture_output=True, text=True, timeout=120
    )
    via_module = envdoctor("check", "--python", str(python), "--format", "json")
    assert via_script.returncode == via_module.returncode == 1
    assert json.loads(via_script.stdout)["findings"] == json.loads(via_module.stdout)["findings"]


def test_help_explains_exit_codes() -> None:
    proc = envdoctor("check", "--help")
    assert proc.returncode == 0
    assert "exit codes:" in proc.stdout and "--fail-on" in proc.stdout and "--python" in proc.stdout


def test_pin_of_a_healthy_venv_writes_its_versions_and_says_so(fake_venv: tuple[Path, Path]) -> None:
    python, site = fake_venv
    write_dist(site, "peft", Fake("0.15.0", ["accelerate>=0.21"]))
    write_dist(site, "accelerate", Fake("1.2.0"))
    proc = envdoctor("pin", "--python", str(python), "--no-verify")
    assert proc.returncode == exitcodes.OK, proc.stderr
    assert [x for x in proc.stdout.splitlines() if not x.startswith("#")] == ["accelerate==1.2.0", "peft==0.15.0"]
    assert "no error found: the pins are the current versions, unchanged" in proc.stderr


def test_pin_offline_plans_by_range_and_says_it_is_not_verified(fake_venv: tuple[Path, Path]) -> None:
    python, site = fake_venv
    write_dist(site, "a", Fake("1.0", ["b>=2"]))
    write_dist(site, "b", Fake("1.2"))
    proc = envdoctor("pin", "--python", str(python), "--no-verify", "--changes-only")
    assert proc.returncode == exitcodes.OK, proc.stderr
    assert "# NOT verified: verification skipped (--no-verify)" in proc.stdout
    assert "b>=2  # was 1.2; fixes requirement-conflict, pip picks the release" in proc.stdout.splitlines()
    data = json.loads(envdoctor("pin", "--python", str(python), "--no-verify", "--format", "json").stdout)
    assert data["schema"] == "envdoctor.pin/1" and data["verified"] is False
    assert [(m["name"], m["from"], m["to"], m["requirement"]) for m in data["moves"]] == [("b", "1.2", None, "b>=2")]


def test_pin_with_an_error_it_cannot_plan_exits_1(fake_venv: tuple[Path, Path]) -> None:
    python, site = fake_venv
    write_dist(site, "old", Fake("1.0", wheel_tags=["cp27-cp27mu-manylinux1_x86_64"]))
    proc = envdoctor("pin", "--python", str(python), "--no-verify")
    assert proc.returncode == exitcodes.FINDINGS
    assert "NOT fixed: [wheel-unsupported]" in proc.stderr


def test_pin_bad_input_is_one_line_and_exit_2(fake_venv: tuple[Path, Path], tmp_path: Path) -> None:
    python, site = fake_venv
    write_dist(site, "a", Fake("1.0", ["b>=2"]))
    write_dist(site, "b", Fake("1.2"))
    missing = one_line_error(envdoctor("pin", "--python", str(python), "-c", str(tmp_path / "nope.txt"), "-q"))
    assert "nope.txt: no such file" in missing
    bad = tmp_path / "c.txt"
    bad.write_text("b<3\nb>=>2\n")
    assert f"{bad}:2:" in one_line_error(envdoctor("pin", "--python", str(python), "-c", str(bad), "-q"))
    unverified = envdoctor("pin", "--python", str(python), "--no-verify", "--apply", "--yes", "-q")
    assert unverified.returncode == exitcodes.USAGE
    assert "not applying a plan pip has not verified" in unverified.stderr
    what_if = envdoctor("check", "--python", str(python), "--install", "torch>=>2")
    assert what_if.returncode == exitcodes.USAGE and "--install #1:1:" in what_if.stderr


def test_pin_with_an_unreachable_index_is_marked_unverified_never_verified(fake_venv: tuple[Path, Path]) -> None:
    python, site = fake_venv
    write_dist(site, "a", Fake("1.0", ["b>=2"]))
    write_dist(site, "b", Fake("1.2"))
    offline = {"PIP_CONFIG_FILE": os.devnull, "PIP_INDEX_URL": "http://127.0.0.1:9/simple", "PIP_FIND_LINKS": ""}
    proc = envdoctor("pin", "--python", str(python), "--changes-only", env=offline, timeout=300)
    assert proc.returncode == exitcodes.OK, proc.stderr
    assert "# NOT verified: the package index cannot be reached" in proc.stdout
    assert "# verified" not in proc.stdout


def test_check_fix_lines_run_as_they_are_on_a_cpu_torch(fake_venv: tuple[Path, Path]) -> None:
    """The issue's venv: peft asks torch>=1.13.0, accelerate torch>=1.10.0, the installed torch is a 1.9.0+cpu
    build, and two spellings of huggingface-hub are asked for. The first step merges each name into one
    specifier and keeps torch on its CPU index; JSON `fix` holds only specifiers, the prose is `advice`."""
    from packaging.requirements import Requirement

    python, site = fake_venv
    write_dist(site, "torch", Fake("1.9.0+cpu"))
    write_dist(site, "peft", Fake("0.3.0", ["torch>=1.13.0", "huggingface_hub>=0.25"]))
    write_dist(site, "accelerate", Fake("0.20.0", ["torch>=1.10.0", "huggingface-hub<2,>=0.21"]))
    write_dist(site, "huggingface-hub", Fake("0.20.0"))
    proc = envdoctor("check", "--python", str(python), "--format", "text")
    assert proc.returncode == exitcodes.FINDINGS, proc.stderr
    lines = proc.stdout.splitlines()
    step = lines[lines.index("Fix (first step):") + 1 :]
    assert step[:2] == [
        '  pip install "huggingface-hub<2,>=0.25"',
        '  pip install "torch>=1.13.0" --index-url https://download.pytorch.org/whl/cpu',
    ]
    data = json.loads(envdoctor("check", "--python", str(python), "--format", "json").stdout)
    assert data["schema"] == "envdoctor.report/2"
    for finding in data["findings"]:
        for fix in finding["fix"]:
            Requirement(fix)  # raises on prose or a command
    conflict = next(f for f in data["findings"] if f["packages"] == ["peft", "torch"])
    assert conflict["fix"] == ["torch>=1.13.0"]
    assert conflict["advice"] == ["or a release of peft that accepts torch==1.9.0+cpu"]


def _requests_venv(site: Path) -> None:
    write_dist(site, "requests", Fake("2.34.2", ["idna<4,>=2.5", "charset_normalizer<4,>=2", "urllib3"]))
    write_dist(site, "idna", Fake("2.4"))
    write_dist(site, "charset-normalizer", Fake("1.4.1"))
    write_dist(site, "urllib3", Fake("2.8.0"))


def _verdicts(text: str) -> list[str]:
    return [x for x in text.splitlines() if x.startswith(("# verified", "# NOT verified"))]


def test_pin_with_nothing_watched_writes_the_whole_set_and_says_so(fake_venv: tuple[Path, Path]) -> None:
    python, site = fake_venv
    _requests_venv(site)
    proc = envdoctor("pin", "--python", str(python), "--no-verify")
    assert proc.returncode == exitcodes.OK, proc.stderr
    assert [x.split("  #")[0] for x in proc.stdout.splitlines() if not x.startswith("#")] == [
        "charset-normalizer<4,>=2",
        "idna<4,>=2.5",
        "requests==2.34.2",
        "urllib3==2.8.0",
    ]
    assert "the file pins the 1 distribution nothing else requires (requests) and what it requires" in proc.stderr


def test_pin_keep_blocks_only_its_own_fix_and_the_header_has_one_true_verdict(fake_venv: tuple[Path, Path]) -> None:
    python, site = fake_venv
    _requests_venv(site)
    proc = envdoctor("pin", "--python", str(python), "--no-verify", "--keep", "idna")
    assert proc.returncode == exitcodes.FINDINGS, proc.stderr  # an error is left: exit 1
    assert "charset-normalizer<4,>=2  # was 1.4.1; fixes requirement-conflict, pip picks the release" in proc.stdout
    assert "idna==2.4" in proc.stdout.splitlines()
    assert _verdicts(proc.stdout) == ["# NOT verified: verification skipped (--no-verify)"]
    assert "# NOT fixed: [requirement-conflict] requests 2.34.2 requires idna<4,>=2.5" in proc.stdout
    assert "every fix moves a package you asked to keep (idna)" in proc.stderr


def test_pin_constraint_contradicting_the_only_fix_names_both_sources_and_exits_1(
    fake_venv: tuple[Path, Path], tmp_path: Path
) -> None:
    python, site = fake_venv
    _requests_venv(site)
    constraints = tmp_path / "c.txt"
    constraints.write_text("idna<2.5\n")
    proc = envdoctor("pin", "--python", str(python), "--no-verify", "-c", str(constraints))
    assert proc.returncode == exitcodes.FINDINGS, proc.stderr
    assert "idna<4,>=2.5" not in [x.split("  #")[0] for x in proc.stdout.splitlines()]  # never written
    assert "charset-normalizer<4,>=2  # was 1.4.1" in proc.stdout  # the other fix stays
    note = next(x for x in proc.stderr.splitlines() if "contradicts" in x)
    assert "requests 2.34.2 requires idna<4,>=2.5" in note and f"{constraints}:1: idna<2.5" in note
    data = json.loads(
        envdoctor("pin", "--python", str(python), "--no-verify", "-c", str(constraints), "--format", "json").stdout
    )
    assert data["complete"] is False and data["verified"] is False
