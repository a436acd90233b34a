"""The user's pip configuration, read the way pip reads it (envdoctor.fix.pipconfig)."""

from __future__ import annotations

from pathlib import Path

from envdoctor.fix.pipconfig import PipConfig


def test_pip_configuration_is_read_like_pip_reads_it(tmp_path: Path) -> None:
    (tmp_path / "etc" / "pip").mkdir(parents=True)
    (tmp_path / "etc" / "pip" / "pip.conf").write_text(
        "[global]\nindex-url = https://global.example/simple\nfind-links = /a /b\n"
        "[install]\nextra-index-url = https://one.example/simple\n  https://two.example/simple\n"
    )
    env = {"XDG_CONFIG_DIRS": str(tmp_path / "etc"), "HOME": str(tmp_path / "home")}
    conf = PipConfig.load(None, env)
    assert conf.index_url == "https://global.example/simple"
    assert conf.extra_index_urls == ("https://one.example/simple", "https://two.example/simple")
    assert conf.find_links == ("/a", "/b")
    over = PipConfig.load(None, {**env, "PIP_INDEX_URL": "https://env.example/simple"})
    assert over.index_url == "https://env.example/simple"
    assert PipConfig.load(None, {**env, "PIP_CONFIG_FILE": "/dev/null"}).index_url is None
