"""The cross-package symbol check on small fabricated packages: each import shape, each lazy-module pattern."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from envdoctor.cache import Cache
from envdoctor.checks.symbols.check import check_symbols
from envdoctor.diagnose import check_inventory
from envdoctor.report import Finding, Severity
from envdoctor.source.index import SourceIndex
from tests.fakes import Fake, make_site, scan

MEMORY_OLD = "def release_memory(*objects):\n    return objects\n"
MEMORY_NEW = MEMORY_OLD + "\ndef clear_device_cache(garbage_collection=False):\n    pass\n"


def accelerate(memory: str = MEMORY_OLD, version: str = "0.31.0") -> Fake:
    return Fake(
        version,
        files={
            "accelerate/__init__.py": "from .utils import release_memory\n",
            "accelerate/utils/__init__.py": "from .memory import release_memory\n",
            "accelerate/utils/memory.py": memory,
        },
    )


def peft(loftq: str) -> Fake:
    return Fake(
        "0.15.0",
        ["accelerate>=0.21.0"],
        files={
            "peft/__init__.py": "from .utils import replace_lora_weights_loftq\n",
            "peft/utils/__init__.py": "from .loftq_utils import replace_lora_weights_loftq\n",
            "peft/utils/loftq_utils.py": loftq,
            "peft/tuners/__init__.py": "",
            "peft/tuners/unused.py": loftq,
        },
    )


HEADLINE = "import os\n\nfrom accelerate.utils.memory import clear_device_cache\n\ndef replace_lora_weights_loftq():\n    pass\n"


def symbols(tmp_path: Path, dists: dict[str, Fake]) -> list[Finding]:
    site = make_site(tmp_path / "site", dists)
    return check_symbols(SourceIndex(scan(site)))


def brief(findings: list[Finding]) -> list[tuple[str, str, str]]:
    return sorted((f.id, str(f.severity), f.evidence[0].rsplit("/", 1)[-1]) for f in findings)


def test_headline_break_is_an_error_with_file_line_and_chain(tmp_path: Path) -> None:
    findings = symbols(tmp_path, {"accelerate": accelerate(), "peft": peft(HEADLINE)})
    errors = [f for f in findings if f.severity is Severity.ERROR]
    [f] = errors
    assert f.id == "symbol-missing"
    assert f.packages == ("peft", "accelerate")
    assert f.evidence[0].endswith("peft/utils/loftq_utils.py:3: from accelerate.utils.memory import clear_device_cache")
    assert "import peft`: peft -> peft.utils -> peft.utils.loftq_utils" in f.detail
    assert "cannot import name 'clear_device_cache' from 'accelerate.utils.memory'" in f.detail
    assert "peft declares accelerate>=0.21.0, so pip check is satisfied" in f.detail
    # the same import in a module nothing imports is a warning
    assert brief([x for x in findings if x is not f]) == [
        ("symbol-missing", "warning", "unused.py:3: from accelerate.utils.memory import clear_device_cache")
    ]


def test_no_finding_when_the_provider_defines_the_name(tmp_path: Path) -> None:
    assert symbols(tmp_path, {"accelerate": accelerate(MEMORY_NEW, "0.32.0"), "peft": peft(HEADLINE)}) == []


def test_reached_through_a_well_known_entry_point(tmp_path: Path) -> None:
    transformers = Fake(
        "4.46.0",
        files={
            "transformers/__init__.py": "",
            "transformers/trainer.py": "from .utils import is_peft_available\nif is_peft_available():\n    from peft import PeftModel\n",
            "transformers/utils.py": "def is_peft_available():\n    return True\n",
        },
    )
    lib = peft(HEADLINE)
    # `import peft` alone no longer reaches it; then it does, through peft.utils
    lib.files = {**lib.files, "peft/__init__.py": "PeftModel = object\n" + "from .utils import loftq_utils\n"}
    findings = symbols(tmp_path, {"accelerate": accelerate(), "peft": lib, "transformers": transformers})
    [error] = [f for f in findings if f.severity is Severity.ERROR]
    assert "import peft" in error.detail  # the shortest root wins; both reach it


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        (
            "try:\n    from accelerate.utils.memory import clear_device_cache\nexcept ImportError:\n    clear_device_cache = None\n",
            [],
        ),
        (
            "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from accelerate.utils.memory import clear_device_cache\n",
            [],
        ),
        ('"""Example:\nfrom accelerate.utils.memory import clear_device_cache\n"""\n', []),
        ("def f():\n    from accelerate.utils.memory import clear_device_cache\n", [("symbol-missing", "warning")]),
        (
            "def f():\n    try:\n        from accelerate.utils.memory import clear_device_cache\n    except ImportError:\n        pass\n",
            [],
        ),
        (
            "import sys\nif sys.version_info >= (3, 9):\n    from accelerate.utils.memory import clear_device_cache\n",
            [("symbol-missing", "error")],
        ),
        (
            "def f(v):\n    if is_accelerate_version('<', '0.32'):\n        from accelerate.utils.memory import clear_device_cache\n",
            [("symbol-missing", "info")],
        ),
        (
            "from accelerate.utils.memory import (\n    release_memory,\n    clear_device_cache,\n)\n",
            [("symbol-missing", "error")],
        ),
        ("from accelerate.utils.memory import release_memory as free\n", []),
        ("from accelerate.utils import memory\n", []),
        ("import accelerate.utils.memory\n", []),
        ("import accelerate.utils.gone\n", [("module-missing", "error")]),
        ("from accelerate.utils.gone import anything\n", [("module-missing", "error")]),
        ("from accelerate.utils.memory import *\n", []),
    ],
)
def test_import_shapes(tmp_path: Path, source: str, expected: list[tuple[str, str]]) -> None:
    lib = peft(source)
    lib.files = {rel: text for rel, text in lib.files.items() if rel != "peft/tuners/unused.py"}
    findings = symbols(tmp_path, {"accelerate": accelerate(), "peft": lib})
    assert sorted((f.id, str(f.severity)) for f in findings) == expected


def provider(init: str, **more: str) -> Fake:
    files = {"prov/__init__.py": init, **{f"prov/{k}.py": v for k, v in more.items()}}
    return Fake("1.0", files=files)


def user(*names: str) -> Fake:
    body = "".join(f"from prov import {n}\n" for n in names)
    return Fake("1.0", ["prov"], files={"user/__init__.py": body})


def missing_names(tmp_path: Path, prov: Fake, *names: str) -> list[str]:
    findings = symbols(tmp_path, {"prov": prov, "user": user(*names)})
    return sorted(f.title.split(" imports ")[1].split(" from ")[0] for f in findings if f.id == "symbol-missing")


def test_definitions_of_every_kind(tmp_path: Path) -> None:
    init = (
        "import os, json as _json\nfrom .sub import helper as aliased\nA = 1\nB: int = 2\nC, (D, E) = 1, (2, 3)\n"
        "def f(): pass\nclass K: pass\nfor LOOPED in range(1): pass\nwith open(os.devnull) as HANDLE: pass\n"
        "try:\n    import numpy as np\nexcept ImportError:\n    np = None\nif A:\n    IN_IF = 1\nelse:\n    IN_ELSE = 2\n"
        "globals()['LITERAL_GLOBAL'] = 1\n"
    )
    prov = provider(init, sub="def helper(): pass\n")
    names = [
        "os",
        "_json",
        "aliased",
        "A",
        "B",
        "C",
        "D",
        "E",
        "f",
        "K",
        "LOOPED",
        "HANDLE",
        "np",
        "IN_IF",
        "IN_ELSE",
        "sub",
        "LITERAL_GLOBAL",
    ]
    assert missing_names(tmp_path, prov, *names, "NOT_THERE", "helper") == ["NOT_THERE", "helper"]


def test_star_imports_follow_all(tmp_path: Path) -> None:
    prov = provider(
        "from .a import *\nfrom .b import *\n",
        a="__all__ = ['Public']\nPublic = 1\nAlsoPublic = 2\n",
        b="Visible = 1\n_hidden = 2\n",
    )
    assert missing_names(tmp_path, prov, "Public", "AlsoPublic", "Visible", "_hidden") == ["AlsoPublic", "_hidden"]


def test_all_extended_with_plus_equals(tmp_path: Path) -> None:
    prov = provider("from .a import *\n", a="__all__ = ['X']\nX = Y = 1\nif True:\n    __all__ += ['Y']\n")
    assert missing_names(tmp_path, prov, "X", "Y") == []


def test_transformers_style_lazy_module(tmp_path: Path) -> None:
    init = (
        "import sys\nfrom typing import TYPE_CHECKING\nfrom .utils import _LazyModule\n"
        "_import_structure = {'trainer': ['Trainer'], 'models.bert': ['BertModel']}\n"
        "try:\n    pass\nexcept Exception:\n    pass\nelse:\n    _import_structure['optional'] = ['Extra']\n"
        "_import_structure['trainer'].extend(['TrainerCallback'])\n"
        "if TYPE_CHECKING:\n    from .trainer import Trainer\nelse:\n"
        "    sys.modules[__name__] = _LazyModule(__name__, globals()['__file__'], _import_structure)\n"
    )
    prov = provider(init, utils="class _LazyModule: pass\n", trainer="class Trainer: pass\n")
    assert missing_names(tmp_path, prov, "Trainer", "BertModel", "Extra", "TrainerCallback", "Gone") == ["Gone"]


def test_transformers_4_top_level_with_dummy_stars_under_type_checking(tmp_path: Path) -> None:
    """transformers 4.x: under TYPE_CHECKING, `from .utils.dummy_X_objects import *` for missing backends, one of
    them into a module no release ships (4.39.3: dummies_sentencepiece_and_tokenizers_objects). That star never
    runs and brings nothing; the shipped dummy modules still count (the lazy module exposes their names)."""
    init = (
        "import sys\nfrom typing import TYPE_CHECKING\nfrom .utils import _LazyModule\n"
        "_import_structure = {'generation': ['GenerationMixin']}\n"
        "if TYPE_CHECKING:\n    from .generation import GenerationMixin\n"
        "    try:\n        pass\n    except Exception:\n"
        "        from .utils.dummy_pt_objects import *\n"
        "        from .utils.dummies_sentencepiece_and_tokenizers_objects import *\n"
        "else:\n    sys.modules[__name__] = _LazyModule(__name__, globals()['__file__'], _import_structure)\n"
    )
    prov = provider(init, generation="class GenerationMixin: pass\n")
    prov.files = {
        **prov.files,
        "prov/utils/__init__.py": "class _LazyModule: pass\n",
        "prov/utils/dummy_pt_objects.py": "class DummyModel: pass\n",
    }
    names = ("GenerationMixin", "DummyModel", "top_k_top_p_filtering")
    assert missing_names(tmp_path, prov, *names) == ["top_k_top_p_filtering"]
    # transformers 4.57's models/xlstm: `from configuration_xlstm import *` (absolute) for its own file
    prov.files["prov/__init__.py"] = init.replace(
        "from .generation import", "from .xlstm import *\n    from .generation import"
    )
    prov.files["prov/xlstm/__init__.py"] = (
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from conf_x import *\n"
    )
    prov.files["prov/xlstm/conf_x.py"] = "__all__ = ['XConfig']\nclass XConfig: pass\n"
    assert missing_names(tmp_path / "1", prov, "XConfig", "top_k_top_p_filtering") == ["top_k_top_p_filtering"]
    # the branch for a missing backend exposes a dummy module's names through `dir()`
    prov.files["prov/__init__.py"] = init.replace(
        "if TYPE_CHECKING:",
        "from .utils import dummy_tf_objects\n"
        "_import_structure['utils.dummy_tf_objects'] = [n for n in dir(dummy_tf_objects) if n[0] != '_']\n"
        "if TYPE_CHECKING:",
    )
    prov.files["prov/utils/dummy_tf_objects.py"] = "class TFDummy: pass\n"
    assert missing_names(tmp_path / "3", prov, "TFDummy", "top_k_top_p_filtering") == ["top_k_top_p_filtering"]
    # a star that runs, into a module that is not there, still proves nothing
    prov.files["prov/__init__.py"] = "from .utils.not_shipped import *\n"
    assert missing_names(tmp_path / "2", prov, "top_k_top_p_filtering") == []


def test_define_import_structure_package_whose_type_checking_stars_are_stale(tmp_path: Path) -> None:
    """transformers 4.57's models/t5gemma: under TYPE_CHECKING `from .configuration_encdecgemma2 import *`, a file
    it does not ship; at run time define_import_structure reads the `__all__` of the package's own files."""
    init = (
        "from typing import TYPE_CHECKING\nfrom ..utils import _LazyModule, define_import_structure\n"
        "if TYPE_CHECKING:\n    from .configuration_old_name import *\nelse:\n    import sys\n"
        "    sys.modules[__name__] = _LazyModule(__name__, __file__, define_import_structure(__file__))\n"
    )
    prov = provider(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .t5gemma import *\n",
        utils="def _LazyModule(*a): pass\ndef define_import_structure(f): pass\n",
    )
    prov.files = {
        **prov.files,
        "prov/t5gemma/__init__.py": init,
        "prov/t5gemma/configuration_t5gemma.py": "__all__ = ['T5GemmaConfig']\nclass T5GemmaConfig: pass\n",
    }
    assert missing_names(tmp_path, prov, "T5GemmaConfig", "T5Gemma2Config") == ["T5Gemma2Config"]


