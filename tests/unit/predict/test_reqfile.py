from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from envdoctor.errors import UsageError
from envdoctor.predict.reqfile import (
    Line,
    RequirementsError,
    RequirementsFile,
    parse_requirements_text,
    read_requirements,
)
from envdoctor.versions import MarkerEnvironment


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def error_of(path: Path, environ: dict[str, str] | None = None) -> RequirementsError:
    with pytest.raises(RequirementsError) as info:
        read_requirements(path, environ=environ or {})
    return info.value


def only(result: RequirementsFile) -> Line:
    assert len(result.lines) == 1, result.lines
    return result.lines[0]


def parse(text: str, **environ: str) -> RequirementsFile:
    return parse_requirements_text(text, environ=environ)


# ---- bad lines and hostile input: each names the file and line ----


def test_invalid_specifier_names_file_line_and_text(tmp_path: Path) -> None:
    req = write(tmp_path / "req.txt", "# pins\n\nnumpy\n\n\n\ntorch>=>2\n")
    err = error_of(req)
    assert isinstance(err, UsageError)  # the CLI maps it to exit code 2
    assert str(err).startswith(f"{req}:7: invalid requirement 'torch>=>2': ")
    assert (err.file, err.lineno) == (str(req), 7)
    assert "\n" not in str(err)


def test_single_equals_gets_a_hint() -> None:
    with pytest.raises(RequirementsError, match=r"<string>:1: invalid requirement 'torch=2\.1'.*did you mean ==\?"):
        parse("torch=2.1")


def test_unknown_option(tmp_path: Path) -> None:
    req = write(tmp_path / "req.txt", "torch\n--upgrade\n")
    assert str(error_of(req)) == f"{req}:2: unknown option '--upgrade' (pip does not accept it in a requirements file)"


def test_unknown_option_on_a_requirement_line(tmp_path: Path) -> None:
    req = write(tmp_path / "req.txt", "torch==2.1 --no-deps\n")
    assert str(error_of(req)).startswith(f"{req}:1: unknown option '--no-deps'")


def test_ambiguous_option_prefix() -> None:
    with pytest.raises(
        RequirementsError, match=r"<string>:1: ambiguous option '--no' \(could be --no-binary, --no-index\)"
    ):
        parse("--no https://example.com")


@pytest.mark.parametrize("line", ["-r", "--index-url", "-e", "--hash"])
def test_option_missing_its_value(tmp_path: Path, line: str) -> None:
    req = write(tmp_path / "req.txt", f"torch\n{line}\n")
    assert str(error_of(req)) == f"{req}:2: option {line} needs a value"


def test_flag_given_a_value() -> None:
    with pytest.raises(RequirementsError, match="<string>:1: option --pre takes no value"):
        parse("--pre=yes")


def test_unclosed_quote_in_options(tmp_path: Path) -> None:
    req = write(tmp_path / "req.txt", "torch --hash 'sha256:abc\n")
    assert str(error_of(req)).startswith(f"{req}:1: cannot split options")


@pytest.mark.parametrize(
    ("value", "expected"),
    [("md5:abc", "--hash algorithm 'md5' is not allowed"), ("abc", "--hash needs a hash name and a value")],
)
def test_bad_hash(tmp_path: Path, value: str, expected: str) -> None:
    req = write(tmp_path / "req.txt", f"torch==2.1 \\\n    --hash={value}\n")
    assert str(error_of(req)).startswith(f"{req}:1: {expected}")


def test_include_cycle_names_the_chain(tmp_path: Path) -> None:
    a = write(tmp_path / "a.txt", "torch\n-r sub/b.txt\n")
    write(tmp_path / "sub" / "b.txt", "numpy\n\n-r ../a.txt\n")
    err = error_of(a)
    b = os.path.join(tmp_path, "sub/b.txt")
    assert str(err) == f"{b}:3: include cycle: {a} -> {b} -> {os.path.join(tmp_path, 'sub', '../a.txt')}"
    assert (err.file, err.lineno) == (b, 3)


def test_file_including_itself(tmp_path: Path) -> None:
    req = write(tmp_path / "req.txt", "-c req.txt\n")
    assert "include cycle" in str(error_of(req))


