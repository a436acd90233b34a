"""`envdoctor pin` on real stacks where the nearest-series plan imports cleanly and fails the first Trainer step
(tests/beds/README.md, "The nearest-series fix imports cleanly and fails the first Trainer step"). On the unwrap bed
the static calls check already skips the nearest series, and --verify proves the plan by the step in a copy; on the
dispatch bed (a caller that moves, which no static check of the installed files can judge) the plan is tried in a
throwaway copy, the step's failure is held against it (a note with the traceback line) and the next plan follows
the diagnosed fix. Either way the file, installed into a copy of the bed, really trains. One `pin --verify` run per
bed (module fixtures), shared by the tests of that bed. Needs the package index."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests import beds, hostile
from tests.integration.test_stack_step_real import run_stack

pytestmark = [pytest.mark.venv, pytest.mark.online]

DISPATCH = (
    "the Trainer and SFTTrainer (trl) steps fail: TypeError: Accelerator.__init__() got an unexpected keyword "
    "argument 'dispatch_batches' (at transformers/trainer.py:4127 in create_accelerator_and_postprocess)"
)


def envdoctor(*args: str) -> subprocess.CompletedProcess[str]:
    return hostile.envdoctor(*args, timeout=1800)  # a --verify run installs into a copy: minutes, not seconds


def header(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("# ")]


def the_note(lines: list[str]) -> tuple[str, str]:
    """The header's one `note: tried in a copy and failed` line: the plan it tried, and the evidence."""
    [note] = [line.removeprefix("# note: tried in a copy and failed: ") for line in lines if "tried in a copy" in line]
    moves, _, rest = note.partition(": in a throwaway copy of the environment with the plan installed (")
    return moves, rest.split(" shared), ", maxsplit=1)[1]


def trains_after_installing(bed: beds.Bed, text: str, tmp: Path) -> dict[str, str]:
    """Install the pin file ``text`` into a copy of ``bed`` (as a user would) and run the stack step there for real."""
    req = tmp / "requirements.txt"
    req.write_text(text, encoding="utf-8")
    copy = beds.copy(bed, tmp / "venv")
    beds.pip("install", "-r", str(req), python=copy.python)
    done = run_stack(copy)
    assert done.stack is not None, done
    return {r.step: r.status for r in done.stack.results}


@pytest.fixture(scope="module")
def unwrap_pin(nearest_accelerate_unwrap: beds.Bed) -> subprocess.CompletedProcess[str]:
    return envdoctor("pin", "--python", str(nearest_accelerate_unwrap.python), "--verify")


def test_pin_without_verify_skips_the_nearest_series_by_the_static_calls_check(
    nearest_accelerate_unwrap: beds.Bed,
) -> None:
    """The nearest series (accelerate 0.32.1) imports cleanly and fails the Trainer step (tests/beds/README.md);
    the static calls check sees transformers 4.52.4 call `unwrap_model(keep_torch_compile=...)` and skips it."""
    out = envdoctor("pin", "--python", str(nearest_accelerate_unwrap.python), "--changes-only")
    assert out.returncode == 0, out.stderr
    assert "accelerate==1.3.0  # was 0.31.0; fixes symbol-missing, call-keyword-missing" in out.stdout.splitlines()


def test_verify_proves_accelerate_1_3_0_by_the_trainer_step_in_a_copy(
    unwrap_pin: subprocess.CompletedProcess[str],
) -> None:
    assert unwrap_pin.returncode == 0, unwrap_pin.stderr
    lines = header(unwrap_pin.stdout)
    assert lines[1].startswith("# verified: pip ")
    assert lines[1].endswith(
        " import probes pass and the stack step passes (Trainer, resume_from_checkpoint, LoRA (peft))"
    )
    assert "# moves accelerate 0.31.0 -> 1.3.0" in lines
    assert not [line for line in lines if "tried in a copy" in line]  # the first plan was the right one
    assert (
        "accelerate==1.3.0  # was 0.31.0; fixes symbol-missing, call-keyword-missing" in unwrap_pin.stdout.splitlines()
    )


def test_the_unwrap_file_installed_into_a_copy_trains(
    nearest_accelerate_unwrap: beds.Bed, unwrap_pin: subprocess.CompletedProcess[str], tmp_path: Path
) -> None:
    steps = trains_after_installing(nearest_accelerate_unwrap, unwrap_pin.stdout, tmp_path)
    assert steps == {"trainer": "passes", "resume": "passes", "lora": "passes", "sft": "skipped"}


@pytest.fixture(scope="module")
def trl_held(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("constraints") / "c.txt"
    path.write_text("trl==0.7.11\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def dispatch_pin(nearest_transformers_dispatch: beds.Bed, trl_held: Path) -> subprocess.CompletedProcess[str]:
    return envdoctor("pin", "--python", str(nearest_transformers_dispatch.python), "-c", str(trl_held), "--verify")


def test_verify_adds_accelerate_0_34_when_transformers_4_38_fails_the_trainer_step(
    dispatch_pin: subprocess.CompletedProcess[str],
) -> None:
    """The plan moves the caller (transformers down to 4.38.2); the step's diagnosed fix moves the callee too."""
    assert dispatch_pin.returncode == 0, dispatch_pin.stderr
    lines = header(dispatch_pin.stdout)
    assert lines[1].startswith("# verified: pip ")
    assert (
        " import probes pass and the stack step passes (Trainer, SFTTrainer (trl)); the resume_from_checkpoint"
        in (lines[1])
    )
    assert lines[1].endswith("it fails the same way in the environment itself, not the plan's doing")
    moves = [line for line in lines if line.startswith("# moves ")]
    assert moves == [
        "# moves accelerate 1.0.1 -> 0.34.2",
        "# moves tokenizers 0.19.1 -> 0.15.2",
        "# moves transformers 4.40.2 -> 4.38.2",
    ]
    assert the_note(lines) == (
        "tokenizers 0.19.1 -> 0.15.2, transformers 4.40.2 -> 4.38.2",
        DISPATCH,
    )
    assert "accelerate==0.34.2  # was 1.0.1; fixes stack-step-fails" in dispatch_pin.stdout.splitlines()


def test_the_dispatch_file_installed_into_a_copy_trains(
    nearest_transformers_dispatch: beds.Bed, dispatch_pin: subprocess.CompletedProcess[str], tmp_path: Path
) -> None:
    steps = trains_after_installing(nearest_transformers_dispatch, dispatch_pin.stdout, tmp_path)
    assert steps["trainer"] == "passes" and steps["sft"] == "passes"
    assert steps["resume"] == "fails"  # torch 2.13's weights_only default, as in the bed itself (README)


def test_verify_with_accelerate_kept_ends_not_verified_with_the_step_evidence(
    nearest_transformers_dispatch: beds.Bed, trl_held: Path
) -> None:
    """No plan passes when accelerate must stay at 1.0.1: NOT verified, exit code 1, the step's traceback line."""
    bed = str(nearest_transformers_dispatch.python)
    out = envdoctor("pin", "--python", bed, "-c", str(trl_held), "--keep", "accelerate", "--verify")
    assert out.returncode == 1, out.stderr
    verdicts = [line for line in header(out.stdout) if "verified" in line.split(":")[0]]
    assert len(verdicts) == 1 and verdicts[0].startswith("# NOT verified: pip ")
    assert verdicts[0].endswith(f" shared), {DISPATCH}")
    assert "transformers==4.38.2  # was 4.40.2; fixes symbol-missing" in out.stdout.splitlines()