def test_huggingface_hub_style_attach(tmp_path: Path) -> None:
    init = (
        "_SUBMOD_ATTRS = {'file_download': ['hf_hub_download'], 'hf_api': ['HfApi', 'whoami']}\n"
        "def _attach(name, submodules=None, submod_attrs=None):\n    def __getattr__(n): ...\n    return __getattr__, None\n"
        "__getattr__, __dir__ = _attach(__name__, submodules=[], submod_attrs=_SUBMOD_ATTRS)\n"
    )
    assert missing_names(tmp_path, provider(init), "hf_hub_download", "whoami", "cached_download") == [
        "cached_download"
    ]


def test_lazy_loader_stub(tmp_path: Path) -> None:
    prov = provider(
        "import lazy_loader as lazy\n__getattr__, __dir__, __all__ = lazy.attach_stub(__name__, __file__)\n"
    )
    prov.files = {**prov.files, "prov/__init__.pyi": "from .core import fancy as fancy\n"}
    assert missing_names(tmp_path, prov, "fancy", "plain") == ["plain"]


def test_unrecognised_module_getattr_is_unknown_not_broken(tmp_path: Path) -> None:
    prov = provider("def __getattr__(name):\n    raise AttributeError(name)\n")
    assert missing_names(tmp_path, prov, "Anything") == []


