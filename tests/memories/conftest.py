import pytest

from billing.models import Account
from billing.services import account_get_or_create_for_email


@pytest.fixture
def account(db: None) -> Account:
    return account_get_or_create_for_email(email="owner@example.com")[0]