def test_missing_include(tmp_path: Path) -> None:
    req = write(tmp_path / "req.txt", "torch\n-r base.txt\n")
    looked = os.path.join(tmp_path, "base.txt")
    assert str(error_of(req)) == f"{req}:2: no such file 'base.txt' (looked for {looked!r})"


def test_missing_file() -> None:
    with pytest.raises(RequirementsError) as info:
        read_requirements("does/not/exist.txt")
    assert str(info.value) == "does/not/exist.txt: no such file"
    assert (info.value.file, info.value.lineno) == ("does/not/exist.txt", 0)


def test_remote_include_is_refused_without_leaking_credentials(tmp_path: Path) -> None:
    req = write(tmp_path / "req.txt", "torch\n-r https://alice:s3cretpw@pypi.example.com/req.txt\n")
    message = str(error_of(req))
    assert message.startswith(f"{req}:2: 'https://alice:****@pypi.example.com/req.txt' is a remote requirements file")
    assert "does not fetch remote requirement files" in message
    assert "s3cretpw" not in message


def test_remote_top_level_file_is_refused() -> None:
    with pytest.raises(RequirementsError, match="does not fetch remote"):
        read_requirements("https://example.com/req.txt")


def test_undecodable_bytes_name_the_line(tmp_path: Path) -> None:
    req = tmp_path / "req.txt"
    req.write_bytes(b"torch\nnumpy\n\x89PNG\xff\xfe junk\n")
    message = str(error_of(req))
    assert message.startswith(f"{req}:3: cannot be decoded as utf-8 (byte 0x89)")


def test_nul_bytes_are_a_binary_file(tmp_path: Path) -> None:
    req = tmp_path / "req.txt"
    req.write_bytes(b"torch\x00\x00\x00")
    assert str(error_of(req)) == f"{req}:1: contains a NUL character; is it a binary file?"


def test_directory_instead_of_file(tmp_path: Path) -> None:
    assert str(error_of(tmp_path)) == f"{tmp_path}: is a directory, not a requirements file"
    req = write(tmp_path / "req.txt", "-r .\n")
    assert str(error_of(req)) == f"{req}:1: '.' is a directory, not a requirements file"


def test_device_is_not_read(tmp_path: Path) -> None:
    req = write(tmp_path / "req.txt", "-r /dev/zero\n")
    assert str(error_of(req)) == f"{req}:1: '/dev/zero' is not a regular file"


def test_credentials_in_an_error_are_redacted(tmp_path: Path) -> None:
    req = write(
        tmp_path / "req.txt",
        "--index-url https://bob:hunter2pw@pypi.example.com/simple\nbad @ https://bob:hunter2pw@h/x.whl ; ((\n",
    )
    message = str(error_of(req))
    assert message.startswith(f"{req}:2: invalid requirement 'bad @ https://bob:****@h/x.whl ; (('")
    assert "hunter2pw" not in message


def test_expanded_token_in_an_error_is_redacted(tmp_path: Path) -> None:
    req = write(tmp_path / "req.txt", "-e git+https://${GH_TOKEN}@github.com/o/r.git\n")
    message = str(error_of(req, {"GH_TOKEN": "ghp_abcdef123456"}))
    assert message.startswith(f"{req}:1: cannot tell the project name of 'git+https://****@github.com/o/r.git'")
    assert "ghp_abcdef123456" not in message


def test_url_scheme_pip_does_not_install_from() -> None:
    with pytest.raises(RequirementsError, match=r"<string>:1: invalid requirement 'git://.*URL scheme 'git'"):
        parse("git://github.com/o/r#egg=r")


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("-e torch", "'torch' is not a valid editable requirement"),
        ("-e https://h/x-1.0.tar.gz", "'https://h/x-1.0.tar.gz' is not a valid editable requirement"),
        (
            "-e git+https://github.com/o/r",
            "cannot tell the project name of 'git+https://github.com/o/r'; add #egg=NAME",
        ),
    ],
)
def test_bad_editable(line: str, expected: str) -> None:
    with pytest.raises(RequirementsError, match=re.escape(f"<string>:1: {expected}")):
        parse(line)


