"""Which distribution provides a top-level module that is not installed: the name to install.

Never guessed. Known from the harvested facts (a watched package whose harvested wheels ship the module)
or from the curated table below, each row read from a real wheel (its file name, sha256, and the
top-level folder it ships). A module in neither is unknown, and a finding says so.
"""

from __future__ import annotations

from dataclasses import dataclass

from envdoctor.knowledge.wheelfacts import Facts
from envdoctor.versions import canonical


@dataclass(frozen=True)
class Provider:
    module: str
    distribution: str  # as PyPI spells it
    evidence: str


# module -> (distribution, wheel, sha256): `unzip -Z1 WHEEL` lists MODULE/ (or MODULE.py) at the top.
# The modules whose import name differs from the distribution's, and those users meet undeclared.
TABLE: dict[str, tuple[str, str, str]] = {
    "attr": (
        "attrs",
        "attrs-26.1.0-py3-none-any.whl",
        "c647aa4a12dfbad9333ca4e71fe62ddc36f4e63b2d260a37a8b83d2f043ac309",
    ),
    "bs4": (
        "beautifulsoup4",
        "beautifulsoup4-4.15.0-py3-none-any.whl",
        "d6f88de62e1d4e38ecb1077eb9724cd0eff29d2a08ca16a401e9b9e93f117cf9",
    ),
    "Crypto": (
        "pycryptodome",
        "pycryptodome-4.4.0-cp39-abi3-manylinux2014_x86_64.manylinux_2_17_x86_64.whl",
        "32c1a3d98c93d92c2f2a45d6cc9c79fb8d7552aca1bd9a764209a3309bf6a7b1",
    ),
    "dateutil": (
        "python-dateutil",
        "python_dateutil-4.0.0-py3-none-any.whl",
        "a5e246f79eb80475e691bf93862cead98decd8a498cf53ba0516fcdc0f50dc1c",
    ),
    "dotenv": (
        "python-dotenv",
        "python_dotenv-1.2.4-py3-none-any.whl",
        "42269a8a5b3fd54ffa6f3d84b18abed50064717576b4ecf03dc4a55d8aa04fdc",
    ),
    "git": (
        "GitPython",
        "gitpython-3.2.1-py3-none-any.whl",
        "d66b0832aa8755c1a84892937282df0befb16c97e5a64aeebd68be9c5e323f53",
    ),
    "jwt": (
        "PyJWT",
        "pyjwt-2.15.1-py3-none-any.whl",
        "42d59d631f7768a1028a64c7ff581a9bf7519804daf91fc5b6c56e30eec5e193",
    ),
    "PIL": (
        "pillow",
        "pillow-13.0.0-cp311-cp311-manylinux_2_27_x86_64.manylinux_2_28_x86_64.whl",
        "a625df9a2a5597fa5e5266e01aefc82604bb85d291e3547981e863560d75da6c",
    ),
    "rich": (
        "rich",
        "rich-15.0.0-py3-none-any.whl",
        "33bd4ef74232fb73fe9279a257718407f169c09b78a87ad3d296f548e27de0bb",
    ),
    "sklearn": (
        "scikit-learn",
        "scikit_learn-1.9.1-cp311-cp311-manylinux_2_27_x86_64.manylinux_2_28_x86_64.whl",
        "52a0703bbc07ad27f560fa63fa68e4c54dd735bfbbf65b4dd3c225dc7547b6df",
    ),
    "typeguard": (
        "typeguard",
        "typeguard-4.6.1-py3-none-any.whl",
        "aca1f365124873d5325b18aad1a3689d62f7184abe32d899413562cf51729d02",
    ),
    "tyro": (
        "tyro",
        "tyro-1.0.17-py3-none-any.whl",
        "89bbe5b4907965cac4077d2a1c3eaa3648afe177e214c57e490906d0ffef84c1",
    ),
    "yaml": (
        "PyYAML",
        "pyyaml-6.0.4-cp311-cp311-manylinux2014_x86_64.manylinux_2_17_x86_64.manylinux_2_28_x86_64.whl",
        "622aa875fa6533f25fedcffe23079357d65a690d462200afed5d8e9d0e01ebee",
    ),
    "zmq": (
        "pyzmq",
        "pyzmq-27.3.0-cp311-cp311-manylinux_2_26_x86_64.manylinux_2_28_x86_64.whl",
        "477b8ad30d66fc905c5388351e83b9ac25824b00e82c0d052b72ea6392636dfd",
    ),
}


def provider(module: str, facts: Facts) -> Provider | None:
    """The distribution that provides top-level ``module``, from the table or the facts; None when unknown."""
    row = TABLE.get(module)
    if row is not None:
        dist, wheel, sha256 = row
        return Provider(module, dist, f"{wheel} (sha256 {sha256[:16]}...) ships the top-level module {module}")
    name = canonical(module)
    if facts.ships(name, module):
        return Provider(module, name, f"{facts.path('symbols', name)}: the harvested wheels of {name} ship {module}")
    return None
