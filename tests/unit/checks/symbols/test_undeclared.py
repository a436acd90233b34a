"""module-undeclared on fabricated environments: an import of a module nothing installed provides and the
importer does not declare (trl 0.11.4's `from rich.console import Console`)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from envdoctor.checks.symbols.check import check_symbols
from envdoctor.diagnose import check_inventory, load_matrix
from envdoctor.fix.planner import Planner
from envdoctor.inventory import Inventory
from envdoctor.knowledge.wheelfacts import Facts
from envdoctor.report import Finding, Severity
from envdoctor.source.index import SourceIndex
from tests.fakes import Fake, make_site, scan

UTILS = "import os\n\nfrom rich.console import Console\n\ndef print_table():\n    return Console()\n"


def trainer(utils: str = UTILS, requires: list[str] | None = None, **more: str) -> Fake:
    """A package shaped like trl 0.11: ``import trainer`` reaches trainer/utils.py at module level."""
    files = {"trainer/__init__.py": "from .utils import print_table\n", "trainer/utils.py": utils}
    files.update({f"trainer/{name}.py": text for name, text in more.items()})
    return Fake("0.11.4", requires if requires is not None else ["tyro>=0.5.11"], files=files)


def inventory(tmp_path: Path, dists: dict[str, Fake]) -> Inventory:
    return scan(make_site(tmp_path / "site", dists))


def undeclared(inv: Inventory) -> list[Finding]:
    return [f for f in check_symbols(SourceIndex(inv), Facts.shipped()) if f.id == "module-undeclared"]


def test_reached_module_level_import_is_an_error_with_the_distribution_to_install(tmp_path: Path) -> None:
    inv = inventory(tmp_path, {"trainer": trainer(callbacks="def f():\n    from rich.live import Live\n")})
    [f] = undeclared(inv)
    assert f.severity is Severity.ERROR
    assert (
        f.title
        == "trainer 0.11.4 imports rich, which is not installed and which trainer does not declare (2 import statements)"
    )
    assert "at `import trainer`: trainer -> trainer.utils" in f.detail
    assert "ModuleNotFoundError: No module named 'rich'" in f.detail
    assert f.packages == ("trainer", "rich")
    assert f.fix == ("rich",)
    assert f.evidence[0].endswith("trainer/utils.py:3: from rich.console import Console")
    assert f.evidence[1].endswith("trainer/callbacks.py:2: from rich.live import Live")  # the function's import, listed
    assert any("rich-15.0.0-py3-none-any.whl (sha256 33bd4ef74232fb73" in e for e in f.evidence)


def test_import_name_differs_from_the_distribution(tmp_path: Path) -> None:
    [f] = undeclared(inventory(tmp_path, {"trainer": trainer("import yaml\n")}))
    assert f.fix == ("PyYAML",)
    assert f.packages == ("trainer", "pyyaml")


def test_unknown_distribution_is_said_plainly(tmp_path: Path) -> None:
    [f] = undeclared(inventory(tmp_path, {"trainer": trainer("import notarealmodule_xyz\n")}))
    assert f.packages == ("trainer",)
    assert "does not know which distribution provides the module notarealmodule_xyz" in f.detail
    assert f.fix == ()  # no specifier is guessed
    assert f.advice == ("the distribution that provides the module notarealmodule_xyz (not known to envdoctor)",)


def test_declared_but_missing_is_requirement_missing_only(tmp_path: Path) -> None:
    inv = inventory(tmp_path, {"trainer": trainer(requires=["rich>=13"])})
    ids = sorted(f.id for f in check_inventory(inv).findings if "rich" in f.packages)
    assert ids == ["requirement-missing"]


def test_declared_in_an_extra_or_under_a_marker_is_not_a_finding(tmp_path: Path) -> None:
    for i, req in enumerate(['rich; extra == "cli"', 'PyYAML; python_version < "3"']):
        utils = "import rich\n" if "rich" in req else "import yaml\n"
        assert undeclared(inventory(tmp_path / str(i), {"trainer": trainer(utils, requires=[req])})) == []


def test_guarded_and_conditional_imports_are_not_findings(tmp_path: Path) -> None:
    for i, utils in enumerate(
        [
            "try:\n    import rich\nexcept ImportError:\n    rich = None\n",
            "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import rich\n",
            "def is_rich_available():\n    return False\nif is_rich_available():\n    import rich\n",
            "import sys\nif sys.version_info >= (3, 99):\n    import rich\n",
            "try:\n    from _thread import get_ident\nexcept ImportError:\n    from rich import get_ident\n",
        ]
    ):
        assert undeclared(inventory(tmp_path / str(i), {"trainer": trainer(utils)})) == [], utils


def test_function_level_import_alone_is_not_a_finding(tmp_path: Path) -> None:
    """Only in a function: how packages use optional dependencies (torch's inductor imports jax, tqdm.gui
    matplotlib); the import fails only when that feature is used."""
    utils = "def print_table():\n    from rich.console import Console\n    return Console()\n"
    assert undeclared(inventory(tmp_path, {"trainer": trainer(utils)})) == []


def test_module_nothing_well_known_imports_is_not_a_finding(tmp_path: Path) -> None:
    assert undeclared(inventory(tmp_path, {"trainer": trainer("import os\n", plugin="import rich\n")})) == []


def test_standard_library_of_the_target_is_never_a_finding(tmp_path: Path) -> None:
    inv = inventory(tmp_path, {"trainer": trainer("import tomllib\nimport json\n")})
    assert "tomllib" in inv.python.stdlib  # reported by the probe, from the target interpreter
    assert undeclared(inv) == []
    older = dataclasses.replace(inv, python=dataclasses.replace(inv.python, stdlib=inv.python.stdlib - {"tomllib"}))
    [f] = undeclared(older)  # a target whose standard library has no tomllib (Python 3.10)
    assert "imports tomllib" in f.title


def test_module_provided_by_another_distribution_is_not_a_finding(tmp_path: Path) -> None:
    inv = inventory(tmp_path, {"trainer": trainer(), "richer": Fake("1.0", files={"rich/__init__.py": ""})})
    assert undeclared(inv) == []


def test_module_on_sys_path_without_a_distribution_is_not_a_finding(tmp_path: Path) -> None:
    site = make_site(tmp_path / "site", {"trainer": trainer()})
    (site / "rich").mkdir()
    (site / "rich" / "__init__.py").write_text("")
    assert undeclared(scan(site)) == []


def test_vendored_module_is_not_a_finding(tmp_path: Path) -> None:
    pkg = trainer("from jaraco.functools import pass_none\n")
    pkg.files = {**pkg.files, "trainer/_vendor/jaraco/__init__.py": "", "trainer/_vendor/jaraco/functools.py": ""}
    assert undeclared(inventory(tmp_path, {"trainer": pkg})) == []


def test_planner_adds_the_providing_distribution(tmp_path: Path) -> None:
    inv = inventory(tmp_path, {"trainer": trainer(requires=[])})
    found = [f for f in check_inventory(inv).findings if f.severity >= Severity.ERROR]
    plan = Planner(inv, found, facts=Facts(None), matrix=load_matrix()).plan()
    assert [(m.name, m.before, m.line) for m in plan.moves] == [("rich", None, "rich")]
    assert plan.complete and [f.id for f in plan.cleared] == ["module-undeclared"]


def test_own_submodule_of_the_same_name_is_not_a_vendored_copy(tmp_path: Path) -> None:
    pkg = trainer("import tensorboard\n")
    pkg.files = {**pkg.files, "trainer/tensorboard/__init__.py": ""}  # torch.utils.tensorboard's shape
    [f] = undeclared(inventory(tmp_path, {"trainer": pkg}))
    assert "imports tensorboard" in f.title


def test_column0_imports_are_the_statements_that_always_run() -> None:
    """The reachability of module-undeclared follows column-0 imports found by text (no parse): each form,
    and nothing indented (under if/try/def)."""
    from envdoctor.source.text import column0_imports

    source = (
        b"import os, sys as s\nfrom . import a, b as c\nfrom ..x.y import (\n    p,\n    q as r,\n)\n"
        b"if x:\n    import no\ntry:\n    from no2 import z\nexcept ImportError:\n    pass\n"
        b"from z import *  # c\nimport a.b.c\ndef f():\n    import no3\n"
    )
    assert column0_imports(source) == [
        (0, "os", ()),
        (0, "sys", ()),
        (1, "", ("a", "b")),
        (2, "x.y", ("p", "q")),
        (0, "z", ("*",)),
        (0, "a.b.c", ()),
    ]
