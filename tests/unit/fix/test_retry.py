"""Which plans `pin --verify` tries after one fails in the copy, and how many (envdoctor.fix.retry)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from envdoctor.diagnose import load_matrix
from envdoctor.fix import retry
from envdoctor.fix.planner import Move, Plan, Planner
from envdoctor.inventory import Inventory
from envdoctor.knowledge.wheelfacts import Facts
from tests.fakes import Fake, make_site, scan
from tests.unit.fix.test_planner import ACCELERATE, facts, symbol_break


@dataclass(frozen=True)
class Verdict:
    verified: bool
    tried: bool = True
    summary: str = "pip resolves it; but in a copy, it fails"
    fixes: tuple[str, ...] = ()


def world(tmp_path: Path) -> tuple[Inventory, Facts, Planner]:
    inv = scan(
        make_site(tmp_path / "site", {"accelerate": Fake("0.31.0"), "peft": Fake("0.15.0"), "numpy": Fake("1.26.4")})
    )
    f = facts(tmp_path, {"accelerate": ACCELERATE, "peft": [("0.13.2", []), ("0.14.0", []), ("0.15.0", [])]})
    found = [symbol_break("peft", "accelerate", "accelerate>=0.32.0")]
    return inv, f, Planner(inv, found, facts=f, matrix=load_matrix())


def after(planner: Planner, plan: Plan, *fixes: str) -> list[tuple[str, str | None]] | None:
    nxt = retry.next_release(planner, plan, fixes, keep=(), allow=(), constraints={}, sources={})
    return None if nxt is None else [(m.name, m.after) for m in nxt.moves]


def test_a_diagnosed_fix_on_the_moved_package_bounds_its_next_release(tmp_path: Path) -> None:
    _, _, planner = world(tmp_path)
    plan = planner.plan()
    assert [(m.name, m.after) for m in plan.moves] == [("accelerate", "0.32.1")]  # the nearest series
    assert after(planner, plan, "accelerate>=1.0.0") == [("accelerate", "1.0.0")]


def test_without_a_diagnosis_the_next_release_series_is_tried(tmp_path: Path) -> None:
    _, _, planner = world(tmp_path)
    first = planner.plan()
    assert after(planner, first) == [("accelerate", "0.33.0")]
    second = retry.next_release(planner, first, (), keep=(), allow=(), constraints={}, sources={})
    assert second is not None  # and after 0.33.0 failed too, never back to 0.32
    third = retry.next_release(planner, second, (), [first], keep=(), allow=(), constraints={}, sources={})
    assert third is not None and [(m.name, m.after) for m in third.moves] == [("accelerate", "0.34.2")]


def test_a_diagnosed_fix_on_another_package_adds_its_move(tmp_path: Path) -> None:
    _, _, planner = world(tmp_path)
    nxt = retry.next_release(planner, planner.plan(), ["peft<0.15.0"], keep=(), allow=(), constraints={}, sources={})
    assert nxt is not None
    assert [(m.name, m.after) for m in nxt.moves] == [("accelerate", "0.32.1"), ("peft", "0.14.0")]
    assert nxt.moves[1].reasons[0].startswith("stack-step-fails: the plan fails in a throwaway copy")


def test_no_next_release_when_the_fix_contradicts_the_finding(tmp_path: Path) -> None:
    _, _, planner = world(tmp_path)
    assert after(planner, planner.plan(), "accelerate<0.32.0") is None


def _move(name: str, to: str) -> Move:
    return Move(name, name, "1.0", to, f"{name}=={to}")  # type: ignore[arg-type]


def test_the_plan_then_its_next_releases_then_the_alternatives_at_most_four() -> None:
    plan = Plan(moves=(_move("a", "2.0"),), alternatives=tuple((_move(n, "2.0"),) for n in "bcdef"))
    judged: list[str] = []

    def judge(p: Plan) -> tuple[Plan, None, Verdict]:
        judged.append(", ".join(m.describe() for m in p.moves))
        return p, None, Verdict(False)

    def following(p: Plan, fixes: object, tried: object) -> Plan | None:
        up = {"2.0": "3.0", "3.0": "4.0"}.get(p.moves[0].after or "")
        return dataclasses.replace(p, moves=(_move(p.moves[0].name, up),)) if up else None

    chosen, _, verdict = retry.first_passing(plan, judge, following)
    assert judged == ["a 1.0 -> 2.0", "a 1.0 -> 3.0", "a 1.0 -> 4.0", "b 1.0 -> 2.0"]  # MAX_PLANS_TRIED
    assert retry.MAX_PLANS_TRIED == 4
    assert not verdict.verified and chosen.moves == plan.moves  # none passed: the first plan, with the others' notes
    assert [n.split(": ")[1] for n in chosen.notes] == ["a 1.0 -> 3.0", "a 1.0 -> 4.0", "b 1.0 -> 2.0"]


def test_the_first_plan_that_passes_is_the_files_with_a_note_for_each_that_failed() -> None:
    plan = Plan(moves=(_move("a", "2.0"),), alternatives=((_move("b", "2.0"),),))

    def judge(p: Plan) -> tuple[Plan, None, Verdict]:
        return p, None, Verdict(p.moves[0].after == "3.0", summary="pip resolves it; but the step fails")

    def following(p: Plan, fixes: object, tried: object) -> Plan | None:
        return dataclasses.replace(p, moves=(_move("a", "3.0"),))

    chosen, _, verdict = retry.first_passing(plan, judge, following)
    assert verdict.verified and [m.after for m in chosen.moves] == ["3.0"]
    assert chosen.notes == ("tried in a copy and failed: a 1.0 -> 2.0: the step fails",)
