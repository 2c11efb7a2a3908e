"""Test-wide set-up: the embedded PostgreSQL (unless DATABASE_URL names one) for the whole run."""

import contextlib

import pytest
from django.conf import settings

from kronvex.embedded_postgres import embedded_database

_database = contextlib.ExitStack()


def pytest_configure(config: pytest.Config) -> None:
    _database.enter_context(embedded_database(settings.KRONVEX_DATA_DIR))


def pytest_unconfigure(config: pytest.Config) -> None:
    _database.close()