def test_module_getattr_beside_an_all_is_still_unknown(tmp_path: Path) -> None:
    # IPython 9's __init__: `__all__` without get_ipython, which its module __getattr__ serves
    init = (
        "__all__ = ['start_ipython', 'embed']\ndef start_ipython(): pass\n"
        "def __getattr__(name):\n    if name == 'get_ipython':\n        return 1\n    raise AttributeError(name)\n"
    )
    assert missing_names(tmp_path, provider(init), "get_ipython", "start_ipython") == []


FINDER = (
    "import importlib.abc, sys\nOLD = {'prov.losses': 'prov.new.losses', 'prov.models': 'prov.new.modules'}\n"
    "class _Old(importlib.abc.MetaPathFinder):\n"
    "    def find_spec(self, fullname, path=None, target=None):\n        return None\n"
    "def setup():\n    sys.meta_path.insert(0, _Old())\n"
)


@pytest.mark.parametrize(
    "source",
    [
        "from prov.losses import MSELoss\n",  # sentence-transformers 6: an old module path the finder serves
        "import prov.models.tokenizer\n",
        "from prov import losses\n",  # `from pkg import sub` imports prov.losses through the finder
    ],
)
def test_module_paths_of_a_distribution_with_an_import_hook_are_unknown(tmp_path: Path, source: str) -> None:
    prov = provider("from .util.hooks import setup\nsetup()\nX = 1\n")
    prov.files = {**prov.files, "prov/util/__init__.py": "", "prov/util/hooks.py": FINDER}
    importer = Fake("1.0", ["prov"], files={"user/__init__.py": source})
    assert symbols(tmp_path, {"prov": prov, "user": importer}) == []


