"""[tool.envdoctor] / --config / ENVDOCTOR_FAIL_ON / --ignore: each key, each bad value (file and line), each
precedence level."""

from __future__ import annotations

from pathlib import Path

import pytest

from envdoctor import config
from envdoctor.errors import UsageError
from envdoctor.report import Finding, Report, Severity


def write(folder: Path, text: str, name: str = "pyproject.toml") -> Path:
    path = folder / name
    path.write_text(text)
    return path


PROJECT = """\
[project]
name = "train"

[tool.ruff]
line-length = 100

[tool.envdoctor]
fail-on = "warning"
keep = ["peft", "Accelerate"]

[[tool.envdoctor.ignore]]
id = "symbol-missing"
package = "peft"
reason = "we never import peft's LoftQ path"

[[tool.envdoctor.ignore]]
id = "record-missing"
reason = "conda installs without RECORD"
"""


def test_every_key_is_read_from_pyproject(tmp_path: Path) -> None:
    cfg = config.load(write(tmp_path, PROJECT))
    assert cfg.fail_on is Severity.WARNING
    assert cfg.keep == ("peft", "accelerate")
    assert cfg.ignore == (
        config.Ignore("symbol-missing", "we never import peft's LoftQ path", "peft"),
        config.Ignore("record-missing", "conda installs without RECORD"),
    )


def test_pyproject_is_found_upward_and_the_search_stops_at_the_repository_root(tmp_path: Path) -> None:
    write(tmp_path, PROJECT)
    deep = tmp_path / "src" / "pkg"
    deep.mkdir(parents=True)
    write(tmp_path / "src", '[project]\nname = "no-envdoctor-table"\n')  # skipped: no [tool.envdoctor]
    assert config.load(cwd=deep).source == tmp_path / "pyproject.toml"
    (tmp_path / "src" / ".git").mkdir()  # src is a repository of its own: the search stops there
    assert config.load(cwd=deep) == config.Config()


def test_a_standalone_file_holds_the_keys_at_top_level(tmp_path: Path) -> None:
    path = write(tmp_path, 'fail-on = "info"\nignore = [{id = "what-if", reason = "expected"}]\n', "envdoctor.toml")
    cfg = config.load(path)
    assert cfg.fail_on is Severity.INFO
    assert cfg.ignore == (config.Ignore("what-if", "expected"),)


