"""Redaction acceptance on a real venv: HF_TOKEN, WANDB_API_KEY, a password in PIP_INDEX_URL, the home
directory, the user name and the host name are planted where they flow into the output (the venv lives at
$HOME/srv/USER/HOST/run-WANDB_KEY/venv, a symlink to peft-old-accelerate; the accelerate config holds the
token), and no format of check, report, pin or why shows any of them. `report --no-redact` shows the paths
(so the plants do reach the output) and still masks the secrets."""

from __future__ import annotations

import html
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests import beds

pytestmark = pytest.mark.venv

TOKEN = "hf_PlantedTokenValue0123456789"
WANDB = "wandbplanted0123456789abcdef"
PASSWORD = "planted-pass-8642"
USER = "planted_user"
HOST = os.uname().nodename
COMMANDS = [
    *(("check", "--format", f) for f in ("terminal", "text", "json", "junit", "github", "sarif", "markdown")),
    *(("report", "--format", f) for f in ("markdown", "json")),
    *(("pin", "--no-verify", "--format", f) for f in ("requirements", "constraints", "pip", "json")),
    *(("why", "accelerate", "--format", f) for f in ("text", "json")),
]


@pytest.fixture(scope="module")
def planted(peft_old_accelerate: beds.Bed, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    home = tmp_path_factory.mktemp("home-planted")
    run = home / "srv" / USER / HOST / f"run-{WANDB}"
    run.mkdir(parents=True)
    (run / "venv").symlink_to(peft_old_accelerate.root)
    hf_home = home / "srv" / USER / HOST / "hf"
    (hf_home / "accelerate").mkdir(parents=True)
    (hf_home / "accelerate" / "default_config.yaml").write_text(f"mixed_precision: bf16\nhub_token: {TOKEN}\n")
    env = {
        "HOME": str(home),
        "USER": USER,
        "LOGNAME": USER,
        "HF_TOKEN": TOKEN,
        "WANDB_API_KEY": WANDB,
        "PIP_INDEX_URL": f"https://builder:{PASSWORD}@pypi.internal.example/simple",
        "HF_HOME": str(hf_home),
        "ENVDOCTOR_CACHE_DIR": str(tmp_path_factory.mktemp("cache")),
        "COLUMNS": "100",
    }
    return run / "venv" / "bin" / "python", env


def run(args: tuple[str, ...], python: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "envdoctor", args[0], "--python", str(python), *args[1:]],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, **env},
        cwd=env["HOME"],
    )


def leaks(text: str, home: str) -> list[str]:
    """Every planted value found in ``text``, raw or escaped the way a format escapes it."""
    values = [TOKEN, WANDB, PASSWORD, home, USER, f"/{HOST}/"]
    forms = {
        v: {v, v.replace("/", "\\/"), v.replace("_", "\\_").replace("-", "\\-").replace("/", "\\/")} for v in values
    }
    return [v for v, fs in forms.items() if any(f in text for f in fs)]


@pytest.mark.parametrize("args", COMMANDS, ids=lambda a: "-".join(x.strip("-") for x in a if x != "--format"))
def test_no_planted_secret_or_private_name_reaches_any_output(
    args: tuple[str, ...], planted: tuple[Path, dict[str, str]]
) -> None:
    python, env = planted
    proc = run(args, python, env)
    assert proc.returncode in (0, 1), proc.stderr  # check and pin: 1, the bed is broken
    assert proc.stdout.strip()
    assert leaks(proc.stdout + proc.stderr, env["HOME"]) == []
    shown = html.unescape(proc.stdout).replace("\\", "")  # XML entities, Markdown's backslash escapes
    assert all(mark in shown for mark in ("~/srv/", "<user>", "<host>", "run-****")) or args[0] == "pin"


def test_no_redact_shows_the_paths_and_still_masks_secrets(planted: tuple[Path, dict[str, str]]) -> None:
    python, env = planted
    proc = run(("report", "--format", "json", "--no-redact"), python, env)
    assert proc.returncode == 0, proc.stderr
    assert "--no-redact: the bundle shows paths, the user name and the host name" in proc.stderr
    assert sorted(leaks(proc.stdout, env["HOME"])) == sorted([env["HOME"], USER, f"/{HOST}/"])
    assert "https://builder:****@pypi.internal.example/simple" in proc.stdout
    assert "hub_token: ****" in proc.stdout
