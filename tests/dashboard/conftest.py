"""Fixtures for the dashboard's view tests: signed-in owners of two separate accounts."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from allauth.account.models import EmailAddress
from django.contrib.auth.models import User
from django.core.cache import cache
from django.test import Client

from api.models import ApiKey
from api.services import api_key_create
from billing.models import Account
from billing.services import account_create
from memories import services
from memories.models import Agent, Memory

PASSWORD = "correct horse battery staple"


@dataclass
class Owner:
    user: User
    account: Account
    client: Client
    agent: Agent
    memory: Memory
    api_key: ApiKey


def make_owner(email: str, *, remember: str) -> Owner:
    user = User.objects.create_user(username=email, email=email, password=PASSWORD)
    EmailAddress.objects.create(user=user, email=email, verified=True, primary=True)
    account = account_create(owner=user, name=email)
    agent = services.agent_create(account=account, name="Support bot", slug="support-bot")
    memory = services.remember(agent=agent, content=remember, memory_type="semantic")
    api_key, _ = api_key_create(account=account, name="production")
    client = Client()
    client.force_login(user)
    return Owner(user, account, client, agent, memory, api_key)


@pytest.fixture(autouse=True)
def _fresh_throttles() -> Iterator[None]:
    """Sign-in throttles live in the cache; each test starts with none counted."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def owner(db: None, fake_embedder: None) -> Owner:
    return make_owner("owner@example.com", remember="The user's name is Ada")


@pytest.fixture
def stranger(db: None, fake_embedder: None) -> Owner:
    """Another account, whose agent has the same id as the owner's."""
    return make_owner("stranger@example.com", remember="The stranger likes green tea")
