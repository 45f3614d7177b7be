"""Shared fixtures: ONE real local OpenSearch engine per test session, on a free port.

Every test that needs an engine carries the `engine` marker, so `pytest -m "not engine"` (`make test-fast`)
runs the rest without starting one: tests that use the `engine` or `local_engine` fixture (directly or
through other fixtures) are marked here; tests that start engines of their own are marked in their module.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from mlsiem.adapter import Engine
from mlsiem.config import ConnectionSettings
from mlsiem.local_engine import LocalEngine, free_port

# The checkout keeps its state in a project-local folder (as `make demo` does), not in the user's; set
# before any test runs, so commands run in subprocesses inherit it. An explicit MLSIEM_HOME wins.
os.environ.setdefault("MLSIEM_HOME", str(Path(__file__).resolve().parent.parent / ".mlsiem"))

ENGINE_FIXTURES = frozenset({"engine", "local_engine"})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test whose fixture closure reaches the session's engine."""
    for item in items:
        if ENGINE_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.engine)


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