def test_bad_wheel_filename() -> None:
    with pytest.raises(RequirementsError, match=r"<string>:1: 'x\.whl' is not a valid wheel filename"):
        parse("https://example.com/x.whl")


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("./local/pkg", "unnamed requirements are not allowed as constraints"),
        ("torch[cuda]==2.1", "constraints cannot have extras"),
        ("-e ./local/pkg", "editable requirements are not allowed as constraints"),
    ],
)
def test_what_pip_refuses_as_a_constraint(tmp_path: Path, line: str, expected: str) -> None:
    req = write(tmp_path / "req.txt", "-c constraints.txt\n")
    write(tmp_path / "constraints.txt", f"numpy<2\n{line}\n")
    assert str(error_of(req)).startswith(f"{tmp_path / 'constraints.txt'}:2: {expected}")


@pytest.mark.parametrize(
    "line", ["https://[broken/x-1.0-py3-none-any.whl", "-r file://[broken/req.txt", "-e file://[x"]
)
def test_malformed_url(line: str) -> None:
    with pytest.raises(RequirementsError, match=re.escape("<string>:1: ") + ".*Invalid IPv6 URL"):
        parse(line)


def test_line_of_megabytes_gives_a_short_error() -> None:
    with pytest.raises(RequirementsError) as info:
        parse("torch" + ">" * 3_000_000)
    assert len(str(info.value)) < 400
    assert str(info.value).startswith("<string>:1: invalid requirement 'torch>>>>")


def test_line_of_megabytes_of_whitespace_and_hashes() -> None:
    assert only(parse(" " * 2_000_000 + "torch" + " " * 2_000_000 + "#" * 1_000_000)).text == "torch"
    assert parse("\\\n" * 100_000).lines == ()


def test_deeply_nested_marker_is_an_error_not_a_crash() -> None:
    # The behaviour, not the wording: packaging >= 26.4 refuses such a marker with its own message
    # ("nested more than 200 levels deep"), older releases overflow the stack and envdoctor says so.
    with pytest.raises(RequirementsError) as info:
        parse("torch; " + "(" * 5000 + 'python_version > "3"' + ")" * 5000)
    message = str(info.value)
    assert message.startswith("<string>:1: invalid requirement 'torch; ((((")
    assert "\n" not in message
    assert len(message) < 400


def test_empty_file_has_no_lines(tmp_path: Path) -> None:
    result = read_requirements(write(tmp_path / "req.txt", ""))
    assert result == RequirementsFile()


def test_hundred_thousand_lines(tmp_path: Path) -> None:
    body = "".join(f"pkg{i % 1000}>=1.{i % 7}  # pinned\n\n" for i in range(100_000))
    result = read_requirements(write(tmp_path / "req.txt", body))
    assert len(result.lines) == 100_000
    assert (result.lines[-1].name, result.lines[-1].lineno) == ("pkg999", 199_999)


# ---- what is read ----


def test_comments_and_blank_lines() -> None:
    result = parse("# a comment\n   # indented\n\ntorch>=2.1  # trailing\ngit+https://github.com/o/r#egg=rpkg\n")
    assert [(line.text, line.lineno) for line in result.lines] == [
        ("torch>=2.1", 4),
        ("git+https://github.com/o/r#egg=rpkg", 5),  # a # after no whitespace is not a comment
    ]
    assert result.lines[1].name == "rpkg"


def test_hash_sign_without_whitespace_is_not_a_comment() -> None:
    with pytest.raises(RequirementsError, match="invalid requirement 'numpy#not-a-comment'"):
        parse("numpy#not-a-comment")


def test_continuation_joins_lines_and_keeps_the_first_line_number() -> None:
    result = parse("numpy\n\ntorch\\\n>=2.1 \\\n  ; python_version >= '3.9'\naccelerate\n")
    assert [(line.text, line.lineno) for line in result.lines] == [
        ("numpy", 1),
        ("torch>=2.1   ; python_version >= '3.9'", 3),
        ("accelerate", 6),
    ]


def test_continuation_into_a_comment_ends_there() -> None:
    result = parse("torch \\\n# a comment \\\nnumpy\n")
    assert [line.text for line in result.lines] == ["torch", "numpy"]


