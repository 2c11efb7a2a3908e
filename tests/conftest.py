"""Test-wide set-up: the embedded PostgreSQL (unless DATABASE_URL names one) for the whole run."""

import contextlib
from collections.abc import Iterator

import pytest
from django.conf import settings

from billing.usage import usage_discard
from kronvex.embedded_postgres import embedded_database
from memories.embedding import reset_embedder
from memories.vector_cache import get_vector_cache

_database = contextlib.ExitStack()


def pytest_configure(config: pytest.Config) -> None:
    # Tests do not run collectstatic (`serve` does): static files come from their folders.
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    _database.enter_context(embedded_database(settings.KRONVEX_DATA_DIR))


def pytest_unconfigure(config: pytest.Config) -> None:
    _database.close()


@pytest.fixture(autouse=True)
def _empty_usage_meter() -> Iterator[None]:
    """Each test starts and ends with no usage counts pending in this process."""
    usage_discard()
    yield
    usage_discard()


@pytest.fixture(autouse=True)
def _fresh_vector_cache() -> Iterator[None]:
    """Each test starts with no agent's vectors held in this process."""
    get_vector_cache().clear()
    yield
    get_vector_cache().clear()


@pytest.fixture
def fake_embedder(settings: pytest.FixtureRequest) -> Iterator[None]:
    """Meaning-free vectors, for tests about mechanics rather than meaning."""
    settings.KRONVEX_EMBEDDER = "fake"
    reset_embedder()
    yield
    reset_embedder()
