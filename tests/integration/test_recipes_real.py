"""The README's CI recipes, tried for real: the GitHub Actions, GitLab CI and shell-gate recipes are read
from README.md, their YAML parsed, their script lines run in `bash -e` (as the runners run them) in a
scratch project whose `.venv` is a real broken or healthy venv, with this checkout's `envdoctor` on PATH
(the `pip install` lines are left out: they install what the test already has). The pre-commit hook is
installed from this repository by pre-commit itself and run on a scratch git repository."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml  # type: ignore[import-untyped]
from junitparser import JUnitXml
from markdown_it import MarkdownIt

from tests import beds

ROOT = Path(__file__).resolve().parents[2]


def recipe(name: str) -> str:
    """The code block after ``<!-- recipe: NAME -->`` in README.md."""
    tokens = MarkdownIt("commonmark").parse((ROOT / "README.md").read_text())
    for i, token in enumerate(tokens):
        if token.type == "html_block" and f"recipe: {name} " in token.content:
            fence = tokens[i + 1]
            assert fence.type == "fence"
            return fence.content
    raise AssertionError(f"README.md has no recipe {name!r}")


def script(lines: list[str]) -> str:
    """The lines a CI runner would run, without the ones that install packages."""
    return "\n".join(line for line in lines if not re.match(r"\s*(python -m venv|pip install)", line))


def project(tmp_path: Path, bed: beds.Bed) -> tuple[Path, dict[str, str]]:
    work = tmp_path / "project"
    work.mkdir(parents=True)
    (work / ".venv").symlink_to(bed.root)
    (work / "train.py").write_text("print('training')\n")
    env = {k: v for k, v in os.environ.items() if k != "GITHUB_ACTIONS"}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    return work, env


def bash(text: str, work: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-e", "-c", text, "recipe", *args], cwd=work, env=env, capture_output=True, text=True, timeout=600
    )


def test_every_recipe_is_valid_yaml_with_the_keys_its_runner_reads() -> None:
    steps = yaml.safe_load(recipe("github"))["jobs"]["train"]["steps"]
    [gate] = [s for s in steps if s.get("name") == "envdoctor"]
    assert "envdoctor check" in gate["run"]
    assert [s.get("name") for s in steps].index("train") > steps.index(gate)
    job = yaml.safe_load(recipe("gitlab"))["envdoctor"]
    assert job["artifacts"]["reports"]["junit"] == "envdoctor.xml" and job["artifacts"]["when"] == "always"
    hook = yaml.safe_load(recipe("pre-commit"))["repos"][0]["hooks"][0]
    assert hook["id"] == "envdoctor" and hook["args"][0] == "--python"
    [declared] = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())
    assert {k: declared[k] for k in ("id", "entry", "language", "pass_filenames", "always_run")} == {
        "id": "envdoctor",
        "entry": "envdoctor check",
        "language": "python",
        "pass_filenames": False,
        "always_run": True,
    }


@pytest.mark.venv
def test_github_actions_recipe(peft_old_accelerate: beds.Bed, small_clean: beds.Bed, tmp_path: Path) -> None:
    steps = yaml.safe_load(recipe("github"))["jobs"]["train"]["steps"]
    run = script(next(s for s in steps if s.get("name") == "envdoctor")["run"].splitlines())
    for bed, code in ((peft_old_accelerate, 1), (small_clean, 0)):
        work, env = project(tmp_path / bed.name, bed)
        env |= {"GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": str(work / "summary.md")}
        proc = bash(run, work, env)
        assert proc.returncode == code, proc.stderr
        assert (work / "envdoctor.xml").is_file() and (work / "envdoctor.sarif").is_file()
        assert "## envdoctor check" in (work / "summary.md").read_text()
        if code:
            assert proc.stdout.startswith("::error title=envdoctor [symbol-missing]::peft 0.15.0 imports")


@pytest.mark.venv
def test_gitlab_recipe(peft_old_accelerate: beds.Bed, small_clean: beds.Bed, tmp_path: Path) -> None:
    job = yaml.safe_load(recipe("gitlab"))["envdoctor"]
    for bed, code in ((peft_old_accelerate, 1), (small_clean, 0)):
        work, env = project(tmp_path / bed.name, bed)
        proc = bash(script(job["script"]), work, env)
        assert proc.returncode == code, proc.stderr
        report = JUnitXml.fromfile(str(work / job["artifacts"]["reports"]["junit"]))
        assert report.failures == code  # what GitLab's test report shows
        assert all((work / p).is_file() for p in job["artifacts"]["paths"])


@pytest.mark.venv
def test_shell_gate(peft_old_accelerate: beds.Bed, small_clean: beds.Bed, tmp_path: Path) -> None:
    for bed, code in ((peft_old_accelerate, 1), (small_clean, 0)):
        work, env = project(tmp_path / bed.name, bed)
        gate = work / "gate.sh"
        gate.write_text(recipe("shell"))
        gate.chmod(0o755)
        proc = subprocess.run(
            [str(gate), "--epochs", "1"], cwd=work, env=env, capture_output=True, text=True, timeout=600
        )
        assert proc.returncode == code, proc.stderr
        assert ("training" in proc.stdout) is (code == 0)
        assert ("not training, the environment is broken (exit 1)" in proc.stderr) is (code == 1)
        assert (work / "envdoctor.json").is_file()


@pytest.mark.venv
@pytest.mark.online
def test_pre_commit_installs_and_runs_the_hook(
    peft_old_accelerate: beds.Bed, small_clean: beds.Bed, tmp_path: Path
) -> None:
    """pre-commit clones this repository at its HEAD commit, installs envdoctor into a venv of its own (pip:
    hatchling, packaging, rich from the index) and runs the hook on a scratch repository."""
    pre_commit = shutil.which("pre-commit", path=str(Path(sys.executable).parent))
    assert pre_commit, "pre-commit is in the test extra"
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()
    listed = subprocess.run(["git", "ls-tree", "--name-only", head], cwd=ROOT, capture_output=True, text=True).stdout
    assert ".pre-commit-hooks.yaml" in listed.split(), "commit .pre-commit-hooks.yaml first: pre-commit reads HEAD"
    config = yaml.safe_load(recipe("pre-commit"))
    env = {**os.environ, "PRE_COMMIT_HOME": str(tmp_path / "pre-commit-home"), "GIT_CONFIG_NOSYSTEM": "1"}
    env |= {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.invalid", "GIT_COMMITTER_NAME": "t"}
    env |= {"GIT_COMMITTER_EMAIL": "t@example.invalid"}
    env.pop("GITHUB_ACTIONS", None)
    for bed, code in ((peft_old_accelerate, 1), (small_clean, 0)):
        repo = tmp_path / bed.name
        repo.mkdir()
        (repo / ".venv").symlink_to(bed.root)
        (repo / ".gitignore").write_text(".venv\n")
        config["repos"][0]["repo"], config["repos"][0]["rev"] = str(ROOT), head
        (repo / ".pre-commit-config.yaml").write_text(yaml.safe_dump(config))
        for git in (["init", "-q"], ["add", "."], ["commit", "-qm", "scratch"]):
            subprocess.run(["git", *git], cwd=repo, env=env, check=True, capture_output=True)
        proc = subprocess.run(
            [pre_commit, "run", "--all-files", "--color", "never"],
            cwd=repo,
            env=env,
            capture_output=True,
            text=True,
            timeout=900,
        )
        assert proc.returncode == code, proc.stdout + proc.stderr
        verdict = "Failed" if code else "Passed"
        assert re.search(rf"^envdoctor check\.+{verdict}$", proc.stdout, re.M), proc.stdout
        if code:
            assert "- exit code: 1" in proc.stdout and "BROKEN: 1 error" in proc.stdout