def test_comment_ending_in_backslash_swallows_the_next_line_as_pip_does() -> None:
    assert [line.text for line in parse("torch # comment \\\nnumpy\nscipy\n").lines] == ["torch", "scipy"]


def test_environment_variables() -> None:
    result = parse("${PKG}==${VER}\nhttps://h/${MISSING}/pkg-1.0-py3-none-any.whl\n", PKG="transformers", VER="4.44.0")
    assert [line.text for line in result.lines] == [
        "transformers==4.44.0",
        "https://h/${MISSING}/pkg-1.0-py3-none-any.whl",  # undefined: left as written, as pip does
    ]
    assert str(result.lines[0].requirement) == "transformers==4.44.0"


@pytest.mark.parametrize("line", ["${EMPTY}", "$PKG", "${pkg}"])
def test_variables_pip_does_not_expand(line: str) -> None:
    """Empty values, $NAME without braces and lower-case names stay as written."""
    with pytest.raises(RequirementsError, match=re.escape(f"invalid requirement {line!r}")):
        parse(line, EMPTY="", PKG="torch", pkg="torch")


def test_variables_from_os_environ_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENVDOCTOR_TEST_PKG", "peft")
    assert only(parse_requirements_text("${ENVDOCTOR_TEST_PKG}")).name == "peft"


def test_nested_includes_are_relative_to_the_including_file(tmp_path: Path) -> None:
    top = write(tmp_path / "req.txt", "torch\n-r reqs/base.txt\naccelerate\n")
    write(tmp_path / "reqs" / "base.txt", "numpy\n--requirement=more/extra.txt\n")
    write(tmp_path / "reqs" / "more" / "extra.txt", "\n\npeft\n-r ../../shared.txt\n")
    write(tmp_path / "shared.txt", "safetensors\n")
    result = read_requirements(top)
    assert [(line.name, line.file, line.lineno) for line in result.lines] == [
        ("torch", str(top), 1),
        ("numpy", os.path.join(tmp_path, "reqs/base.txt"), 1),
        ("peft", os.path.join(tmp_path, "reqs", "more/extra.txt"), 3),
        ("safetensors", os.path.join(tmp_path, "reqs", "more", "../../shared.txt"), 1),
        ("accelerate", str(top), 3),
    ]


def test_a_file_included_twice_is_read_once(tmp_path: Path) -> None:
    top = write(tmp_path / "req.txt", "-r a.txt\n-r b.txt\n")
    write(tmp_path / "a.txt", "-r common.txt\ntorch\n")
    write(tmp_path / "b.txt", "-r common.txt\nnumpy\n")
    write(tmp_path / "common.txt", "packaging\n")
    assert [line.name for line in read_requirements(top).lines] == ["packaging", "torch", "numpy"]


def test_constraint_files_mark_their_lines(tmp_path: Path) -> None:
    top = write(tmp_path / "req.txt", "transformers\n-c constraints.txt\n--constraint pins/more.txt\n")
    write(tmp_path / "constraints.txt", "torch<2.5\n")
    write(tmp_path / "pins" / "more.txt", "numpy<2\n-r also.txt\n")
    write(tmp_path / "pins" / "also.txt", "tokenizers\n")
    result = read_requirements(top)
    assert [(line.name, line.constraint) for line in result.lines] == [
        ("transformers", False),
        ("torch", True),
        ("numpy", True),
        ("tokenizers", False),  # pip: -r inside a constraints file gives requirements
    ]


def test_text_includes_are_relative_to_base_dir(tmp_path: Path) -> None:
    write(tmp_path / "base.txt", "numpy\n")
    result = parse_requirements_text("torch==2.4.0\n-r base.txt", file="--install", base_dir=tmp_path)
    assert [(line.name, line.file, line.lineno) for line in result.lines] == [
        ("torch", "--install", 1),
        ("numpy", os.path.join(tmp_path, "base.txt"), 1),
    ]


def test_file_url_include(tmp_path: Path) -> None:
    write(tmp_path / "base.txt", "numpy\n")
    result = parse_requirements_text(f"-r {(tmp_path / 'base.txt').as_uri()}")
    assert only(result).name == "numpy"


