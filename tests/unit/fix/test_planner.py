"""The fix planner on fabricated environments and fabricated release facts: the search, the release
policy, what never moves, and what it cannot plan."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

from envdoctor.checks.metadata import check_metadata
from envdoctor.diagnose import load_matrix
from envdoctor.fix.planner import Planner
from envdoctor.inventory import Inventory
from envdoctor.knowledge.wheelfacts import Facts
from envdoctor.report import Finding, Severity
from tests.fakes import Fake, make_site, scan


def facts(
    tmp_path: Path, releases: Mapping[str, Sequence[tuple[str, list[str]] | tuple[str, list[str], str]]]
) -> Facts:
    root = tmp_path / "facts"
    (root / "releases").mkdir(parents=True)
    for package, rels in releases.items():
        rows = [
            {
                "version": r[0],
                "requires_dist": r[1],
                "requires_python": r[2] if len(r) > 2 else None,
                "wheel": f"{package}-{r[0]}-py3-none-any.whl",
                "sha256": "0" * 64,
            }
            for r in rels
        ]
        (root / "releases" / f"{package}.json").write_text(json.dumps({"package": package, "releases": rows}))
    return Facts(root)


def symbol_break(importer: str, provider: str, *fix: str) -> Finding:
    return Finding(
        id="symbol-missing",
        severity=Severity.ERROR,
        title=f"{importer} imports a name {provider} lacks",
        packages=(importer, provider),
        fix=fix,
        check="symbols",
    )


def plan_for(inv: Inventory, found: list[Finding], f: Facts, **kw: object):  # type: ignore[no-untyped-def]
    return Planner(inv, found, facts=f, matrix=load_matrix()).plan(**kw)  # type: ignore[arg-type]


ACCELERATE = [
    ("0.31.0", []),
    ("0.32.0", ["numpy<2"]),
    ("0.32.1", ["numpy<2"]),
    ("0.33.0", []),
    ("0.34.0", []),
    ("0.34.2", []),
    ("1.0.0", []),
]


def test_nearest_series_newest_patch_that_keeps_every_requirement(tmp_path: Path) -> None:
    # accelerate 0.32.x declares numpy<2 and numpy 2 is installed: the nearest clean series is 0.33.
    inv = scan(
        make_site(tmp_path / "site", {"accelerate": Fake("0.31.0"), "peft": Fake("0.15.0"), "numpy": Fake("2.0.2")})
    )
    f = facts(tmp_path, {"accelerate": ACCELERATE, "peft": [("0.13.2", []), ("0.14.0", []), ("0.15.0", [])]})
    plan = plan_for(inv, [symbol_break("peft", "accelerate", "accelerate>=0.32.0", "peft<0.15.0")], f)
    # Both are one move; peft 0.15 -> 0.14 crosses one release series, accelerate 0.31 -> 0.33 two.
    assert [(m.name, m.before, m.after) for m in plan.moves] == [("peft", "0.15.0", "0.14.0")]
    assert [[m.line for m in alt] for alt in plan.alternatives] == [["accelerate==0.33.0"]]
    assert plan.complete and [c.id for c in plan.cleared] == ["symbol-missing"]


def test_without_the_cap_the_newest_patch_of_the_nearest_series_wins(tmp_path: Path) -> None:
    inv = scan(make_site(tmp_path / "site", {"accelerate": Fake("0.31.0"), "numpy": Fake("1.26.4")}))
    f = facts(tmp_path, {"accelerate": ACCELERATE})
    plan = plan_for(inv, [symbol_break("peft", "accelerate", "accelerate>=0.32.0")], f)
    assert [m.after for m in plan.moves] == ["0.32.1"]  # not 0.32.0, the first release past the fix


def test_keep_takes_a_package_out_of_the_plan(tmp_path: Path) -> None:
    inv = scan(make_site(tmp_path / "site", {"accelerate": Fake("0.31.0"), "peft": Fake("0.15.0")}))
    f = facts(tmp_path, {"accelerate": ACCELERATE, "peft": [("0.14.0", []), ("0.15.0", [])]})
    plan = plan_for(
        inv, [symbol_break("peft", "accelerate", "accelerate>=0.32.0", "peft<0.15.0")], f, keep=["accelerate"]
    )
    assert [m.line for m in plan.moves] == ["peft==0.14.0"]


def test_a_release_whose_requires_python_excludes_the_target_is_never_chosen(tmp_path: Path) -> None:
    inv = scan(make_site(tmp_path / "site", {"peft": Fake("0.15.0")}), python_version="3.11.7")
    f = facts(tmp_path, {"peft": [("0.13.2", []), ("0.14.0", [], ">=3.12"), ("0.15.0", [])]})
    plan = plan_for(inv, [symbol_break("peft", "accelerate", "peft<0.15.0")], f)
    assert [m.line for m in plan.moves] == ["peft==0.13.2"]


def test_torch_moves_only_when_allowed_or_when_nothing_else_works(tmp_path: Path) -> None:
    inv = scan(make_site(tmp_path / "site", {"torch": Fake("2.0.1"), "transformers": Fake("4.53.0")}))
    f = facts(tmp_path, {"transformers": [("4.51.3", []), ("4.53.0", [])]})
    floor = Finding(
        "transformers-4-52-0-needs-torch-2-1",
        Severity.ERROR,
        "transformers treats torch as absent",
        packages=("transformers", "torch"),
        fix=("torch>=2.1", "transformers<4.52.0"),
    )
    # The shipped matrix rule fires on this world too, so every trial is judged by the real rule.
    plan = plan_for(inv, [floor], f)
    assert [m.line for m in plan.moves] == ["transformers==4.51.3"]
    kept = plan_for(inv, [floor], f, keep=["transformers"])
    assert [m.name for m in kept.moves] == ["torch"]
    assert any("no plan exists without moving torch" in n for n in kept.notes)
    assert kept.moves[0].after is None and kept.moves[0].spec == "torch>=2.1"  # no facts: pip picks the release


def test_a_requirement_conflict_can_be_fixed_from_either_side(tmp_path: Path) -> None:
    site = make_site(
        tmp_path / "site",
        {"transformers": Fake("5.23.0", ["tokenizers>=0.23.1,<0.24"]), "tokenizers": Fake("0.22.2")},
    )
    inv = scan(site)
    f = facts(
        tmp_path,
        {
            "tokenizers": [("0.22.2", []), ("0.23.1", []), ("0.23.3", []), ("0.24.0", [])],
            "transformers": [("5.15.1", ["tokenizers>=0.22,<0.24"]), ("5.23.0", ["tokenizers>=0.23.1,<0.24"])],
        },
    )
    plan = plan_for(inv, check_metadata(inv), f)
    assert [m.line for m in plan.moves] == ["tokenizers==0.23.3"]
    assert [[m.line for m in alt] for alt in plan.alternatives] == [["transformers==5.15.1"]]


def test_a_move_that_opens_a_new_conflict_brings_the_second_move(tmp_path: Path) -> None:
    # datasets 2.14.6 needs fsspec<=2023.10.0 ... here: the only fixing release of a needs b>=2.
    inv = scan(make_site(tmp_path / "site", {"a": Fake("1.0"), "b": Fake("1.0"), "user": Fake("1.0", ["a>=2"])}))
    f = facts(tmp_path, {"a": [("1.0", []), ("2.0", ["b>=2"])], "b": [("1.0", []), ("2.0", [])]})
    plan = plan_for(inv, check_metadata(inv), f)
    assert sorted(m.line for m in plan.moves) == ["a==2.0", "b==2.0"]


def test_an_error_without_a_requirement_level_fix_is_reported_as_remaining(tmp_path: Path) -> None:
    inv = scan(make_site(tmp_path / "site", {"a": Fake("1.0")}))
    corrupt = Finding(
        "metadata-corrupt",
        Severity.ERROR,
        "a's METADATA is damaged",
        packages=("a",),
        fix=("pip install --force-reinstall --no-deps a==1.0",),
    )
    plan = plan_for(inv, [corrupt], facts(tmp_path, {}))
    assert plan.moves == () and [f.id for f in plan.remaining] == ["metadata-corrupt"]
    assert any("no requirement-level fix" in n for n in plan.notes)


def test_a_healthy_environment_needs_no_plan(tmp_path: Path) -> None:
    inv = scan(make_site(tmp_path / "site", {"a": Fake("1.0")}))
    plan = plan_for(inv, [], facts(tmp_path, {}))
    assert plan.healthy and plan.complete


def test_the_users_constraints_bound_every_moved_release(tmp_path: Path) -> None:
    from envdoctor.versions import SpecifierSet

    inv = scan(make_site(tmp_path / "site", {"accelerate": Fake("0.31.0"), "numpy": Fake("1.26.4")}))
    f = facts(tmp_path, {"accelerate": ACCELERATE})
    found = [symbol_break("peft", "accelerate", "accelerate>=0.32.0")]
    planner = Planner(inv, found, facts=f, matrix=load_matrix())
    plan = planner.plan(constraints={"accelerate": SpecifierSet(">=0.34")})
    assert [m.after for m in plan.moves] == ["0.34.2"]


def _requests_world(tmp_path: Path) -> tuple[Inventory, list[Finding]]:
    """requests 2.34.2 with idna 2.4 and charset-normalizer 1.4.1: two conflicts, two independent fixes."""
    inv = scan(
        make_site(
            tmp_path / "site",
            {
                "requests": Fake("2.34.2", ["idna<4,>=2.5", "charset_normalizer<4,>=2"]),
                "idna": Fake("2.4"),
                "charset-normalizer": Fake("1.4.1"),
            },
        )
    )
    return inv, [f for f in check_metadata(inv) if f.severity >= Severity.ERROR]


def test_keep_blocks_only_the_fixes_that_move_the_kept_package(tmp_path: Path) -> None:
    inv, found = _requests_world(tmp_path)
    plan = plan_for(inv, found, facts(tmp_path, {}), keep=["idna"])
    assert [m.line for m in plan.moves] == ["charset-normalizer<4,>=2"]  # the unrelated fix is kept
    assert [f.packages for f in plan.cleared] == [("requests", "charset-normalizer")]
    assert [f.packages for f in plan.remaining] == [("requests", "idna")]
    assert plan.notes == ("requirement-conflict (requests, idna): every fix moves a package you asked to keep (idna)",)


def test_a_constraint_that_contradicts_the_only_fix_is_reported_with_both_sources(tmp_path: Path) -> None:
    from envdoctor.versions import SpecifierSet

    inv, found = _requests_world(tmp_path)
    planner = Planner(inv, found, facts=facts(tmp_path, {}), matrix=load_matrix())
    plan = planner.plan(constraints={"idna": SpecifierSet("<2.5")}, sources={"idna": "c.txt:1: idna<2.5"})
    assert [m.line for m in plan.moves] == ["charset-normalizer<4,>=2"]  # never the contradicted idna<4,>=2.5
    assert [f.packages for f in plan.remaining] == [("requests", "idna")]
    [note] = plan.notes
    assert (
        "its fix idna<4,>=2.5 (requests 2.34.2 requires idna<4,>=2.5" in note
        and "contradicts c.txt:1: idna<2.5" in note
    )
    bounded = planner.plan(constraints={"idna": SpecifierSet("<3")})  # a constraint that leaves room narrows the move
    assert sorted(m.line for m in bounded.moves) == ["charset-normalizer<4,>=2", "idna<3,>=2.5"]


def test_disjoint_ranges() -> None:
    from envdoctor.fix.planner import disjoint
    from envdoctor.versions import SpecifierSet as S

    assert disjoint(S(">=2.5,<4"), S("<2.5")) and disjoint(S("==2.4"), S(">=2.5")) and disjoint(S(">3"), S("<=3"))
    assert (
        not disjoint(S(">=2.5"), S("<2.5.1"))
        and not disjoint(S("~=2.4"), S("<2.5"))
        and not disjoint(S(">2.5"), S("<2.6"))
    )
    assert not disjoint(S("==2.*"), S(">=2.5")) and not disjoint(S(""), S("<1"))


def test_an_import_that_really_fails_is_planned_for_by_its_diagnosed_fix(tmp_path: Path) -> None:
    """`pin --probes`: an import-failed error (no static finding explains it) carries its diagnosis's fix
    (torch's import-time check `TensorBoard logging requires TensorBoard version 1.15 or above`); a move
    into that range clears it; one with no fix stays, said so."""
    inv = scan(make_site(tmp_path / "site", {"tensorboard": Fake("1.14.0")}))
    failed = Finding(
        id="import-failed",
        severity=Severity.ERROR,
        title="`from torch.utils.tensorboard import SummaryWriter` fails: ImportError: ...",
        packages=("torch", "tensorboard"),
        fix=("tensorboard>=1.15",),
        check="probes",
    )
    plan = plan_for(inv, [failed], facts(tmp_path, {}))
    assert [(m.name, m.before, m.spec) for m in plan.moves] == [("tensorboard", "1.14.0", "tensorboard>=1.15")]
    assert plan.complete and [c.id for c in plan.cleared] == ["import-failed"]
    unknown = Finding("import-failed", Severity.ERROR, "`import x` fails: OSError", packages=("x",), check="probes")
    left = plan_for(inv, [unknown], facts(tmp_path / "2", {}))
    assert left.moves == () and [f.id for f in left.remaining] == ["import-failed"]
    assert "envdoctor has no requirement-level fix for it" in " ".join(left.notes)


def _stack_with_peft_and_old_accelerate(tmp_path: Path) -> Inventory:
    """accelerate 0.31.0 (no clear_device_cache), peft 0.15.0 (imports it: fix accelerate>=0.32.0) and
    transformers 4.52.4, whose Trainer calls self.accelerator.unwrap_model(model, keep_torch_compile=False):
    accelerate accepts that keyword from 1.3.0 on (the real facts)."""
    trainer = (
        "from accelerate import Accelerator\n\nclass Trainer:\n    def setup(self):\n"
        "        self.accelerator = Accelerator()\n\n    def _wrap_model(self, model):\n"
        "        return self.accelerator.unwrap_model(model, keep_torch_compile=False)\n"
    )
    fakes = {
        "accelerate": Fake(
            "0.31.0",
            ["torch>=1.10.0", "numpy>=1.17", "huggingface-hub", "packaging>=20.0", "psutil", "pyyaml", "safetensors"],
            files={
                "accelerate/__init__.py": "from .accelerator import Accelerator\n",
                "accelerate/accelerator.py": "class Accelerator:\n    def unwrap_model(self, model):\n        return model\n",
                "accelerate/utils/__init__.py": "",
                "accelerate/utils/memory.py": "def release_memory():\n    pass\n",
            },
        ),
        "peft": Fake(
            "0.15.0",
            ["accelerate>=0.21.0"],
            files={"peft/__init__.py": "from accelerate.utils.memory import clear_device_cache\n"},
        ),
        "transformers": Fake("4.52.4", files={"transformers/__init__.py": "", "transformers/trainer.py": trainer}),
        **{n: Fake(v) for n, v in [("torch", "2.13.0"), ("numpy", "2.2.0"), ("huggingface-hub", "0.36.2")]},
        **{n: Fake(v) for n, v in [("packaging", "26.0"), ("psutil", "7.0.0"), ("pyyaml", "6.0.2")]},
        "safetensors": Fake("0.8.0"),
    }
    return scan(make_site(tmp_path / "site", fakes))


def test_accelerate_moved_for_another_reason_never_lands_on_a_release_an_installed_caller_breaks(
    tmp_path: Path,
) -> None:
    """peft needs accelerate>=0.32.0; "nearest series, newest patch" alone picks 0.32.1, which transformers 4.52.4's
    unwrap_model(keep_torch_compile=...) breaks. Given only the import finding, the planner still judges each
    candidate by the calls the installed files make, and picks the first release that accepts them."""
    from envdoctor.diagnose import check_inventory

    inv = _stack_with_peft_and_old_accelerate(tmp_path)
    report = check_inventory(inv)
    assert sorted(f.id for f in report.at_least(Severity.ERROR)) == ["call-keyword-missing", "symbol-missing"]
    symbol = [f for f in report.findings if f.id == "symbol-missing"]
    assert symbol[0].fix[0] == "accelerate>=0.32.0"
    for findings in (symbol, list(report.findings)):
        plan = plan_for(inv, findings, Facts.shipped())
        assert plan.complete
        [move] = plan.moves
        assert (move.name, move.after) == ("accelerate", "1.3.0")
