"""Hardware and precision facts (matrix/hardware.toml): the shipped values the precision probe needs,
and the validator's file:line errors for [[fact]] tables."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from envdoctor.cache import Cache
from envdoctor.checks.rules import SIGNALS
from envdoctor.knowledge.matrix import HardwareFact, Matrix, MatrixError, load
from envdoctor.resources import data_dir
from envdoctor.versions import parse_version

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def matrix() -> Matrix:
    return load(data_dir("matrix"), signals=SIGNALS)


def fact(matrix: Matrix, fact_id: str) -> HardwareFact:
    [found] = [f for f in matrix.hardware if f.id == fact_id]
    return found


def covering(matrix: Matrix, feature: str, package: str, version: str) -> list[HardwareFact]:
    return [f for f in matrix.facts(feature, package) if f.versions.contains(parse_version(version), prereleases=True)]


def test_bf16_needs_ampere(matrix: Matrix) -> None:
    torch = fact(matrix, "bf16-torch-native")
    assert (torch.package, torch.min_compute_capability, torch.below) == ("torch", (8, 0), "false")
    assert torch.versions.contains("2.13.0+cpu")  # the CPU build's sources were read
    # transformers checked the GPU itself up to 4.34.1 (fails early); from 4.35.0 it asks torch's default,
    # which passes below 8.0 by emulating bf16
    [old] = covering(matrix, "bf16", "transformers", "4.30.0")
    [new] = covering(matrix, "bf16", "transformers", "4.57.6")
    assert (old.id, old.below, old.min_compute_capability) == ("bf16-transformers-strict", "error", (8, 0))
    assert "doesn't support bf16/gpu" in old.symptom
    assert (new.id, new.below) == ("bf16-transformers-via-torch", "emulated")
    assert covering(matrix, "bf16", "transformers", "5.23.0") == [new]


def test_tf32_needs_ampere(matrix: Matrix) -> None:
    assert {f.min_compute_capability for f in matrix.facts("tf32")} == {(8, 0)}
    assert {f.package for f in matrix.facts("tf32")} == {"torch", "transformers"}
    [tf] = covering(matrix, "tf32", "transformers", "4.26.0")
    assert tf.below == "error" and tf.symptom.startswith("ValueError: --tf32 requires Ampere")


def test_fp8_needs_ada_or_hopper(matrix: Matrix) -> None:
    fp8 = matrix.facts("fp8")
    assert {f.min_compute_capability for f in fp8} == {(8, 9), (9, 0)}
    assert fact(matrix, "fp8-torch").min_compute_capability == (8, 9)
    # accelerate: 9.0 in 0.17-0.18, 8.9 from 0.19; below it, fp8 silently becomes fp16
    [acc] = covering(matrix, "fp8", "accelerate", "1.15.0")
    assert (acc.min_compute_capability, acc.below, acc.fallback) == ((8, 9), "fallback", "fp16")
    [acc_old] = covering(matrix, "fp8", "accelerate", "0.17.1")
    assert acc_old.min_compute_capability == (9, 0)
    assert covering(matrix, "fp8", "accelerate", "0.16.0") == []
    # transformers fine-grained FP8: 9.0 (4.49-4.50), 8.9 raising (4.51-4.57), 8.9 dequantizing to bf16 (5.x);
    # fbgemm FP8 needs 9.0 throughout
    by_version = {
        v: {(f.id, f.min_compute_capability, f.below) for f in covering(matrix, "fp8", "transformers", v)}
        for v in ("4.50.0", "4.55.0", "5.23.0")
    }
    fbgemm = ("fp8-transformers-fbgemm", (9, 0), "error")
    assert by_version["4.50.0"] == {("fp8-transformers-finegrained-4-49", (9, 0), "error"), fbgemm}
    assert by_version["4.55.0"] == {("fp8-transformers-finegrained-4-51", (8, 9), "error"), fbgemm}
    assert by_version["5.23.0"] == {("fp8-transformers-finegrained-5", (8, 9), "fallback"), fbgemm}
    assert fact(matrix, "fp8-transformers-finegrained-5").fallback == "bf16"
    [ao] = covering(matrix, "fp8", "torchao", "0.14.1")
    assert (ao.min_compute_capability, ao.below) == ((8, 9), "error")


def test_cuda_runtime_needs_driver_of_its_major(matrix: Matrix) -> None:
    def driver_for(runtime: str) -> set[tuple[int, int] | None]:
        v = parse_version(runtime)
        return {f.min_driver_cuda for f in matrix.facts("cuda-driver") if f.cuda_runtime and f.cuda_runtime.contains(v)}

    assert driver_for("12.8") == {(12, 0)}  # torch.version.cuda of a cu128 build
    assert driver_for("12.0") == {(12, 0)}
    assert driver_for("13.0") == {(13, 0)}
    assert driver_for("11.8") == set()  # nothing proven for CUDA 11: no fact rather than a guess
    for f in matrix.facts("cuda-driver"):
        assert f.min_compute_capability is None and f.below == "error"
        assert "insufficient for CUDA runtime version" in f.symptom


def test_every_fact_has_wheel_evidence_and_an_existing_test(matrix: Matrix) -> None:
    assert len(matrix.hardware) >= 15
    for f in matrix.hardware:
        assert any(e.kind == "wheel" for e in f.evidence), f.id
        path, _, name = f.test.partition("::")
        assert re.search(rf"^def {re.escape(name)}\(", (ROOT / path).read_text(), re.M), f"{f.id}: {f.test}"
        assert f.source.startswith("hardware.toml:")


def test_facts_survive_the_cache(tmp_path: Path) -> None:
    cache = Cache(tmp_path)
    first = load(data_dir("matrix"), signals=SIGNALS, cache=cache)
    again = load(data_dir("matrix"), signals=SIGNALS, cache=cache)  # read back from JSON
    assert again == first and again.hardware


GOOD = """family = "demo"

