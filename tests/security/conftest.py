"""The hardened stack (tests/faults/stack.py), shared with the other hardening test folders."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.faults.stack import Stack, shared_stack


@pytest.fixture(scope="session")
def stack(model_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    yield from shared_stack(model_path, tmp_path_factory)