def test_hashes_are_collected_per_requirement() -> None:
    result = parse(
        "torch==2.4.0 \\\n"
        "    --hash=sha256:aaaa \\\n"
        "    --hash sha512:bbbb\n"
        "numpy==2.0.0 --hash=sha256:cccc\n"
        "scipy==1.14.0\n"
    )
    assert [(line.name, line.hashes) for line in result.lines] == [
        ("torch", ("sha256:aaaa", "sha512:bbbb")),
        ("numpy", ("sha256:cccc",)),
        ("scipy", ()),
    ]
    assert result.lines[0].text == "torch==2.4.0"


def test_markers_are_evaluated_in_the_target_environment() -> None:
    result = parse(
        "torch>=2.1; python_version >= '3.9'\n"
        "pywin32; sys_platform == 'win32'\n"
        "https://h/x/flash_attn-2.6.3-cp311-cp311-linux_x86_64.whl; platform_machine == 'x86_64'\n"
        "numpy\n"
    )
    target = MarkerEnvironment({"python_version": "3.8", "sys_platform": "linux", "platform_machine": "x86_64"})
    assert [line.applies(target) for line in result.lines] == [False, False, True, True]
    newer = MarkerEnvironment({"python_version": "3.11", "sys_platform": "win32", "platform_machine": "arm64"})
    assert [line.applies(newer) for line in result.lines] == [True, True, False, True]


def test_extras() -> None:
    line = only(parse("Transformers[torch,Sentence_Piece]>=4.40"))
    assert line.name == "transformers"
    assert line.extras == {"torch", "sentence-piece"}  # normalized, as pip compares them


def test_name_at_url() -> None:
    line = only(parse("peft @ https://h/archive/main.zip ; python_version > '3'"))
    assert (line.name, line.url, line.editable) == ("peft", "https://h/archive/main.zip", False)
    assert line.requirement is not None and line.requirement.url == "https://h/archive/main.zip"
    assert str(line.marker) == 'python_version > "3"'


def test_wheel_file_names_give_name_and_version() -> None:
    result = parse(
        "https://download.pytorch.org/whl/cu121/torch-2.4.0%2Bcu121-cp311-cp311-linux_x86_64.whl\n"
        "./wheels/Flash_Attn-2.6.3-cp311-cp311-linux_x86_64.whl[extra]\n"
        "dist/other_pkg-0.1-py3-none-any.whl\n"
    )
    got = [(line.name, str(line.requirement), line.url) for line in result.lines]
    assert got == [
        (
            "torch",
            "torch==2.4.0+cu121",
            "https://download.pytorch.org/whl/cu121/torch-2.4.0%2Bcu121-cp311-cp311-linux_x86_64.whl",
        ),
        ("flash-attn", "flash-attn[extra]==2.6.3", "./wheels/Flash_Attn-2.6.3-cp311-cp311-linux_x86_64.whl"),
        ("other-pkg", "other-pkg==0.1", "dist/other_pkg-0.1-py3-none-any.whl"),
    ]


def test_egg_fragment_gives_the_name() -> None:
    result = parse("git+https://github.com/huggingface/peft.git@v0.12.0#egg=peft\nhttps://h/src/x.tar.gz#egg=xpkg\n")
    assert [(line.name, line.url) for line in result.lines] == [
        ("peft", "git+https://github.com/huggingface/peft.git@v0.12.0#egg=peft"),
        ("xpkg", "https://h/src/x.tar.gz#egg=xpkg"),
    ]


def test_unnamed_urls_and_local_paths() -> None:
    result = parse("git+https://github.com/o/r.git\n.\n./src/pkg[dev]\n/opt/src/x-1.0.tar.gz\n")
    assert [(line.requirement, line.url, line.extras) for line in result.lines] == [
        (None, "git+https://github.com/o/r.git", frozenset()),
        (None, ".", frozenset()),
        (None, "./src/pkg", {"dev"}),
        (None, "/opt/src/x-1.0.tar.gz", frozenset()),
    ]