@pytest.mark.parametrize(
    ("hook", "source"),
    [
        ("", "from prov import losses\n"),  # no hook: still an error
        ("", "import prov.losses\n"),
        ("sys.meta_path.insert(0, _Old())", "from prov.plain import Gone\n"),  # a plain module: a hook adds no names
        ("sys.meta_path.insert(0, _Old())", "from prov import Gone\n"),  # the hook's table does not name prov.Gone
        ("for f in sys.meta_path:\n    pass", "import prov.losses\n"),  # reads meta_path, adds nothing
    ],
)
def test_a_real_missing_name_or_module_stays_an_error(tmp_path: Path, hook: str, source: str) -> None:
    prov = provider(f"import sys\n{hook}\nX = 1\n", plain="Here = 1\n")
    importer = Fake("1.0", ["prov"], files={"user/__init__.py": source})
    assert [str(f.severity) for f in symbols(tmp_path, {"prov": prov, "user": importer})] == ["error"]


def test_exec_and_globals_update_are_unknown(tmp_path: Path) -> None:
    assert missing_names(tmp_path, provider("globals().update(x=1)\n"), "x") == []
    assert missing_names(tmp_path / "2", provider("exec('y = 1')\n"), "y") == []


def test_compiled_provider_is_unknown(tmp_path: Path) -> None:
    prov = Fake(
        "1.0", files={"prov/__init__.py": "from ._core import *\n", "prov/_core.cpython-311-x86_64-linux-gnu.so": ""}
    )
    assert missing_names(tmp_path, prov, "fast_thing") == []


