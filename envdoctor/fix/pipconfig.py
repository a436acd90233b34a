"""The user's pip configuration, read the way pip reads it, for the options that decide where packages come from.

pip loads config files in this order, later ones winning: global (``$XDG_CONFIG_DIRS/pip/pip.conf``,
``/etc/pip.conf``), user (``~/.pip/pip.conf``, ``~/.config/pip/pip.conf``), site (``<prefix>/pip.conf`` of
the interpreter that runs pip), then the file named by ``PIP_CONFIG_FILE``; ``PIP_CONFIG_FILE=/dev/null``
turns config files off. ``PIP_*`` variables override every file. In each file, ``[install]`` overrides
``[global]``. envdoctor only reads it: to write requirement files pip can install with this very setup,
and never to print it (index URLs can carry credentials; every user goes through envdoctor.redact).
"""

from __future__ import annotations

import configparser
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

_KEYS = ("index-url", "extra-index-url", "find-links", "constraint", "no-index")


@dataclass(frozen=True)
class PipConfig:
    index_url: str | None = None
    extra_index_urls: tuple[str, ...] = ()
    find_links: tuple[str, ...] = ()
    constraints: tuple[str, ...] = ()
    no_index: bool = False
    files: tuple[str, ...] = ()

    @classmethod
    def load(cls, prefix: str | None = None, environ: Mapping[str, str] | None = None) -> PipConfig:
        env = os.environ if environ is None else environ
        values: dict[str, str] = {}
        read: list[str] = []
        for path in _config_files(prefix, env):
            parser = configparser.RawConfigParser()
            try:
                if not parser.read(path, encoding="utf-8"):
                    continue
            except (configparser.Error, UnicodeDecodeError, OSError):
                continue  # pip would stop on a broken file; envdoctor only loses this hint
            read.append(str(path))
            for section in ("global", "install"):
                if parser.has_section(section):
                    for key in _KEYS:
                        if parser.has_option(section, key):
                            values[key] = parser.get(section, key)
        for key in _KEYS:
            var = "PIP_" + key.upper().replace("-", "_")
            if var in env:
                values[key] = env[var]
        return cls(
            index_url=values.get("index-url") or None,
            extra_index_urls=tuple(values.get("extra-index-url", "").split()),
            find_links=tuple(values.get("find-links", "").split()),
            constraints=tuple(values.get("constraint", "").split()),
            no_index=values.get("no-index", "").strip().lower() in ("1", "true", "yes", "on"),
            files=tuple(read),
        )

    def local_wheel(self, filename_prefix: str) -> str | None:
        """A find-links folder on this machine that holds a wheel whose name starts with ``filename_prefix``
        (``torch-2.13.0+cpu-``), or None."""
        for link in self.find_links:
            folder = link.removeprefix("file://")
            if "://" in folder:
                continue
            try:
                names = os.listdir(folder)
            except OSError:
                continue
            if any(n.startswith(filename_prefix) and n.endswith(".whl") for n in names):
                return link
        return None


def _config_files(prefix: str | None, env: Mapping[str, str]) -> list[Path]:
    named = env.get("PIP_CONFIG_FILE")
    if named == os.devnull:
        return []
    xdg = env.get("XDG_CONFIG_DIRS", "/etc/xdg").split(os.pathsep)
    files = [Path(d) / "pip" / "pip.conf" for d in xdg if d]
    files.append(Path("/etc/pip.conf"))
    home = Path(env.get("HOME", str(Path.home())))
    files.append(home / ".pip" / "pip.conf")
    files.append(Path(env.get("XDG_CONFIG_HOME", str(home / ".config"))) / "pip" / "pip.conf")
    if prefix:
        files.append(Path(prefix) / "pip.conf")
    if named:
        files.append(Path(named))
    return files