def test_editables() -> None:
    result = parse(
        "-e .[dev,test]\n--editable=git+https://github.com/o/r.git@main#egg=rpkg\n-e git://github.com/o/q#egg=q\n"
    )
    assert [(line.text, line.url, line.name, line.editable, line.extras) for line in result.lines] == [
        (".[dev,test]", ".", None, True, {"dev", "test"}),
        (
            "git+https://github.com/o/r.git@main#egg=rpkg",
            "git+https://github.com/o/r.git@main#egg=rpkg",
            "rpkg",
            True,
            frozenset(),
        ),
        ("git://github.com/o/q#egg=q", "git+git://github.com/o/q#egg=q", "q", True, frozenset()),  # pip's git: prefix
    ]


def test_global_options(tmp_path: Path) -> None:
    (tmp_path / "wheels").mkdir()
    req = write(
        tmp_path / "req.txt",
        "-i https://pypi.example.com/simple\n"
        "--extra-index-url https://download.pytorch.org/whl/cu121\n"
        "--extra-index https://more.example.com/simple --pre\n"  # a unique prefix, as optparse allows
        "-f wheels\n"
        "--find-links https://h/links.html\n"
        "--trusted-host pypi.example.com\n"
        "--only-binary :all:\n"
        "--prefer-binary\n"
        "--use-feature=fast-deps\n"
        "torch\n",
    )
    result = read_requirements(req)
    assert result.index_url == "https://pypi.example.com/simple"
    assert result.extra_index_urls == ("https://download.pytorch.org/whl/cu121", "https://more.example.com/simple")
    assert result.find_links == (os.path.join(tmp_path, "wheels"), "https://h/links.html")
    assert result.trusted_hosts == ("pypi.example.com",)
    assert (result.pre, result.no_index) == (True, False)
    assert result.other_options == (
        ("--only-binary=:all:", str(req), 7),
        ("--prefer-binary", str(req), 8),
        ("--use-feature=fast-deps", str(req), 9),
    )
    assert [line.name for line in result.lines] == ["torch"]
    assert parse("--no-index").no_index


def test_options_pip_ignores_are_reported(tmp_path: Path) -> None:
    write(tmp_path / "a.txt", "numpy\n")
    write(tmp_path / "b.txt", "scipy\n")
    req = write(
        tmp_path / "req.txt",
        "torch==2.4.0 --index-url https://ignored.example.com/simple -C key=value\n"
        "--hash=sha256:abcd\n"
        "-r a.txt -r b.txt --pre\n",
    )
    result = read_requirements(req)
    assert result.index_url is None  # pip ignores global options on a requirement line
    assert result.lines[0].options == ("--config-settings=key=value",)
    assert [line.name for line in result.lines] == ["torch", "numpy"]  # pip reads the first -r of a line
    assert result.pre is False
    assert result.ignored_options == (
        ("--index-url=https://ignored.example.com/simple", str(req), 1),
        ("--hash=sha256:abcd", str(req), 2),  # pip warns: --hash without a requirement
        ("--requirement=b.txt", str(req), 3),
        ("--pre", str(req), 3),
    )


def test_encoding_boms_and_coding_lines(tmp_path: Path) -> None:
    utf16 = tmp_path / "utf16.txt"
    utf16.write_bytes("torch\nnumpy\n".encode("utf-16"))  # with its BOM
    assert [line.name for line in read_requirements(utf16).lines] == ["torch", "numpy"]
    latin = tmp_path / "latin.txt"
    latin.write_bytes("# -*- coding: latin-1 -*-\n# caf\xe9\ntorch\n".encode("latin-1"))
    assert only(read_requirements(latin)).name == "torch"


def test_line_helpers() -> None:
    line = only(parse("Flash_Attn==2.6.3"))
    assert line.name == "flash-attn"
    assert line.applies(MarkerEnvironment({}))
    assert only(parse(".")).name is None


def test_nothing_is_written(tmp_path: Path) -> None:
    req = write(tmp_path / "req.txt", "torch\n-r sub.txt\n")
    write(tmp_path / "sub.txt", "numpy\n")
    before = sorted(p.name for p in tmp_path.iterdir())
    read_requirements(req)
    assert sorted(p.name for p in tmp_path.iterdir()) == before
