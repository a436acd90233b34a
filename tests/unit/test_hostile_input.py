"""Hostile environments, input (issue 11, items 10, 11 and 12): limits that are not numbers, probe results
nested too deep or of the wrong shape, a requirements file that is a pipe, interpreters that are not there
or fail noisily, unreadable metadata, a home that is empty, a cache that only grows, secrets in URLs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from envdoctor.errors import UsageError
from tests.fakes import Fake, make_site, make_wheel, scan, write_dist
from tests.hostile import BOUND, envdoctor, environment, one_line_error, snapshot

NO_INDEX = {"PIP_CONFIG_FILE": os.devnull, "PIP_NO_INDEX": "1", "PIP_FIND_LINKS": ""}


def fake_python(folder: Path, body: str) -> Path:
    """An executable named python that is not Python: a shell script (envdoctor runs it as
    ``python -B _launch.py PROBE REQUEST RESULT``: the result path is $5)."""
    folder.mkdir(parents=True, exist_ok=True)
    python = folder / "python"
    python.write_text("#!/bin/sh\n" + body)
    python.chmod(0o755)
    return python


def result_writer(folder: Path, payload: str) -> Path:
    data = folder.parent / "result.json"
    data.write_text(payload)
    return fake_python(folder, f'cp "{data}" "$5"\n')


@pytest.mark.parametrize("value", ["inf", "nan", "0", "-1", "1e300"])
def test_a_timeout_that_is_not_a_usable_limit_is_a_usage_error(value: str, fake_venv: tuple[Path, Path]) -> None:
    python, _site = fake_venv
    res = envdoctor("check", "--python", str(python), "--timeout", value)
    assert res.returncode == 2
    assert "--timeout must be a number of seconds above 0" in one_line_error(res.stderr)


def test_api_check_with_timeout_0_says_so() -> None:
    from envdoctor import check

    with pytest.raises(UsageError, match=r"^timeout must be a number of seconds above 0 .*not 0$"):
        check(timeout=0)


def test_a_result_nested_too_deeply_is_one_line_exit_2(tmp_path: Path) -> None:
    python = result_writer(tmp_path / "bin", "[" * 200_000 + "]" * 200_000)
    res = envdoctor("check", "--python", str(python))
    assert res.returncode == 2
    assert "nested too deeply" in one_line_error(res.stderr)


@pytest.mark.parametrize(
    "payload",
    [
        {"schema": "envdoctor.inventory/1", "python": 5, "markers": {}, "distributions": []},
        {
            "schema": "envdoctor.inventory/1",
            "python": {"executable": "x", "version": "3"},
            "markers": [],
            "distributions": 7,
        },
        {
            "schema": "envdoctor.inventory/1",
            "python": {"executable": "x", "version": "3"},
            "markers": {},
            "distributions": ["not a dict"],
        },
        {"schema": "something else"},
    ],
)
def test_a_result_of_the_wrong_shape_could_not_be_checked(tmp_path: Path, payload: object) -> None:
    python = result_writer(tmp_path / "bin", json.dumps(payload))
    res = envdoctor("check", "--python", str(python))
    assert res.returncode == 2
    assert "could not check" in one_line_error(res.stderr)


def test_a_requirements_file_that_is_a_pipe_is_read_once(fake_venv: tuple[Path, Path], tmp_path: Path) -> None:
    python, site = fake_venv
    write_dist(site, "idna", Fake("3.4"))
    read, write = os.pipe()
    os.write(write, b"idna==3.4\n")
    os.close(write)
    try:
        res = subprocess.run(
            [sys.executable, "-m", "envdoctor", "check", "--python", str(python), "--format", "json",
             "-r", f"/dev/fd/{read}"],
            capture_output=True, text=True, env=environment(NO_INDEX), timeout=BOUND, check=False, pass_fds=(read,),
        )  # fmt: skip
    finally:
        os.close(read)
    assert res.returncode == 0, res.stderr
    findings = {f["id"]: f for f in json.loads(res.stdout)["findings"]}
    assert "install-unresolvable" not in findings
    assert findings["what-if"]["title"] == f"after `pip install -r /dev/fd/{read}`: nothing changes"


def _wheel(folder: Path) -> Path:
    """A real, installable wheel of a tiny project ``demo`` 1.0."""
    return make_wheel(folder, "demo", "1.0", {"demo/__init__.py": ""})


def test_a_hash_mismatch_is_not_called_a_resolver_conflict(fake_venv: tuple[Path, Path], tmp_path: Path) -> None:
    python, site = fake_venv
    wheels = _wheel(tmp_path / "wheels").parent
    reqs = tmp_path / "requirements.txt"
    reqs.write_text("demo==1.0 --hash=sha256:" + "0" * 64 + "\n")
    before = snapshot(site)
    res = envdoctor(
        "check", "--python", str(python), "--format", "json", "-r", str(reqs),
        env={**NO_INDEX, "PIP_FIND_LINKS": str(wheels)},
    )  # fmt: skip
    assert res.returncode == 1, res.stderr
    [refused] = [f for f in json.loads(res.stdout)["findings"] if f["id"] == "install-unresolvable"]
    assert "hash does not match" in refused["title"]
    assert (
        "found no set" not in refused["detail"]
        and refused["detail"] == "pip refused the install; nothing was installed."
    )
    assert snapshot(site) == before


def test_an_empty_python_is_a_usage_error(tmp_path: Path) -> None:
    res = envdoctor("check", "--python", "")
    assert res.returncode == 2
    assert "--python is empty" in one_line_error(res.stderr)


def test_a_name_not_on_path_says_so(tmp_path: Path) -> None:
    res = envdoctor("check", "--python", "python3.99-nowhere", cwd=tmp_path)
    assert res.returncode == 2
    assert "--python python3.99-nowhere: not found on PATH" in one_line_error(res.stderr)


PYENV = """\
pyenv: python3.9: command not found

