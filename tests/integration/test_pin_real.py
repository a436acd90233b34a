"""`envdoctor pin` on copies of real broken venvs: the file it writes, installed with pip, fixes what was
broken (the user's failing import really runs afterwards, `pip check` is clean) and moves only what it
had to. Needs the package index (pip's resolver and the install)."""

from __future__ import annotations

import os
import subprocess
import sys
import venv
from pathlib import Path

import pytest

from envdoctor.inventory import Inventory
from envdoctor.target import Target
from tests import beds
from tests.peers import envdoctor_report, pip_check

pytestmark = [pytest.mark.venv, pytest.mark.online]


def versions(bed: beds.Bed) -> dict[str, str]:
    inv = Inventory.from_payload(Target.resolve(bed.python).probe("inventory", {}, timeout=120))
    return {name: d.raw_version or "" for name, d in inv.winners.items()}


def envdoctor(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "envdoctor", *args], capture_output=True, text=True, timeout=900, check=False
    )


def runs(bed: beds.Bed, code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(bed.python), "-c", code], capture_output=True, text=True, timeout=600, check=False)


def pin_and_install(bed: beds.Bed, tmp_path: Path, *extra: str) -> tuple[str, dict[str, str], dict[str, str]]:
    before = versions(bed)
    out = envdoctor("pin", "--python", str(bed.python), *extra)
    assert out.returncode == 0, out.stderr
    req = tmp_path / "requirements.txt"
    req.write_text(out.stdout, encoding="utf-8")
    beds.pip("install", "-r", str(req), python=bed.python)
    return out.stdout, before, versions(bed)


def moved(before: dict[str, str], after: dict[str, str]) -> set[str]:
    return {n for n in set(before) | set(after) if before.get(n) != after.get(n)}


def test_pin_fixes_clear_device_cache_moving_only_accelerate(peft_old_accelerate: beds.Bed, tmp_path: Path) -> None:
    bed = beds.copy(peft_old_accelerate, tmp_path / "venv")
    assert runs(bed, "from transformers import Trainer").returncode != 0  # broken, as the user saw it
    text, before, after = pin_and_install(bed, tmp_path)
    assert "# verified: pip" in text
    assert "accelerate==0.32.1  # was 0.31.0; fixes symbol-missing" in text
    assert "# alternative: peft==0.14.0" in text
    assert moved(before, after) == {"accelerate"}
    assert after["torch"] == before["torch"] and after["transformers"] == before["transformers"]
    fixed = runs(bed, "from transformers import Trainer; import peft")
    assert fixed.returncode == 0, fixed.stderr[-2000:]
    assert pip_check(bed.python)[0] == 0
    rc, report = envdoctor_report(bed.python)
    assert rc == 0, report


@pytest.mark.parametrize(
    ("bed_name", "statement", "name", "line", "alternative"),
    [
        # a name transformers 4.39.0 removed from its lazy top level (`_import_structure`)
        (
            "trl-transformers-toplevel",
            "import trl",
            "top_k_top_p_filtering",
            "trl==0.8.6  # was 0.7.11",
            "transformers==4.38.2",
        ),
        # a name huggingface_hub 0.26.0 removed from its lazy top level (`_SUBMOD_ATTRS`)
        (
            "diffusers-hub-removed-name",
            "import diffusers",
            "cached_download",
            "huggingface-hub==0.25.2  # was 0.26.0",
            "diffusers==0.29.2",
        ),
    ],
)
def test_pin_fixes_a_name_removed_from_a_lazy_top_level(
    bed_name: str, statement: str, name: str, line: str, alternative: str, tmp_path: Path
) -> None:
    bed = beds.copy(beds.build(bed_name), tmp_path / "venv")
    assert f"cannot import name '{name}'" in runs(bed, statement).stderr  # broken, as the user saw it
    text, before, after = pin_and_install(bed, tmp_path)
    assert "# verified: pip" in text
    assert f"{line}; fixes symbol-missing" in text
    assert f"# alternative: {alternative}" in text
    assert moved(before, after) == {line.split("==", maxsplit=1)[0]}
    fixed = runs(bed, statement)
    assert fixed.returncode == 0, fixed.stderr[-2000:]
    assert pip_check(bed.python)[0] == 0


