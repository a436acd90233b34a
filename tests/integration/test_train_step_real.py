"""``check --train`` for real: one Accelerate step per precision on this machine's CPU (bed train-cpu: torch
2.13.0+cpu, accelerate 1.15.0), and the ways it can end badly, each in a real interpreter."""

from __future__ import annotations

import json
import math
import shutil
import sys
from pathlib import Path

import pytest

from envdoctor import api
from envdoctor.report import Report, Severity
from envdoctor.runtime import step
from tests import beds
from tests.hostile import alive, envdoctor, group_alive, reaper

pytestmark = pytest.mark.venv


class Heard:
    """A Progress that keeps what it is told."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def step(self, message: str) -> None:
        self.lines.append(message)


def precisions(report: Report) -> dict[str, dict[str, object]]:
    assert report.train is not None
    return {p["precision"]: p for p in report.train["precisions"]}


def test_fp32_and_bf16_really_train_on_this_cpu_and_fp16_is_reported_as_fp32(train_cpu: beds.Bed) -> None:
    heard = Heard()
    report = api.check(python=train_cpu.python, symbols=False, train=True, precision="fp16", progress=heard)
    assert [m for m in heard.lines if m.startswith("  precision ")] == [
        "  precision no",
        "  precision fp16",
        "  precision bf16",
    ]  # no fp8: not attempted without a CUDA GPU of compute capability 8.9+
    steps = precisions(report)
    fp8 = steps["fp8"]
    assert (fp8["verdict"], fp8["ran"], fp8["error"]) == ("not attempted", False, None)
    assert str(fp8["reason"]).startswith("not attempted: no CUDA GPU here; fp8 needs a CUDA GPU of compute capability")
    for name, dtype in (("no", "float32"), ("bf16", "bfloat16")):
        s = steps[name]
        assert s["verdict"] == "native" and s["compute_dtype"] == dtype
        assert s["loss_finite"] and s["grads_finite"] and s["weights_changed"]
        assert math.isfinite(s["loss"])  # type: ignore[arg-type]
    fp16 = steps["fp16"]
    # measured by hand first (accelerate 1.15.0, torch 2.13.0+cpu): mixed_precision="fp16" is accepted, native_amp
    # is False, no grad scaler, the Linear outputs float32 and the loss equals the fp32 loss
    assert (fp16["verdict"], fp16["compute_dtype"], fp16["native_amp"], fp16["grad_scaler"]) == (
        "fallback",
        "float32",
        False,
        None,
    )
    assert fp16["loss"] == steps["no"]["loss"]
    [finding] = [f for f in report.findings if f.check == step.CHECK]
    assert (finding.id, finding.severity) == ("train-precision-fallback", Severity.WARNING)  # fp16 was asked for
    assert finding.title.startswith("fp16 requested, fp32 ran")
    assert "torch" not in sys.modules and "accelerate" not in sys.modules  # only the target imported them


def test_the_cli_prints_the_table_and_exits_0_when_nothing_but_notes(train_cpu: beds.Bed) -> None:
    proc = envdoctor("check", "--python", str(train_cpu.python), "--train", "--no-symbols", "--format", "text")
    assert proc.returncode == 0, proc.stderr
    assert "torch 2.13.0+cpu (cpu build); no GPU" in proc.stdout
    rows = [line.split()[:3] for line in proc.stdout.splitlines()]
    assert ["fp32", "native", "fp32"] in rows and ["fp16", "fallback", "fp32"] in rows
    assert ["bf16", "native", "bf16"] in rows
    assert "INFO [train-precision-fallback] fp16 requested, fp32 ran" in proc.stdout


def without_accelerate(bed: beds.Bed, dest: Path) -> beds.Bed:
    """A copy of ``bed`` with accelerate uninstalled (its package and dist-info removed, as pip does)."""
    copy = beds.copy(bed, dest)
    for name in ("accelerate", "accelerate-1.15.0.dist-info"):
        shutil.rmtree(copy.site / name)
    return copy


@pytest.mark.parametrize(
    ("which", "missing"),
    [("no-accelerate", "accelerate is not installed"), ("small-clean", "torch is not installed")],
)
def test_a_target_without_accelerate_or_torch_is_a_clear_note_not_a_traceback(
    which: str, missing: str, train_cpu: beds.Bed, tmp_path: Path
) -> None:
    bed = without_accelerate(train_cpu, tmp_path / "venv") if which == "no-accelerate" else beds.build("small-clean")
    args = ("check", "--python", str(bed.python), "--train", "--no-symbols", "--format", "json")
    proc = envdoctor(*args, "--fail-on", "warning")
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.returncode == 1  # a check that could not run counts as a warning
    report = json.loads(proc.stdout)
    [skipped] = report["skipped"]
    assert skipped["check"] == "train-step" and skipped["reason"].startswith(missing)
    assert report["train"]["device"]["cpu_count"] >= 1  # device facts are still reported
    assert envdoctor(*args).returncode == 0  # default --fail-on error


def test_a_step_with_a_nan_loss_is_an_error(train_cpu: beds.Bed, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENVDOCTOR_TEST_STEP_POISON", "nan")
    report = api.check(python=train_cpu.python, symbols=False, train=True)
    fp32 = precisions(report)["no"]
    assert fp32["verdict"] == "fails" and fp32["loss_finite"] is False
    errors = [f for f in report.findings if f.severity is Severity.ERROR]
    assert [(f.id, f.title) for f in errors] == [
        ("train-step-fails", "the fp32 training step fails: fp32 step: the loss is nan (not finite)")
    ]


def test_a_step_that_raises_is_reported_with_its_exact_error(
    train_cpu: beds.Bed, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ENVDOCTOR_TEST_STEP_RAISE", "1")
    report = api.check(python=train_cpu.python, symbols=False, train=True)
    fp32 = precisions(report)["no"]
    assert fp32["ran"] is False
    assert fp32["error"] == {
        "type": "RuntimeError",
        "message": "envdoctor test: ENVDOCTOR_TEST_STEP_RAISE=1 made the forward pass raise",
    }
    [error] = report.at_least(Severity.ERROR)
    assert error.id == "train-step-fails" and "made the forward pass raise" in error.detail


def test_a_step_that_hangs_is_stopped_with_its_process_group(
    train_cpu: beds.Bed, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    pidfile = tmp_path / "hang.pid"
    monkeypatch.setenv("ENVDOCTOR_TEST_STEP_HANG", str(pidfile))
    pids: list[int] = []
    with reaper(pids):
        done = step.run(str(train_cpu.python), timeout=60)
        probe, pgid, child = map(int, pidfile.read_text().split())  # it got past the imports, to the step
        pids += [probe, child]
        assert not alive(probe) and not alive(child) and not group_alive(pgid)
    [finding] = done.findings
    assert (finding.id, finding.severity) == ("train-step-timeout", Severity.ERROR)
    assert "did not finish within 60 s" in finding.title and "process group was killed" in finding.title
