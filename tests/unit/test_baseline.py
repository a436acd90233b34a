"""The baseline's finding key: stable across machines and patch releases, distinct across breaks."""

from __future__ import annotations

from pathlib import Path

import pytest

from envdoctor import baseline
from envdoctor.errors import UsageError
from envdoctor.report import Finding, Report, Severity

PEFT = Finding(
    id="symbol-missing",
    severity=Severity.ERROR,
    title="peft 0.15.0 imports clear_device_cache from accelerate.utils.memory, which accelerate 0.31.0 does not define",
    packages=("peft", "accelerate"),
    evidence=("/home/me/venv/lib/python3.11/site-packages/peft/utils/loftq_utils.py:25: from accelerate...",),
)


def test_the_key_leaves_out_versions_paths_and_line_numbers() -> None:
    assert baseline.key(PEFT) == (
        "symbol-missing|peft,accelerate|peft * imports clear_device_cache from accelerate.utils.memory, "
        "which accelerate * does not define"
    )
    moved = Finding(
        id="symbol-missing",
        severity=Severity.ERROR,
        title=PEFT.title.replace("0.15.0", "0.15.2").replace("0.31.0", "0.31.1+local"),
        packages=PEFT.packages,
    )
    assert baseline.key(moved) == baseline.key(PEFT)
    other_name = Finding(
        id="symbol-missing",
        severity=Severity.ERROR,
        title=PEFT.title.replace("clear_device_cache", "release_memory"),
        packages=PEFT.packages,
    )
    assert baseline.key(other_name) != baseline.key(PEFT)
    path = Finding(
        id="dist-duplicate",
        severity=Severity.WARNING,
        title="two copies of numpy: /root/a/site-packages and /home/x/b/site-packages:12",
        packages=("numpy",),
    )
    assert baseline.key(path) == "dist-duplicate|numpy|two copies of numpy: PATH and PATH"
    wheel = Finding(id="x", severity=Severity.INFO, title="built for python3.11 and cp311 (2.13.0+cpu)")
    assert baseline.key(wheel) == "x||built for python3.11 and cp311 (*)"


def test_write_read_apply_round_trip(tmp_path: Path) -> None:
    ignored = Finding(id="what-if", severity=Severity.INFO, title="t", suppressed="expected")
    report = Report.build([PEFT, ignored])
    assert baseline.write(tmp_path / "b.json", report) == 1  # an ignored finding is not baselined
    keys = baseline.read(tmp_path / "b.json")
    applied = baseline.apply(report, keys, "b.json")
    assert [f.suppressed for f in applied.findings] == ["baselined (b.json)", "expected"]
    assert applied.worst is None


@pytest.mark.parametrize(
    ("content", "words"),
    [(None, "no such file"), ("{", "not JSON"), ('{"schema": "other", "findings": []}', "not an envdoctor baseline")],
)
def test_a_bad_baseline_is_a_usage_error(tmp_path: Path, content: str | None, words: str) -> None:
    path = tmp_path / "b.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(UsageError, match=words):
        baseline.read(path)
