"""Test-wide set-up: the embedded PostgreSQL (unless DATABASE_URL names one) for the whole run."""

import contextlib
from collections.abc import Iterator

import pytest
from django.conf import settings

from kronvex.embedded_postgres import embedded_database
from memories.vector_cache import get_vector_cache

_database = contextlib.ExitStack()


def pytest_configure(config: pytest.Config) -> None:
    _database.enter_context(embedded_database(settings.KRONVEX_DATA_DIR))


def pytest_unconfigure(config: pytest.Config) -> None:
    _database.close()


@pytest.fixture(autouse=True)
def _fresh_vector_cache() -> Iterator[None]:
    """Each test starts with no agent's vectors held in this process."""
    get_vector_cache().clear()
    yield
    get_vector_cache().clear()
