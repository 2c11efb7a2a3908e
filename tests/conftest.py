"""Test-wide set-up: the embedded PostgreSQL (unless DATABASE_URL names one) for the whole run."""

import contextlib
import os
import socket
from collections.abc import Iterator
from typing import Any

import pytest
from django.conf import settings

from billing.usage import usage_discard
from kronvex.embedded_postgres import embedded_database
from memories.embedding import LOCAL_MODEL_NAME, reset_embedder
from memories.vector_cache import get_vector_cache

_database = contextlib.ExitStack()


def pytest_configure(config: pytest.Config) -> None:
    # Tests do not run collectstatic (`serve` does): static files come from their folders.
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    # Sign-in throttles live in the cache, by default a folder of the data folder that every
    # pytest-xdist worker shares: each worker gets its own, so that one worker's counted
    # failures (or its tests' cache.clear()) never reach another's tests.
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    cache = settings.CACHES["default"]
    if worker and cache["BACKEND"].endswith("FileBasedCache"):
        settings.CACHES = {"default": {**cache, "LOCATION": f"{cache['LOCATION']}-{worker}"}}
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


@pytest.fixture
def unreachable_embedder(settings: Any) -> Iterator[None]:
    """The configured model behind an OpenAI-compatible endpoint on a loopback port nobody
    listens on: the provider is down, so queries cannot be embedded."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings.KRONVEX_EMBEDDER = "openai"
    settings.KRONVEX_EMBEDDING_MODEL = LOCAL_MODEL_NAME
    settings.KRONVEX_EMBEDDING_BASE_URL = f"http://127.0.0.1:{port}/v1"
    settings.KRONVEX_EMBEDDING_DIMENSIONS = 384
    settings.KRONVEX_EMBEDDING_MAX_RETRIES = 0
    settings.KRONVEX_EMBEDDING_TIMEOUT = 2.0
    reset_embedder()
    yield
    reset_embedder()
