from __future__ import annotations

import json
from pathlib import Path

import pytest

from envdoctor.redact import MASK, Redactor, secret_values


def test_token_like_variables_are_found() -> None:
    env = {
        "HF_TOKEN": "hf_abcdefghijklmnop",
        "WANDB_API_KEY": "0123456789abcdef",
        "MY_SERVICE_SECRET": "s3cr3t-value",
        "DB_PASSWORD": "hunter22",
        "HOME": "/root",
        "SHORT_TOKEN": "1",
    }
    assert set(secret_values(env)) == {"hf_abcdefghijklmnop", "0123456789abcdef", "s3cr3t-value", "hunter22"}


def test_values_are_masked_raw_and_json_escaped() -> None:
    r = Redactor(['tok"en\\value'])
    assert r('raw tok"en\\value here') == f"raw {MASK} here"
    dumped = json.dumps({"x": 'a tok"en\\value b'})
    assert "tok" not in r(dumped)
    json.loads(r(dumped))  # still valid JSON


def test_url_credentials_are_masked() -> None:
    r = Redactor([])
    assert r("--index-url https://user:pa55@pypi.example.com/simple") == (
        f"--index-url https://user:{MASK}@pypi.example.com/simple"
    )
    assert r("git+https://ghp_tokenvalue@github.com/o/r") == f"git+https://{MASK}@github.com/o/r"
    assert r("https://pypi.org/simple") == "https://pypi.org/simple"


def test_home_user_and_host_are_made_private_in_every_escaping() -> None:
    r = Redactor(["hf_abcdefghijklmnop"], home="/home/alice/", user="alice", host="gpu-node-7")
    text = (
        "/home/alice/venv/bin/python /home/alicex/y /scratch/alice/run on gpu-node-7.example.org, gpu-node-70 "
        r"\/home\/alice\/venv \/scratch\/alice\/z gpu\-node\-7 hf_abcdefghijklmnop"
    )
    assert r(text) == (
        "~/venv/bin/python /home/alicex/y /scratch/<user>/run on <host>.example.org, gpu-node-70 "
        r"~\/venv \/scratch\/<user>\/z <host> ****"
    )


def test_for_output_reads_this_process(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    monkeypatch.setenv("HOME", "/home/planted-home")
    monkeypatch.setenv("USER", "planted_user")
    monkeypatch.setenv("LOGNAME", "planted_user")
    r = Redactor.for_output()
    node = os.uname().nodename
    assert r(f"/home/planted-home/x /srv/planted_user/y /{node}/z") == "~/x /srv/<user>/y /<host>/z"
    assert Redactor.from_environment()("/home/planted-home/x") == "/home/planted-home/x"  # the API keeps paths


def test_a_shell_quoted_path_under_home_stays_a_command_the_shell_runs(tmp_path: Path) -> None:
    import shlex
    import subprocess

    home = tmp_path / "home dir"
    (home / "venv x").mkdir(parents=True)
    command = shlex.join(["printf", "%s\\n", str(home / "venv x"), str(home)])
    shown = Redactor([], home=str(home))(command)
    assert shown == "printf '%s\\n' ~/'venv x' ~"
    ran = subprocess.run(
        ["sh", "-c", shown], env={"HOME": str(home), "PATH": "/usr/bin:/bin"}, capture_output=True, text=True
    )
    assert ran.stdout.splitlines() == [str(home / "venv x"), str(home)]
