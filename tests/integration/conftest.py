from __future__ import annotations

import pytest

from tests import beds


@pytest.fixture(scope="session")
def hf_stack() -> beds.Bed:
    return beds.build("hf-stack")


@pytest.fixture(scope="session")
def conflict_bed() -> beds.Bed:
    return beds.build("conflict")


@pytest.fixture(scope="session")
def small_clean() -> beds.Bed:
    return beds.build("small-clean")


@pytest.fixture(scope="session")
def peft_old_accelerate() -> beds.Bed:
    return beds.build("peft-old-accelerate")


@pytest.fixture(scope="session")
def peft_new_accelerate() -> beds.Bed:
    return beds.build("peft-new-accelerate")


@pytest.fixture(scope="session")
def symbol_break_2() -> beds.Bed:
    return beds.build("symbol-break-2")


@pytest.fixture(scope="session")
def hf_stack_2024() -> beds.Bed:
    return beds.build("hf-stack-2024")
