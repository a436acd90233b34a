"""Imports that do not always run, on real venvs: a fallback under `except ImportError:` and an import in
an `if is_X_available(...):` branch that the installed versions skip."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests import beds, peers

pytestmark = pytest.mark.venv


def _run(bed: beds.Bed, code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(bed.python), "-c", code], capture_output=True, text=True, timeout=600)


def test_fallback_imports_of_a_healthy_scikit_learn_are_not_errors(sklearn_scipy_numpy2: beds.Bed) -> None:
    bed = sklearn_scipy_numpy2
    assert peers.pip_check(bed.python)[0] == 0
    proc = _run(bed, "import sklearn, sklearn.linear_model, sklearn.kernel_approximation; print('ok')")
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr
    rc, report = peers.envdoctor_report(bed.python)
    findings = report["findings"]
    assert [f for f in findings if f["severity"] == "error"] == []
    assert rc == 0
    # sklearn/utils/fixes.py's `except ImportError: from scipy.integrate import trapz ...` never runs here
    assert not any("trapz" in str(f["title"]) or "linesearch" in str(f["title"]) for f in findings)


def test_import_in_a_skipped_is_available_branch_is_not_said_to_fail(transformers_gated_accelerate: beds.Bed) -> None:
    bed = transformers_gated_accelerate
    proc = _run(
        bed,
        "from transformers import Trainer; import transformers.trainer as t; print(hasattr(t, 'DataLoaderConfiguration'))",
    )
    assert proc.returncode == 0 and proc.stdout.strip() == "False", proc.stderr  # the import never ran
    _, report = peers.envdoctor_report(bed.python)
    [f] = [f for f in report["findings"] if "DataLoaderConfiguration" in str(f["title"])]
    assert f["severity"] == "info"
    detail = str(f["detail"])
    assert detail.startswith("Does not fail here: the import is in a branch the installed versions skip")
    assert 'is_accelerate_available("0.28.0") asks for accelerate>=0.28.0, and 0.25.0 is installed' in detail
    assert "Fails at" not in detail and "from transformers import Trainer" not in detail
    assert str(f["evidence"][0]).endswith(
        "transformers/trainer.py:235: from accelerate.utils import DataLoaderConfiguration"
    )


@pytest.mark.online
def test_pin_moves_nothing_on_the_healthy_scikit_learn_bed(sklearn_scipy_numpy2: beds.Bed) -> None:
    # before: the two fallback "errors" left pin with "NOT fixed" lines and exit 1 on a stack that works
    proc = subprocess.run(
        [sys.executable, "-m", "envdoctor", "pin", "--python", str(sklearn_scipy_numpy2.python), "--format", "json"],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stderr
    pinned = json.loads(proc.stdout)
    assert pinned["moves"] == [] and pinned["remaining"] == [] and pinned["cleared"] == []