def test_pin_fixes_numpy2_abi_break_by_moving_numpy_only(numpy2_abi_break: beds.Bed, tmp_path: Path) -> None:
    bed = beds.copy(numpy2_abi_break, tmp_path / "venv")
    assert runs(bed, "import bottleneck").returncode != 0
    text, before, after = pin_and_install(bed, tmp_path)
    assert "numpy==1.26.4  # was 2.0.2; fixes numpy1-extension-under-numpy2" in text
    assert moved(before, after) == {"numpy"}
    assert runs(bed, "import bottleneck, h5py").returncode == 0
    assert pip_check(bed.python)[0] == 0


def test_pin_fixes_what_pip_check_reports(conflict_bed: beds.Bed, tmp_path: Path) -> None:
    bed = beds.copy(conflict_bed, tmp_path / "venv")
    assert pip_check(bed.python)[0] != 0
    text, before, after = pin_and_install(bed, tmp_path)
    assert "tokenizers==0.23.3  # was 0.22.2; fixes requirement-conflict" in text
    assert moved(before, after) == {"tokenizers", "safetensors"}
    assert after["transformers"] == before["transformers"]
    assert pip_check(bed.python)[0] == 0
    assert runs(bed, "import transformers, tokenizers, safetensors").returncode == 0


def test_pin_of_a_healthy_venv_reproduces_it_in_a_fresh_venv(hf_stack_2024: beds.Bed, tmp_path: Path) -> None:
    out = envdoctor("pin", "--python", str(hf_stack_2024.python))
    assert out.returncode == 0, out.stderr
    assert "no error found: the pins are the current versions, unchanged" in out.stderr
    req = tmp_path / "requirements.txt"
    req.write_text(out.stdout, encoding="utf-8")
    fresh = beds.Bed("fresh", tmp_path / "fresh")
    venv.EnvBuilder(with_pip=False, symlinks=True).create(fresh.root)
    beds.link_torch(fresh)  # torch comes preinstalled, as on Colab
    beds.pip("install", "-r", str(req), python=fresh.python)
    original, copy = versions(hf_stack_2024), versions(fresh)
    pinned = {line.split("==")[0].lower() for line in out.stdout.splitlines() if "==" in line and line[0] != "#"}
    assert pinned, out.stdout
    for name in copy:
        assert copy[name] == original.get(name), name
    assert pip_check(fresh.python)[0] == 0


def test_apply_fixes_a_copy_and_the_rollback_file_restores_the_broken_set(
    peft_old_accelerate: beds.Bed, tmp_path: Path
) -> None:
    bed = beds.copy(peft_old_accelerate, tmp_path / "venv")
    before = versions(bed)
    rollback = tmp_path / "rollback.txt"
    out = envdoctor("pin", "--python", str(bed.python), "--apply", "--yes", "--rollback-file", str(rollback))
    assert out.returncode == 0, out.stdout + out.stderr
    assert "changed: accelerate 0.31.0 -> 0.32.1" in out.stdout
    assert moved(before, versions(bed)) == {"accelerate"}
    assert runs(bed, "from transformers import Trainer").returncode == 0
    assert rollback.read_text().splitlines()[2:] == ["accelerate==0.31.0"]
    [command] = [line.removeprefix("to undo: ") for line in out.stdout.splitlines() if line.startswith("to undo: ")]
    subprocess.run(command, shell=True, check=True, capture_output=True, timeout=600)
    assert versions(bed) == before  # exactly the broken set again
    assert runs(bed, "from transformers import Trainer").returncode != 0


