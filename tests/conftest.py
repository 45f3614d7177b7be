"""Shared fixtures: ONE real local OpenSearch engine per test session, on a free port."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from mlsiem.adapter import Engine
from mlsiem.config import ConnectionSettings
from mlsiem.local_engine import LocalEngine, free_port


@pytest.fixture(scope="session")
def local_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalEngine]:
    engine = LocalEngine(port=free_port(), heap="1g", root=tmp_path_factory.mktemp("engine"))
    engine.start()
    try:
        yield engine
    finally:
        engine.stop()


@pytest.fixture(scope="session")
def engine(local_engine: LocalEngine) -> Engine:
    return Engine.connect(ConnectionSettings(url=local_engine.url))


@pytest.fixture
def namespace() -> str:
    """A namespace of its own per test, so tests never see each other's documents."""
    return "t" + uuid.uuid4().hex[:10]