def test_baseline_probes_imports_and_scripts_are_read_relative_to_the_file(tmp_path: Path) -> None:
    (tmp_path / "train.py").write_text("import torch\n")
    cfg = config.load(
        write(
            tmp_path,
            '[tool.envdoctor]\nbaseline = "ci/baseline.json"\nprobes = true\n'
            'imports = ["from peft import LoraConfig", "import bitsandbytes"]\nscripts = ["train.py"]\n',
        ),
        cwd=tmp_path / "elsewhere",
    )
    assert cfg.baseline == tmp_path / "ci" / "baseline.json"
    assert cfg.probes is True
    assert cfg.imports == ("from peft import LoraConfig", "import bitsandbytes")
    assert cfg.scripts == (tmp_path / "train.py",)
    assert config.load(write(tmp_path, "[tool.envdoctor]\n")) == config.Config(source=tmp_path / "pyproject.toml")


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        ('[tool.envdoctor]\nfail-on = "warning"\nfail_on = "x"\n', 3, "did you mean 'fail-on'"),
        ('[tool.envdoctor]\n\nfail-on = "fatal"\n', 3, "error, warning, info"),
        ("[tool.envdoctor]\nfail-on = 3\n", 2, "fail-on = 3"),
        ('[tool.envdoctor]\nkeep = "peft"\n', 2, "list of package names"),
        ('[tool.envdoctor]\nkeep = ["peft", "not a name"]\n', 2, "list of package names"),
        ('[tool.envdoctor]\nignore = "symbol-missing"\n', 2, "list of tables"),
        ('[tool.envdoctor]\nignore = ["symbol-missing"]\n', 2, "must be a table"),
        (
            '[tool.envdoctor]\n[[tool.envdoctor.ignore]]\nid = "a"\nreason = "r"\n\n'
            '[[tool.envdoctor.ignore]]\nid = "symbol-missing"\npackge = "peft"\nreason = "r"\n',
            8,
            "unknown key 'packge' in ignore entry 2",
        ),
        (
            '[tool.envdoctor]\n[[tool.envdoctor.ignore]]\nid = "symbol-missing"\npackage = "peft"\n',
            3,
            "a reason is required",
        ),
        (
            '[tool.envdoctor]\nignore = [\n  {id = "a", reason = "r"},\n  {id = "b", reason = "  "},\n]\n',
            4,
            "ignore entry 2 (b): a reason is required",
        ),
        ('[tool.envdoctor]\n[[tool.envdoctor.ignore]]\nreason = "r"\nid = ""\n', 4, "id must be"),
        ('[tool.envdoctor]\n[[tool.envdoctor.ignore]]\nid = "a"\nreason = "r"\npackage = 1\n', 5, "package = 1"),
        ('[tool.envdoctor]\nfail-on = "warning"\nfail-on = "error"\n', 3, "not valid TOML"),
        ('[tool.envdoctor]\nfail-on = "info"\nbaseline = 1\n', 3, "baseline = 1: expected a file name"),
        ('[tool.envdoctor]\nprobes = "yes"\n', 2, "probes = 'yes': expected true or false"),
        ('[tool.envdoctor]\nimports = "import torch"\n', 2, "expected a list of import statements"),
        (
            '[tool.envdoctor]\nimports = [\n  "import torch",\n  "torch.cuda",\n]\n',
            2,
            "imports: 'torch.cuda': only import",
        ),
        ('[tool.envdoctor]\nimports = ["from . import x"]\n', 2, "a relative import has no package"),
        ('[tool.envdoctor]\nscripts = "train.py"\n', 2, "scripts = 'train.py': expected a list of file names"),
        ('[tool.envdoctor]\n\nscripts = ["missing.py"]\n', 3, "scripts: 'missing.py' is not a file"),
    ],
)
def test_a_bad_key_or_value_names_the_file_and_line(tmp_path: Path, text: str, line: int, words: str) -> None:
    path = write(tmp_path, "[project]\nname = 'x'\n\n" + text)
    with pytest.raises(UsageError) as info:
        config.load(path)
    message = str(info.value)
    assert message.startswith(f"{path}:"), message
    assert f"line {line + 3}" in message if "TOML" in words else f"{path}:{line + 3}: " in message, message
    assert words in message


def test_a_missing_config_file_or_table_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="--config"):
        config.load(tmp_path / "nope.toml")
    with pytest.raises(UsageError, match=r"no \[tool.envdoctor\] table"):
        config.load(write(tmp_path, "[project]\nname = 'x'\n"))


@pytest.mark.parametrize(
    ("cli", "env", "file", "expected"),
    [
        (None, None, None, Severity.ERROR),  # the default
        (None, None, Severity.INFO, Severity.INFO),  # the file
        (None, "warning", Severity.INFO, Severity.WARNING),  # the environment beats the file
        ("error", "warning", Severity.INFO, Severity.ERROR),  # the command line beats both
        (None, "", Severity.INFO, Severity.INFO),  # an empty variable is unset
    ],
)
def test_fail_on_precedence(cli: str | None, env: str | None, file: Severity | None, expected: Severity) -> None:
    environ = {} if env is None else {config.FAIL_ON_ENV: env}
    assert config.fail_on(cli, config.Config(fail_on=file), environ) is expected


def test_a_bad_environment_value_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="ENVDOCTOR_FAIL_ON='fatal'"):
        config.fail_on(None, config.Config(), {config.FAIL_ON_ENV: "fatal"})


def test_an_ignore_suppresses_only_what_it_names() -> None:
    report = Report.build(
        [
            Finding("symbol-missing", Severity.ERROR, "peft imports a name", packages=("peft", "accelerate")),
            Finding("symbol-missing", Severity.ERROR, "trl imports a name", packages=("trl", "transformers")),
            Finding("record-missing", Severity.INFO, "no RECORD", packages=("x",)),
        ]
    )
    out = config.suppress(report, [config.Ignore("symbol-missing", "accepted", "Accelerate")])
    assert [f.suppressed for f in out.findings] == ["accepted", None, None]
    assert out.count(Severity.ERROR) == 1
    assert "1 suppressed" in out.verdict()
    everything = config.suppress(report, [config.Ignore("symbol-missing", "r"), config.Ignore("record-missing", "r")])
    assert everything.worst is None
    assert everything.verdict().startswith("OK: 0 errors")