def test_apply_without_a_terminal_or_yes_changes_nothing(peft_old_accelerate: beds.Bed, tmp_path: Path) -> None:
    bed = beds.copy(peft_old_accelerate, tmp_path / "venv")
    before = versions(bed)
    out = subprocess.run(
        [sys.executable, "-m", "envdoctor", "pin", "--python", str(bed.python), "--apply"],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
        stdin=subprocess.DEVNULL,
        cwd=tmp_path,
    )
    assert out.returncode == 2
    assert "pass --yes" in out.stderr
    assert versions(bed) == before
    assert list(tmp_path.glob("envdoctor-rollback-*")) == []


def _verdicts(text: str) -> list[str]:
    return [x for x in text.splitlines() if x.startswith(("# verified", "# NOT verified"))]


def test_pin_with_nothing_watched_pins_the_whole_set_a_fresh_venv_reproduces(
    small_clean: beds.Bed, tmp_path: Path
) -> None:
    """small-clean (requests and its dependencies) holds no watched package: the file still names every
    distribution, and installing it into an empty venv gives the same set."""
    out = envdoctor("pin", "--python", str(small_clean.python))
    assert out.returncode == 0, out.stderr
    assert "nothing else requires (requests) and what it requires: 5 distributions" in out.stderr
    assert _verdicts(out.stdout)[0].startswith("# verified: the environment has no error")
    req = tmp_path / "requirements.txt"
    req.write_text(out.stdout, encoding="utf-8")
    fresh = beds.Bed("fresh", tmp_path / "fresh")
    venv.EnvBuilder(with_pip=False, symlinks=True).create(fresh.root)
    beds.pip("install", "-r", str(req), python=fresh.python)
    assert versions(fresh) == versions(small_clean)


def test_pin_fixes_both_requests_conflicts_and_the_file_is_the_whole_set(
    requests_conflict: beds.Bed, tmp_path: Path
) -> None:
    bed = beds.copy(requests_conflict, tmp_path / "venv")
    assert pip_check(bed.python)[0] != 0
    text, before, after = pin_and_install(bed, tmp_path)
    assert _verdicts(text) == [
        "# verified: pip 23.2.1 resolves it (2 to install); envdoctor's checks of the resolved set find no error"
    ]
    assert moved(before, after) == {"idna", "charset-normalizer"}
    assert pip_check(bed.python)[0] == 0
    fresh = beds.Bed("fresh", tmp_path / "fresh")  # the file alone rebuilds the fixed set
    venv.EnvBuilder(with_pip=False, symlinks=True).create(fresh.root)
    beds.pip("install", "-r", str(tmp_path / "requirements.txt"), python=fresh.python)
    assert versions(fresh) == after


def test_pin_keep_idna_keeps_the_charset_normalizer_fix_and_says_the_truth(
    requests_conflict: beds.Bed, tmp_path: Path
) -> None:
    out = envdoctor("pin", "--python", str(requests_conflict.python), "--keep", "idna")
    assert out.returncode == 1, out.stderr
    assert "charset-normalizer<4,>=2  # was 1.4.1; fixes requirement-conflict" in out.stdout
    assert "idna==2.4" in out.stdout.splitlines()
    [verdict] = _verdicts(out.stdout)  # the kept idna 2.4 is what requests refuses: pip says so, and so does the file
    assert verdict.startswith(
        "# NOT verified: pip does not accept the set: Cannot install idna==2.4 and requests==2.34.2"
    )
    assert "# NOT fixed: [requirement-conflict] requests 2.34.2 requires idna<4,>=2.5" in out.stdout


def test_pin_constraint_contradicting_the_only_fix_names_both_sources(
    requests_conflict: beds.Bed, tmp_path: Path
) -> None:
    constraints = tmp_path / "c.txt"
    constraints.write_text("idna<2.5\n")
    for extra in ((), ("--no-verify",)):
        out = envdoctor("pin", "--python", str(requests_conflict.python), "-c", str(constraints), *extra)
        assert out.returncode == 1, out.stderr
        [note] = [x for x in out.stderr.splitlines() if "contradicts" in x]
        assert "requests 2.34.2 requires idna<4,>=2.5" in note and f"{constraints}:1: idna<2.5" in note
        assert "idna<4,>=2.5" not in [x.split("  #")[0] for x in out.stdout.splitlines()]
        assert len(_verdicts(out.stdout)) == 1