The `python3.9' command exists in these Python versions:
  3.9.18

Note: See 'pyenv help global' for tips on allowing both
      python2 and python3 to be found.
"""


def test_a_failing_pyenv_shim_shows_its_whole_message(tmp_path: Path) -> None:
    shim = fake_python(tmp_path / "shims", f"cat >&2 <<'EOF'\n{PYENV}EOF\nexit 127\n")
    res = envdoctor("check", "--python", str(shim))
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert res.stderr.startswith("envdoctor: error: ")
    assert "exited with status 127" in res.stderr
    for line in ("pyenv: python3.9: command not found", "3.9.18", "python2 and python3 to be found."):
        assert line in res.stderr


def test_an_unreadable_dist_info_is_reported_as_unreadable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from envdoctor.checks.metadata import check_metadata

    site = make_site(tmp_path / "site", {"locked": Fake("2.0", ["x"]), "fine": Fake("1.0")})
    [locked] = site.glob("locked-*.dist-info")
    real_listdir = os.listdir

    def listdir(path: str | os.PathLike[str] = ".") -> list[str]:  # what a chmod 000 folder does to a non-root user
        if os.fspath(path) == str(locked):
            raise PermissionError(13, "Permission denied", str(path))
        return real_listdir(path)

    monkeypatch.setattr(os, "listdir", listdir)
    findings = check_metadata(scan(site))
    [about] = [f for f in findings if "locked" in f.packages]
    assert about.title == "locked's metadata folder cannot be read"
    assert "Permission denied" in about.detail
    assert not [f for f in findings if f.id == "metadata-missing" or "fine" in f.packages]


def test_an_empty_home_does_not_put_the_cache_in_the_root_folder(monkeypatch: pytest.MonkeyPatch) -> None:
    import pwd

    from envdoctor.cache import default_dir

    for name in ("ENVDOCTOR_CACHE_DIR", "XDG_CACHE_HOME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", "")
    home = pwd.getpwuid(os.getuid()).pw_dir
    assert default_dir() == Path(home) / ".cache" / "envdoctor"
    monkeypatch.setenv("HOME", "relative/path")
    assert default_dir() == Path(home) / ".cache" / "envdoctor"


def test_the_cache_is_bounded_least_recently_used_first(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from envdoctor.cache import Cache

    monkeypatch.setenv("ENVDOCTOR_CACHE_MAX_MB", "1")
    cache = Cache(tmp_path)
    assert cache.directory is not None
    folder = cache.directory
    blob = "x" * 200_000
    for i in range(8):  # 1.6 MB, one environment change after another
        cache.put(f"entry-{i}", {"data": blob})
        os.utime(folder / f"entry-{i}.json", (1_000_000 + i, 1_000_000 + i))
    assert cache.get("entry-0") is not None  # read just now: the most recently used
    cache.trim()
    left = sorted(p.name for p in (folder).iterdir())
    assert sum(p.stat().st_size for p in (folder).iterdir()) <= 1024 * 1024
    assert "entry-0.json" in left and "entry-7.json" in left and "entry-1.json" not in left


@pytest.mark.parametrize(
    "url",
    [
        "https://bucket.s3.amazonaws.com/w/x.whl?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAEXAMPLE"
        "&X-Amz-Signature=deadbeefcafe",
        "https://pypi.example/simple/?token=s3cr3t-t0ken",
        "https://h.example/x.whl?sig=abcdEFGH&se=2030",
    ],
)
def test_secrets_in_url_queries_are_masked(url: str) -> None:
    from envdoctor.redact import Redactor

    shown = Redactor([])(f"could not fetch {url}")
    for secret in ("AKIAEXAMPLE", "deadbeefcafe", "s3cr3t-t0ken", "abcdEFGH"):
        assert secret not in shown
    assert "****" in shown and shown.startswith("could not fetch https://")


def test_pin_keep_as_one_string_is_one_name(fake_venv: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    from envdoctor import pinning

    python, site = fake_venv
    write_dist(site, "idna", Fake("3.4"))
    seen: dict[str, object] = {}
    plan = pinning.Planner.plan

    def spy(self: pinning.Planner, **kw: object) -> object:
        seen.update(kw)
        return plan(self, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(pinning.Planner, "plan", spy)
    pinning.pin(python=python, keep="idna", verify=False)
    assert list(seen["keep"]) == ["idna"]  # type: ignore[call-overload]


def test_a_symlinked_alias_of_site_packages_is_one_copy_not_two(fake_venv: tuple[Path, Path], tmp_path: Path) -> None:
    """A second sys.path entry that is a symlink to site-packages (a .pth naming it) holds the same files: no
    distribution is reported twice, and a real problem beside it is still reported once."""
    python, site = fake_venv
    write_dist(site, "a", Fake("1.0", ["b>=2"]))
    write_dist(site, "b", Fake("1.0"))
    alias = tmp_path / "alias"
    alias.symlink_to(site, target_is_directory=True)
    (site / "alias.pth").write_text(f"{alias}\n")
    shown = subprocess.run([str(python), "-c", "import sys; print(sys.path)"], capture_output=True, text=True)
    assert str(alias) in shown.stdout  # the alias really is on the target's sys.path
    res = envdoctor("check", "--python", str(python), "--format", "json")
    findings = json.loads(res.stdout)["findings"]
    assert not [f for f in findings if f["id"] == "distribution-duplicate"], findings
    assert [f["id"] for f in findings if f["severity"] == "error"] == ["requirement-conflict"]