def test_not_installed_provider_is_not_this_checks_business(tmp_path: Path) -> None:
    assert symbols(tmp_path, {"user": user("Anything")}) == []


def test_a_second_check_reuses_the_cache_until_something_is_reinstalled(tmp_path: Path) -> None:
    site = make_site(tmp_path / "site", {"accelerate": accelerate(MEMORY_NEW, "0.32.0"), "peft": peft(HEADLINE)})
    cache = Cache(tmp_path / "cache")
    assert check_inventory(scan(site), cache=cache).findings == ()
    # Change an installed file behind the installer's back: the stored result still answers ...
    (site / "accelerate/utils/memory.py").write_text(MEMORY_OLD)
    assert check_inventory(scan(site), cache=cache).findings == ()
    # ... until the RECORD changes (a reinstall, an upgrade), or the cache is not used.
    assert [f.id for f in check_inventory(scan(site), cache=Cache(None)).findings if f.severity is Severity.ERROR] == [
        "symbol-missing"
    ]
    record = next(site.glob("accelerate-*.dist-info")) / "RECORD"
    os.utime(record, ns=(record.stat().st_atime_ns, record.stat().st_mtime_ns + 10**9))
    assert [f.id for f in check_inventory(scan(site), cache=cache).findings if f.severity is Severity.ERROR] == [
        "symbol-missing"
    ]


def test_two_checks_at_once_share_the_cache_safely(tmp_path: Path, fake_venv: tuple[Path, Path]) -> None:
    python, site = fake_venv
    make_site(site, {"accelerate": accelerate(), "peft": peft(HEADLINE)})
    env = {**os.environ, "ENVDOCTOR_CACHE_DIR": str(tmp_path / "shared-cache")}
    cmd = [sys.executable, "-m", "envdoctor", "check", "--python", str(python), "--format", "json"]
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, env=env, text=True) for _ in range(3)]
    outs = [p.communicate(timeout=120)[0] for p in procs]
    assert [p.returncode for p in procs] == [1, 1, 1]
    assert len({json.dumps(json.loads(o)["findings"]) for o in outs}) == 1
    for entry in (tmp_path / "shared-cache").rglob("*.json"):
        json.loads(entry.read_text())  # every stored file is whole


def test_module_that_replaces_itself_in_sys_modules_is_unknown(tmp_path: Path) -> None:
    # pygments.lexers: a ModuleType subclass with __getattr__ takes the module's place.
    init = (
        "import sys, types\nclass _automodule(types.ModuleType):\n    def __getattr__(self, name):\n        return 1\n"
        "oldmod = sys.modules[__name__]\nnewmod = _automodule(__name__)\nnewmod.__dict__.update(oldmod.__dict__)\n"
        "sys.modules[__name__] = newmod\n"
    )
    assert missing_names(tmp_path, provider(init), "PythonLexer") == []