def test_pin_adds_the_undeclared_distribution(trl_undeclared_rich: beds.Bed, tmp_path: Path) -> None:
    """The fix of module-undeclared is a distribution that was not installed: the plan adds it. trl 0.11.4's
    trainers also refuse the num_items_in_batch transformers 4.46.3 passes (call-override-keyword, test_calls_real):
    no requirement-level fix is known for that, so the file says so and pin exits 1."""
    bed = beds.copy(trl_undeclared_rich, tmp_path / "venv")
    assert runs(bed, "from trl import SFTTrainer").returncode != 0
    before = versions(bed)
    out = envdoctor("pin", "--python", str(bed.python))
    assert out.returncode == 1, out.stderr
    text = out.stdout
    assert "pip 23.2.1 resolves it" in text
    assert "# NOT fixed: [call-override-keyword] trl 0.11.4 overrides transformers 4.46.3's Trainer" in text
    assert "# moves rich (not installed) -> 15.0.0" in text
    assert "rich==15.0.0  # was not installed; fixes module-undeclared" in text
    req = tmp_path / "requirements.txt"
    req.write_text(text, encoding="utf-8")
    beds.pip("install", "-r", str(req), python=bed.python)
    assert moved(before, versions(bed)) == {"rich", "markdown-it-py", "pygments", "mdurl"}  # rich and its needs
    fixed = runs(bed, "from trl import SFTTrainer")
    assert fixed.returncode == 0, fixed.stderr[-2000:]


@pytest.mark.parametrize(
    ("bed_name", "statement", "line"),
    [
        (
            "torch-old-tensorboard",
            "from torch.utils.tensorboard import SummaryWriter",
            "tensorboard==2.20.0  # was 1.14.0",
        ),
        ("jax-newer-jaxlib", "import jax", "jaxlib==0.4.20  # was 0.4.23"),
    ],
)
def test_pin_probes_plans_for_a_runtime_only_break_and_the_import_then_works(
    bed_name: str, statement: str, line: str, tmp_path: Path
) -> None:
    """No static check sees these (tests/beds/README.md): without --probes `pin` has nothing to plan; with it
    the import-failed finding's diagnosed fix is planned like any other and the real import works after."""
    bed = beds.copy(beds.build(bed_name), tmp_path / "venv")
    assert runs(bed, statement).returncode != 0  # broken, as the user saw it
    static = envdoctor("pin", "--python", str(bed.python), "--changes-only")
    assert static.returncode == 0, static.stderr
    assert "# moves" not in static.stdout
    text, before, after = pin_and_install(bed, tmp_path, "--probes", "--timeout", "300")
    assert "# verified: pip" in text
    assert f"{line}; fixes import-failed" in text
    assert moved(before, after) - {"tensorboard-data-server", "pillow"} == {line.split("==", maxsplit=1)[0]}
    fixed = runs(bed, statement)
    assert fixed.returncode == 0, fixed.stderr[-2000:]
    assert pip_check(bed.python)[0] == 0


