"""Fixtures of the discovery tests: the real upstream simulator behind the real fault proxy."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import start_service
from tests.discovery.discovery_faulty import Faulty
from tests.faults.support import start_proxy


def _faulty(factory: pytest.TempPathFactory, generation_s: str) -> Iterator[Faulty]:
    folder = factory.mktemp("faulty")
    upstream = start_service(
        ["discovery", "upstream", "--seed", "1", "--generation-s", generation_s], folder
    )
    try:
        proxy = start_proxy(upstream.url, folder, "--seed", "1")
    except BaseException:
        upstream.stop()
        raise
    try:
        yield Faulty(upstream, proxy)
    finally:
        proxy.stop()
        upstream.stop()


@pytest.fixture(scope="session")
def faulty_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Faulty]:
    """An upstream whose generation stays put for the session, behind a proxy."""
    yield from _faulty(tmp_path_factory, "3600")


@pytest.fixture(scope="session")
def ticking_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Faulty]:
    """An upstream with a new generation every second, behind a proxy."""
    yield from _faulty(tmp_path_factory, "1")


@pytest.fixture
def faulty(faulty_stack: Faulty) -> Iterator[Faulty]:
    """The steady stack, with no faults again after the test."""
    yield faulty_stack
    faulty_stack.honest()


@pytest.fixture
def ticking(ticking_stack: Faulty) -> Iterator[Faulty]:
    """The ticking stack, with no faults again after the test."""
    yield ticking_stack
    ticking_stack.honest()