def test_facts_first_a_harvested_file_is_not_read(tmp_path: Path) -> None:
    """When the installed file is the harvested release's file (same version, same RECORD hash), its names
    come from the facts; a patched file (another hash) is read and parsed."""
    from envdoctor.knowledge.wheelfacts import Facts

    facts_dir = tmp_path / "facts" / "symbols"
    facts_dir.mkdir(parents=True)
    entry = {
        "names": {"Magic": [["1.0", "1.0"]]},
        "dynamic": [],
        "absent": [],
        "files": {"sha256=harvested": [["1.0", "1.0"]]},
    }
    (facts_dir / "prov.json").write_text(
        json.dumps({"package": "prov", "versions": ["1.0"], "modules": {"prov": entry}})
    )
    facts = Facts(tmp_path / "facts")

    def check(digest: str) -> list[Finding]:
        # the file on disk lacks Magic: only the facts can say it is there
        prov = Fake("1.0", files={"prov/__init__.py": "X = 1\n"}, record_hashes={"prov/__init__.py": digest})
        site = make_site(tmp_path / digest.replace("=", "-"), {"prov": prov, "user": user("Magic")})
        index = SourceIndex(scan(site), facts=facts)
        found = check_symbols(index, facts)
        assert index.answered_by_facts == (1 if digest == "sha256=harvested" else 0)
        return found

    assert check("sha256=harvested") == []
    assert [f.id for f in check("sha256=patched")] == ["symbol-missing"]


def test_facts_first_star_chains_walked_at_harvest_time(tmp_path: Path) -> None:
    """transformers' top level reaches most names through `from .models import *` chains; for a harvested
    file the walk's result comes from the facts (and a patched file is walked again)."""
    from envdoctor.knowledge.wheelfacts import Facts

    facts_dir = tmp_path / "facts" / "symbols"
    facts_dir.mkdir(parents=True)
    entry = {
        "names": {},
        "dynamic": [],
        "absent": [],
        "files": {"sha256=h": [["1.0", "1.0"]]},
        "exports": {"FromModels": [["1.0", "1.0"]]},
        "exports_unknown": [],
    }
    (facts_dir / "prov.json").write_text(
        json.dumps({"package": "prov", "versions": ["1.0"], "modules": {"prov": entry}})
    )
    facts = Facts(tmp_path / "facts")

    def check(digest: str, name: str) -> list[str]:
        prov = Fake(
            "1.0",
            files={"prov/__init__.py": "from .models import *\n", "prov/models.py": "__all__ = []\n"},
            record_hashes={"prov/__init__.py": digest},
        )
        site = make_site(tmp_path / f"{digest}-{name}".replace("=", "-"), {"prov": prov, "user": user(name)})
        return [f.id for f in check_symbols(SourceIndex(scan(site), facts=facts), facts)]

    assert check("sha256=h", "FromModels") == []  # the facts' walk found it
    assert check("sha256=h", "Gone") == ["symbol-missing"]  # and the facts say nothing else is there
    assert check("sha256=patched", "FromModels") == ["symbol-missing"]  # walked on disk: models.py lacks it