[[fact]]
id = "fp8-demo"
feature = "fp8"
package = "Demo_Pkg"
versions = ">=1.0,<=1.2"
check = "demo.check_fp8"
min_compute_capability = "8.9"
below = "fallback"
fallback = "fp16"
why = "demo"
test = "tests/unit/test_hardware_facts.py::test_a_valid_fact_loads"

[[fact.evidence]]
kind = "wheel"
wheel = "demo_pkg-1.0-py3-none-any.whl"
sha256 = "0000000000000000000000000000000000000000000000000000000000000000"
path = "demo/check.py"
line = 3
match = ">= (8, 9)"
"""


def write(tmp_path: Path, text: str) -> Path:
    (tmp_path / "demo.toml").write_text(text)
    return tmp_path


def test_a_valid_fact_loads(tmp_path: Path) -> None:
    matrix = load(write(tmp_path, GOOD), signals=SIGNALS)
    [f] = matrix.hardware
    assert (f.package, f.min_compute_capability, f.fallback, f.source) == ("demo-pkg", (8, 9), "fp16", "demo.toml:3")
    assert matrix.rules == ()


@pytest.mark.parametrize(
    ("change", "message", "line"),
    [
        (('check = "demo.check_fp8"', 'check = "demo.check_fp8"\ncolour = "red"'), "unknown key 'colour' in a fact", 9),
        (('versions = ">=1.0,<=1.2"', 'versions = ">=>1.0"'), "malformed specifier '>=>1.0' in versions", 7),
        (('"8.9"', '"8.9.1"'), "min_compute_capability '8.9.1' is not MAJOR.MINOR", 9),
        (('feature = "fp8"', 'feature = "fp4"'), "unknown feature 'fp4'", 5),
        (('below = "fallback"', 'below = "crash"'), "unknown below 'crash'", 10),
        (('fallback = "fp16"', 'fallback = "int8"'), "needs fallback, one of", 11),
        (('test = "tests/unit/test_hardware_facts.py::test_a_valid_fact_loads"', ""), "fact 'fp8-demo' has no test", 3),
        (('match = ">= (8, 9)"', ""), "wheel evidence needs match", 16),
        (('min_compute_capability = "8.9"', 'min_driver_cuda = "12.0"'), "needs min_compute_capability", 3),
        (('id = "fp8-demo"', 'id = "FP8_demo"'), "not kebab-case", 4),
    ],
)
def test_each_problem_names_file_and_line(tmp_path: Path, change: tuple[str, str], message: str, line: int) -> None:
    with pytest.raises(MatrixError) as info:
        load(write(tmp_path, GOOD.replace(*change)), signals=SIGNALS)
    assert any(message in str(i) and str(i).startswith(f"demo.toml:{line}: ") for i in info.value.issues), info.value


def test_a_driver_fact_needs_its_runtime_and_no_capability(tmp_path: Path) -> None:
    text = GOOD.replace('feature = "fp8"', 'feature = "cuda-driver"')
    with pytest.raises(MatrixError) as info:
        load(write(tmp_path, text), signals=SIGNALS)
    messages = [str(i) for i in info.value.issues]
    assert any("needs cuda_runtime" in m for m in messages) and any("needs min_driver_cuda" in m for m in messages)
    assert any(m.startswith("demo.toml:9: ") and "has no min_compute_capability" in m for m in messages)


def test_an_upstream_link_alone_is_not_evidence(tmp_path: Path) -> None:
    text = (
        GOOD.split("[[fact.evidence]]", maxsplit=1)[0]
        + '[[fact.evidence]]\nkind = "issue"\nurl = "https://x.invalid/1"\n'
    )
    with pytest.raises(MatrixError, match=r"demo\.toml:3: fact 'fp8-demo': an upstream reference is not evidence"):
        load(write(tmp_path, text), signals=SIGNALS)


def test_duplicate_fact_ids(tmp_path: Path) -> None:
    second = GOOD.split("\n", 1)[1]
    with pytest.raises(MatrixError, match=r"demo\.toml:23: duplicate fact id 'fp8-demo' \(first at demo\.toml:3\)"):
        load(write(tmp_path, GOOD + second), signals=SIGNALS)