def test_pin_verify_tries_the_clear_device_cache_fix_in_a_copy_that_shares_torch(
    peft_old_accelerate: beds.Bed, tmp_path: Path
) -> None:
    """The plan (accelerate 0.31.0 -> 0.32.1) is installed into a throwaway copy, where the imports work and the
    first Trainer step fails (accelerate < 0.34's AcceleratedOptimizer.train calls torch's AdamW.train, which it
    lacks; tests/beds/README.md); so does 0.33.0, and 0.34.2 passes. Only accelerate is installed in each copy,
    torch is shared by a link, and the target is unchanged (every file's size and mtime, every RECORD byte)."""
    bed = beds.copy(peft_old_accelerate, tmp_path / "venv")
    site = bed.site

    def state() -> dict[str, object]:
        files = {str(p): (p.lstat().st_size, p.lstat().st_mtime_ns) for p in site.rglob("*")}
        records = {str(p): p.read_bytes() for p in site.glob("*.dist-info/RECORD")}
        return {"files": files, "records": records}

    before = state()
    temp = tmp_path / "tmp"
    temp.mkdir()
    res = subprocess.run(
        [sys.executable, "-m", "envdoctor", "pin", "--python", str(bed.python), "--verify"],
        capture_output=True,
        text=True,
        timeout=1800,
        env={**os.environ, "TMPDIR": str(temp)},
        check=False,
    )
    assert res.returncode == 0, res.stderr
    header = res.stdout.splitlines()[1]
    assert header.startswith("# verified: pip ")
    assert "in a throwaway copy of the environment with the plan installed (1 installed by pip, " in header
    assert (
        " 7 import probes pass and the stack step passes (Trainer, LoRA (peft)); the resume_from_checkpoint" in header
    )
    assert header.endswith(
        "not the plan's doing, none of the moved distributions is in its diagnosis, and the environment itself "
        "cannot run this step"
    )
    assert "accelerate==0.34.2  # was 0.31.0; fixes symbol-missing" in res.stdout.splitlines()
    notes = [line for line in res.stdout.splitlines() if line.startswith("# note: tried in a copy and failed: ")]
    assert [n.split(": ")[2] for n in notes] == ["accelerate 0.31.0 -> 0.32.1", "accelerate 0.31.0 -> 0.33.0"]
    assert all(
        n.endswith(
            "the Trainer and LoRA (peft) steps fail: AttributeError: 'AdamW' object has no attribute 'train' "
            "(at accelerate/optimizer.py:128 in train)"
        )
        for n in notes
    )
    assert state() == before
    assert list(temp.iterdir()) == []


def test_pin_verify_with_an_import_no_training_plan_allows_is_not_verified(
    peft_old_accelerate: beds.Bed, tmp_path: Path
) -> None:
    """The user's own code imports a name accelerate 0.32 removed, and under transformers 4.46.3 and torch 2.13
    the Trainer step needs accelerate >= 0.34: no plan passes both. The nearest plan (accelerate 0.32.1) fails
    that import in the copy; the alternative (peft 0.15.0 -> 0.14.0, accelerate kept) and its next releases
    import, and fail the Trainer step. NOT verified, exit code 1, with each failure's evidence."""
    own = "from accelerate.utils.fsdp_utils import FSDP_PYTORCH_VERSION"
    assert runs(peft_old_accelerate, own).returncode == 0  # works today, with accelerate 0.31.0
    res = envdoctor("pin", "--python", str(peft_old_accelerate.python), "--verify", "--import", own)
    assert res.returncode == 1, res.stderr
    header = [line for line in res.stdout.splitlines() if line.startswith("# ")]
    [verdict] = _verdicts(res.stdout)
    assert verdict.startswith("# NOT verified: pip ")
    assert verdict.endswith(
        f"`{own}`: ImportError: cannot import name 'FSDP_PYTORCH_VERSION' from 'accelerate.utils.fsdp_utils' "
        "(<copy>/lib/python3.11/site-packages/accelerate/utils/fsdp_utils.py)"
    )
    assert "# moves accelerate 0.31.0 -> 0.32.1" in header
    notes = [line for line in header if line.startswith("# note: tried in a copy and failed: ")]
    assert notes[0].startswith("# note: tried in a copy and failed: peft 0.15.0 -> 0.14.0: in a throwaway copy")
    assert all(
        n.endswith("AttributeError: 'AdamW' object has no attribute 'train' (at accelerate/optimizer.py:128 in train)")
        for n in notes
    )
    assert len(notes) == 3  # four plans in all: the bound