def test_fix_is_computed_both_ways_on_both_sides(tmp_path: Path) -> None:
    """A name the provider removed (huggingface_hub 0.26.0 dropped cached_download; diffusers 0.29.0 stopped
    importing it): the provider's releases that still define it (older, or newer where it came back through a
    star import) and the importer's releases that stopped importing it, each range exact."""
    from envdoctor.knowledge.wheelfacts import Facts

    root = tmp_path / "facts"
    for kind in ("releases", "symbols", "imports"):
        (root / kind).mkdir(parents=True)
    versions = {"prov": ["1.0", "1.1", "2.0", "2.1", "2.2"], "user": ["0.9", "1.0", "1.1", "1.2"]}
    for package, vs in versions.items():
        rows = [{"version": v, "requires_dist": [], "wheel": f"{package}-{v}.whl", "sha256": "0" * 64} for v in vs]
        (root / "releases" / f"{package}.json").write_text(json.dumps({"package": package, "releases": rows}))
    entry = {"names": {"Old": [["1.0", "1.1"]]}, "exports": {"Old": [["2.1", "2.1"]]}, "files": {}}
    (root / "symbols" / "prov.json").write_text(
        json.dumps({"package": "prov", "versions": versions["prov"], "modules": {"prov": entry}})
    )
    imports = {"package": "user", "versions": versions["user"], "imports": {"prov": {"Old": [["0.9", "1.0"]]}}}
    (root / "imports" / "user.json").write_text(json.dumps(imports))
    facts = Facts(root)
    user_dist = Fake("1.0", ["prov"], files={"user/__init__.py": "from prov import Old\n"})
    site = make_site(tmp_path / "site", {"prov": Fake("2.0", files={"prov/__init__.py": "X = 1\n"}), "user": user_dist})
    [f] = check_symbols(SourceIndex(scan(site)), facts)
    assert f.fix == ("prov>=2.1,<2.2", "user>=1.1", "prov<2.0")
    assert "prov defines Old in prov up to 1.1 and in 2.1 to 2.1; user imports it up to 1.0" in f.detail
    assert any("no import of prov.Old in 1.1..1.2" in e for e in f.evidence)


def test_import_in_a_private_function_nothing_calls_is_a_note(tmp_path: Path) -> None:
    # cffi 2.0.0: `def _workaround_for_static_import_finders(): import pycparser.lextab` ("never called")
    source = (
        "def _workaround():\n    import accelerate.utils.gone\n\ndef public():\n    import accelerate.utils.gone2\n"
    )
    lib = peft(source)
    lib.files = {rel: text for rel, text in lib.files.items() if rel != "peft/tuners/unused.py"}
    findings = symbols(tmp_path, {"accelerate": accelerate(), "peft": lib})
    assert sorted((f.id, str(f.severity)) for f in findings) == [
        ("module-missing", "info"),
        ("module-missing", "warning"),
    ]


def _only_loftq(findings: list[Finding]) -> list[Finding]:
    return [f for f in findings if "loftq_utils.py" in f.evidence[0]]


@pytest.mark.parametrize(
    ("first", "expected"),
    [
        # scikit-learn 1.5.2 `try: from scipy.integrate import trapezoid / except ImportError: ... trapz`
        ("from accelerate.utils.memory import release_memory", []),  # works here: the fallback never runs
        ("from accelerate.utils.memory import gone", ["error"]),  # fails too: the fallback runs, and fails
        ("import not_installed_anywhere", ["error"]),
        ("from dynamic_provider import anything", ["info"]),  # cannot be known: only if it fails
    ],
)
def test_fallback_of_a_handled_import_runs_only_when_the_first_fails(
    tmp_path: Path, first: str, expected: list[str]
) -> None:
    source = f"try:\n    {first}\nexcept ImportError:\n    from accelerate.utils.memory import clear_device_cache\n"
    dynamic = Fake(files={"dynamic_provider/__init__.py": "def __getattr__(name):\n    return name\n"})
    findings = _only_loftq(symbols(tmp_path, {"accelerate": accelerate(), "peft": peft(source), "dyn": dynamic}))
    assert [str(f.severity) for f in findings] == expected
    for f in findings:
        assert "line 2" in f.detail  # which import it falls back from
        if expected == ["info"]:
            assert f.detail.startswith("Fails only if the import it falls back from (line 2) fails")


GATE_UTILS = 'ACCELERATE_MIN_VERSION = "0.21.0"\n\ndef is_accelerate_available(min_version: str = ACCELERATE_MIN_VERSION):\n    return _available and version.parse(_version) >= version.parse(min_version)\n'


