"""The text tests of the calls check answer what the regexes with a leading ``\\b``, ``^\\s*`` or ``(?<![\\w.])``
answered before they were made fast, on text written to trip them up: names inside longer words or after a
dot, classes declared after other text on the line, bases over several lines, a ``subclass`` or a dotted name
whose match runs into a real one, CR and form feed whitespace, bytes outside ASCII. ``_worth_parsing`` decides
which files are parsed; ``matches`` finds the lines whose functions are read."""

from __future__ import annotations

import itertools
import re

import pytest

from envdoctor.checks.symbols.calls import _worth_parsing
from envdoctor.checks.symbols.callsites import Targets, _not_after_word_or_dot, matches, word_start

TRANSFORMERS = Targets(
    "transformers",
    "transformers",
    {n: frozenset({"transformers"}) for n in ("Trainer", "TrainerCallback", "TrainingArguments")},
    frozenset({"Trainer", "TrainerCallback", "TrainingArguments"}),
    frozenset({"transformers.Trainer.__init__"}),
)
HUB = Targets(
    "huggingface-hub",
    "huggingface_hub",
    {"hf_hub_download": frozenset({"huggingface_hub"})},
    frozenset(),
    frozenset({"huggingface_hub.hf_hub_download"}),
    keywords={"hf_hub_download": frozenset({"token", "use_auth_token", "local_dir", "t"})},
)
NAMED: list[dict[str, Targets]] = [
    {"Trainer": TRANSFORMERS},
    {"Trainer": TRANSFORMERS, "TrainerCallback": TRANSFORMERS},
    {"TrainingArguments": TRANSFORMERS},
    {"hf_hub_download": HUB},
    {"hf_hub_download": HUB, "Trainer": TRANSFORMERS},
]

SNIPPETS = [
    b"",
    b"Trainer(",
    b"trainer = Trainer (model)\n",
    b"x = SFTTrainer(model)\n",
    b"x = transformers.Trainer(model)\n",
    b"x = _Trainer(model)\n",
    b"x = Trainer2(model)\n",
    b"cb = TrainerCallback()\n",
    b"x = \xc3\xa9Trainer(model)\n",
    b"x = \xc3\xa9 Trainer\n(model)\n",
    b"class T(Trainer):\n    pass\n",
    b"    class T(base.Trainer):\n        pass\n",
    b"x = 1; class T(Trainer): pass\n",
    b"subclass T(Trainer)\n",
    b"subclass x(\nclass Foo(Trainer):\n    pass\n",
    b"x = 1\rclass T(Trainer):\n",
    b"\rclass T(Trainer):\n",
    b"\r\n\f\tclass T(\r\n    Base,\r\n    TrainerCallback,\r\n):\r\n",
    b"class T(MyTrainer):\n",
    b"class T(Trainers, x=Trainer_):\n",
    b"class T(Base) :\n    x = (Trainer)\n",
    b'"""\nclass T(Trainer):\n"""\n',
    b"hf_hub_download(repo, token=token)\n",
    b"my_hf_hub_download(repo, token=token)\n",
    b"hf_hub_download (repo)\nx(token =1)\n",
    b"hf_hub_download(repo)\nif token == 1: pass\n",
    b"hf_hub_download(repo, mytoken=1, token_=2, use_auth_token=True)\n",
    b"hf_hub_download(repo, local_dir\n=1)\n",
    b"hf_hub_download(repo, t=1)\n",
    b"hf_hub_download(repo, at=1, t==1)\n",
    b"hf_hub_download\n",
    b"f(token=1)\n",
]


def _regex(data: bytes, named: dict[str, Targets]) -> bool:
    """The test as it was: one regex with a leading ``\\b`` or ``^\\s*``, which the search tries everywhere."""
    classes = [n for n, t in named.items() if n in t.classes]
    words = b"|".join(re.escape(n.encode()) for n in sorted(classes))
    if classes and re.search(rb"\b(?:%s)\s*\(|^\s*class\s+\w+\s*\([^)]*\b(?:%s)\b" % (words, words), data, re.M):
        return True
    for name, t in named.items():
        kws = t.keywords.get(name, frozenset())
        called = kws and re.search(rb"\b%s\s*\(" % re.escape(name.encode()), data)
        if called and re.search(rb"\b(?:%s)\s*=(?!=)" % b"|".join(re.escape(k.encode()) for k in sorted(kws)), data):
            return True
    return False


@pytest.mark.parametrize("named", NAMED, ids="+".join)
def test_the_fast_text_test_answers_what_the_regex_answered(named: dict[str, Targets]) -> None:
    texts = [*SNIPPETS, *(a + b for a, b in itertools.product(SNIPPETS, repeat=2))]
    assert [bool(_worth_parsing(t, named)) for t in texts] == [_regex(t, named) for t in texts]


def test_a_file_is_parsed_when_it_calls_or_subclasses_a_harvested_class_or_passes_a_volatile_keyword() -> None:
    trainer = {"Trainer": TRANSFORMERS}
    assert _worth_parsing(b"x = Trainer(model)\n", trainer)
    assert _worth_parsing(b"if x:\n    class T(\n        Trainer,\n    ):\n", trainer)
    assert not _worth_parsing(
        b"x = SFTTrainer(model)\nclass T(SFTTrainer): pass\nx = 1; class U(Trainer): pass\n", trainer
    )
    hub = {"hf_hub_download": HUB}
    assert _worth_parsing(b"hf_hub_download(repo,\n    token=token)\n", hub)
    assert not _worth_parsing(b"hf_hub_download(repo, mytoken=1)\nif token == t: pass\n", hub)


CALLED = [
    (rb"(?:Accelerator|accelerate\s*\.\s*\w+)\s*\(", rb"(?<![\w.])(?:Accelerator|accelerate\s*\.\s*\w+)\s*\("),
    (
        rb"(?:huggingface_hub\s*\.\s*\w+|hf_hub_download)\s*\(",
        rb"(?<![\w.])(?:huggingface_hub\s*\.\s*\w+|hf_hub_download)\s*\(",
    ),
]
CALL_SNIPPETS = [
    b"Accelerator(",
    b"a = Accelerator(x)\nb = x.Accelerator(y)\nc = _Accelerator(z)\nd = (Accelerator (w))\n",
    b"accelerate . Accelerator (x)\nmy.accelerate.Accelerator(x)\nxaccelerate.utils(\n",
    b"foo.huggingface_hub.\nhf_hub_download(x)\n",
    b"foo.huggingface_hub. hf_hub_download (x)\n",
    b"\xc3\xa9hf_hub_download(x) \xc3\xa9Accelerator(y)\n",
    b"huggingface_hub.hf_hub_download(huggingface_hub.snapshot_download(x))\n",
]


@pytest.mark.parametrize(("fast", "slow"), CALLED)
def test_the_called_lines_are_those_the_lookbehind_regex_found(fast: bytes, slow: bytes) -> None:
    for text in [*CALL_SNIPPETS, *(a + b for a, b in itertools.product(CALL_SNIPPETS, repeat=2))]:
        found = [m.span() for m in matches(fast, text, _not_after_word_or_dot)]
        assert found == [m.span() for m in re.finditer(slow, text)], text
        bounded = [m.span() for m in matches(fast, text, word_start)]
        assert bounded == [m.span() for m in re.finditer(rb"\b" + fast, text)], text
