from collections.abc import Iterator

import pytest

from billing.models import Account
from billing.services import account_get_or_create_for_email
from memories.embedding import reset_embedder


@pytest.fixture
def fake_embedder(settings: pytest.FixtureRequest) -> Iterator[None]:
    """Meaning-free vectors, for tests about mechanics rather than meaning."""
    settings.KRONVEX_EMBEDDER = "fake"
    reset_embedder()
    yield
    reset_embedder()


@pytest.fixture
def account(db: None) -> Account:
    return account_get_or_create_for_email(email="owner@example.com")[0]