def test_command_line_ignore_syntax() -> None:
    assert config.Ignore.parse("symbol-missing:Peft") == config.Ignore(
        "symbol-missing", "ignored with --ignore on the command line", "peft"
    )
    assert config.Ignore.parse("record-missing").package is None
    for bad in ("", ":peft", "symbol-missing:not a name"):
        with pytest.raises(UsageError, match="ID:PACKAGE"):
            config.Ignore.parse(bad)


def test_an_ignore_must_name_a_known_finding_or_rule_id(tmp_path: Path) -> None:
    from envdoctor.knowledge import catalog

    path = write(
        tmp_path,
        '[tool.envdoctor]\n[[tool.envdoctor.ignore]]\nid = "numpy1-extension-under-numpy2"\nreason = "r"\n\n'
        '[[tool.envdoctor.ignore]]\nreason = "r"\nid = "symbol-mising"\n',
    )
    with pytest.raises(UsageError) as info:
        config.load(path, known=catalog.known_ids)  # the matrix rule is known; the typo is not
    assert str(info.value).startswith(f"{path}:8: ignore entry 2: no finding or rule has the id 'symbol-mising'")
    assert "did you mean 'symbol-missing'?" in str(info.value)
    # a damaged matrix (no rule ids known: check reports matrix-invalid) makes no ignore an error
    assert len(config.load(path, known=lambda: None).ignore) == 2


def test_command_line_options_reach_check_and_pin(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from envdoctor import api, cli
    from envdoctor.fix import pin as pinning

    write(tmp_path, '[tool.envdoctor]\nkeep = ["peft"]\n')
    monkeypatch.chdir(tmp_path)
    seen: dict[str, object] = {}

    def fake_pin(**kw: object) -> object:
        seen.update(kw)
        raise UsageError("stop here")

    monkeypatch.setattr(pinning, "pin", fake_pin)
    assert cli.main(["pin", "--keep", "trl"]) == 2
    assert seen["keep"] == ["peft", "trl"]  # the file's keep and the command line's add up
    assert cli.main(["check", "--ignore", "symbol-mising"]) == 2
    assert "--ignore symbol-mising: no finding or rule has the id" in capsys.readouterr().err
    (tmp_path / "train.py").write_text("import torch\n")
    (tmp_path / "nb.ipynb").write_text("{}")
    write(
        tmp_path,
        '[tool.envdoctor]\nimports = ["import nothing_here_at_all"]\nprobes = true\nscripts = ["train.py"]\n',
    )
    monkeypatch.setattr(api, "check", fake_pin)
    assert cli.main(["check", "--import", "import torch", "--script", "nb.ipynb"]) == 2
    assert (seen["probes"], seen["imports"]) == (True, ["import nothing_here_at_all", "import torch"])
    assert seen["scripts"] == [str(tmp_path / "train.py"), "nb.ipynb"]  # the file's scripts, then --script
    bad = write(tmp_path, '\nkeep = "peft"\n', "other.toml")
    assert cli.main(["pin", "--config", str(bad)]) == 2
    assert f"{bad}:2: keep = 'peft'" in capsys.readouterr().err


@pytest.mark.parametrize(
    "text",
    [
        '[tool.envdoctor]\nfail-on = "info"\n',
        '[ tool . "envdoctor" ]\nfail-on = "info"\n',
        '[tool]\nenvdoctor = { fail-on = "info" }\n',
        '[tool]\nenvdoctor.fail-on = "info"\n',
        'tool.envdoctor.fail-on = "info"\n',
        'tool = { envdoctor = { fail-on = "info" } }\n',
    ],
)
def test_every_toml_spelling_of_the_table_is_found(tmp_path: Path, text: str) -> None:
    write(tmp_path, text)
    assert config.load(cwd=tmp_path).fail_on is Severity.INFO


def test_a_project_that_only_names_envdoctor_is_not_parsed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A dependency on envdoctor or a script named after it is no [tool.envdoctor]: no TOML parse (the import of
    tomllib and the parse cost every warm check run in that folder)."""
    write(tmp_path, '[project]\nname = "envdoctor"\ndependencies = ["envdoctor"]\n[project.scripts]\nenvdoctor = "x"\n')
    parsed: list[Path] = []

    def parse(path: Path, data: bytes) -> dict[str, object]:
        parsed.append(path)
        return {}

    monkeypatch.setattr(config, "_parse", parse)
    assert config.load(cwd=tmp_path) == config.Config()
    assert parsed == []
