"""Fixtures for tests that run real processes (see processes.py)."""

from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings

from tests.system.processes import PostgresCluster, Processes


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[Processes]:
    """Start processes through this; all are stopped at the end, and none may outlive it."""
    logs = tmp_path / "logs"
    logs.mkdir()
    started = Processes(logs)
    try:
        yield started
    finally:
        forced = started.close()
    assert not forced, "processes had to be killed at teardown:\n" + "\n".join(forced)


@pytest.fixture
def postgres_cluster() -> PostgresCluster:
    """The PostgreSQL server of this test run (embedded unless DATABASE_URL names one)."""
    return PostgresCluster(settings.DATABASES["default"])