@pytest.mark.parametrize(
    ("test", "installed", "expected"),
    [
        # transformers 4.40.2 trainer.py:234 `if is_accelerate_available("0.28.0"): from accelerate.utils import
        # DataLoaderConfiguration`, under accelerate 0.25.0
        ('is_accelerate_available("0.28.0")', "0.25.0", "info"),
        ("is_accelerate_available()", "0.20.3", "info"),  # the function's own default, 0.21.0
        ("is_torch_available() and is_accelerate_available()", "0.20.3", "info"),
        ("is_accelerate_available()", "0.25.0", "error"),  # the branch runs: the import fails
        ('is_accelerate_available("0.28.0")', "0.31.0", "error"),
    ],
)
def test_import_in_a_branch_the_installed_versions_skip_does_not_fail(
    tmp_path: Path, test: str, installed: str, expected: str
) -> None:
    source = f"from .import_utils import is_accelerate_available\n\nif {test}:\n    {HEADLINE.splitlines()[2]}\n"
    lib = peft(source)
    lib.files = {**lib.files, "peft/utils/import_utils.py": GATE_UTILS}
    [f] = _only_loftq(symbols(tmp_path, {"accelerate": accelerate(version=installed), "peft": lib}))
    assert str(f.severity) == expected
    if expected == "info":
        assert f.detail.startswith("Does not fail here: the import is in a branch the installed versions skip")
        assert f"and {installed} is installed" in f.detail
        assert "Fails at" not in f.detail and "import peft" not in f.detail
    else:
        assert "Fails at `import peft`" in f.detail


TORCH_UTILS = (
    'import importlib.util\n_torch_available = importlib.util.find_spec("torch") is not None\n\n'
    "def is_torch_available():\n    return _torch_available\n"
)


@pytest.mark.parametrize(
    "gate",
    [
        "if is_torch_available():\n    from .utils import loftq_utils\n",
        # diffusers 0.11.1 / transformers: the else of `try: if not ...: raise` runs only when the test holds
        "try:\n    if not is_torch_available():\n        raise OptionalDependencyNotAvailable()\n"
        "except OptionalDependencyNotAvailable:\n    pass\nelse:\n    from .utils import loftq_utils\n",
    ],
)
@pytest.mark.parametrize("torch_installed", [False, True])
def test_a_chain_through_a_branch_for_a_package_that_is_not_installed_is_not_followed(
    tmp_path: Path, gate: str, torch_installed: bool
) -> None:
    # diffusers 0.11.1 without torch: `import diffusers` works although dynamic_modules_utils would fail
    lib = peft(HEADLINE)
    lib.files = {
        **lib.files,
        "peft/__init__.py": "from .import_utils import is_torch_available\n" + gate,
        "peft/utils/__init__.py": "",
        "peft/import_utils.py": TORCH_UTILS,
    }
    lib.files = {rel: text for rel, text in lib.files.items() if rel != "peft/tuners/unused.py"}
    dists = {"accelerate": accelerate(), "peft": lib}
    if torch_installed:
        dists["torch"] = Fake("2.13.0", files={"torch/__init__.py": ""})
    [f] = symbols(tmp_path, dists)
    if torch_installed:
        assert f.severity is Severity.ERROR and "Fails at `import peft`: peft -> peft.utils.loftq_utils" in f.detail
    else:  # the branch is skipped: nothing known reaches the module
        assert f.severity is Severity.WARNING and "nothing well-known imports it" in f.detail


def test_a_gate_named_for_a_feature_not_a_package_is_followed(tmp_path: Path) -> None:
    # transformers: is_vision_available() looks up "PIL"; BACKENDS_MAPPING's ("vision", ...) is not a lookup
    utils = (
        '_pil = _is_package_available("PIL")\nBACKENDS_MAPPING = [("vision", (1, 2))]\n\n'
        "def is_vision_available():\n    return _pil\n"
    )
    lib = peft(HEADLINE)
    lib.files = {
        **lib.files,
        "peft/__init__.py": "from .import_utils import is_vision_available\n"
        "if is_vision_available():\n    from .utils import loftq_utils\n",
        "peft/utils/__init__.py": "",
        "peft/import_utils.py": utils,
    }
    lib.files = {rel: text for rel, text in lib.files.items() if rel != "peft/tuners/unused.py"}
    [f] = symbols(tmp_path, {"accelerate": accelerate(), "peft": lib})
    assert f.severity is Severity.ERROR  # "vision" is no installed package, yet nothing says the branch is skipped
