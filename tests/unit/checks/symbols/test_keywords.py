"""How a release of a harvested callable takes a keyword, read from the shipped facts (matrix/facts/signatures):
the one answer the calls check and ``check --script`` give."""

from __future__ import annotations

from typing import Any

import pytest

from envdoctor.checks.symbols.keywords import Taken, taken
from envdoctor.knowledge.wheelfacts import Facts
from envdoctor.versions import Version


def _entry(dist: str, qualname: str) -> dict[str, Any]:
    found = Facts.shipped().signature(dist, qualname)
    assert found is not None
    return found[1]


@pytest.mark.parametrize(
    ("keyword", "version", "expected"),
    [
        ("model", "4.46.3", Taken(judged=True, accepted=True)),
        ("tokenizer", "4.45.2", Taken(judged=True, accepted=True)),
        ("tokenizer", "4.46.3", Taken(judged=True, alias_of="processing_class")),  # deprecated, still works
        ("tokenizer", "5.0.0", Taken(judged=True)),  # removed: TypeError
        ("processing_class", "4.45.2", Taken(judged=True)),  # not yet added
        ("not_a_parameter", "4.46.3", Taken(judged=False)),  # no harvested release has it: not judged
    ],
)
def test_the_trainer_takes_tokenizer_as_a_parameter_then_as_an_alias_then_refuses_it(
    keyword: str, version: str, expected: Taken
) -> None:
    how = taken(_entry("transformers", "transformers.Trainer.__init__"), keyword, Version(version))
    assert how == expected
    assert how.refused == (expected.judged and not expected.accepted and expected.alias_of is None)


def test_a_keyword_added_in_a_release_is_refused_before_it() -> None:
    unwrap = _entry("accelerate", "accelerate.Accelerator.unwrap_model")
    assert taken(unwrap, "keep_torch_compile", Version("1.2.1")).refused  # the Trainer 4.52 step's TypeError
    assert not taken(unwrap, "keep_torch_compile", Version("1.3.0")).refused


def test_a_release_that_takes_var_keywords_accepts_every_keyword() -> None:
    load = _entry("datasets", "datasets.load_dataset")
    assert taken(load, "anything_at_all", Version("3.0.0")) == Taken(judged=True, accepted=True)
