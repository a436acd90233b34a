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


@pytest.fixture(scope="session")
def torchvision_cuda_on_cpu() -> beds.Bed:
    return beds.build("torchvision-cuda-on-cpu")


@pytest.fixture(scope="session")
def numpy2_abi_break() -> beds.Bed:
    return beds.build("numpy2-abi-break")


@pytest.fixture(scope="session")
def numpy2_abi_ok() -> beds.Bed:
    return beds.build("numpy2-abi-ok")
