from __future__ import annotations

import json

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
