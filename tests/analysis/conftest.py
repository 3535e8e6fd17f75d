"""Fixtures of the analysis tests: run folders written under tmp_path."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.analysis.runs import RunSpec, write_run


@pytest.fixture
def make_run(tmp_path: Path) -> Callable[..., Path]:
    """`make_run(spec=None, stem="storm")` -> PREFIX of a run written under tmp_path."""

    def make(spec: RunSpec | None = None, stem: str = "storm") -> Path:
        return write_run(tmp_path / "run", spec or RunSpec(), stem)

    return make
