"""Fixtures for the fault proxy tests: a real stub upstream and real proxy processes."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import Service, start_service
from tests.faults.support import Proxy, start_proxy


@pytest.fixture(scope="session")
def upstream(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """The stub upstream shared by the tests of this folder."""
    service = start_service(["tests.faults.upstream_stub"], tmp_path_factory.mktemp("upstream"))
    yield service
    service.stop()


@pytest.fixture(scope="session")
def proxy(upstream: Service, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proxy]:
    """One proxy shared by the tests of this folder; each test PUTs the profile it needs."""
    started = start_proxy(upstream.url, tmp_path_factory.mktemp("proxy"), "--seed", "1")
    yield started
    started.stop()


@pytest.fixture
def fresh_proxies(upstream: Service) -> Iterator[list[Proxy]]:
    """Proxies a test starts itself; every one is stopped at the end of the test."""
    started: list[Proxy] = []
    yield started
    for one in reversed(started):
        one.stop()
