"""Management commands an operator runs: `createapikey`, and the pgvector start-up check."""

import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from io import StringIO
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.test import Client

from api.models import ApiKey
from billing.models import Account
from memories.models import Agent
from tests.system.processes import PostgresCluster, child_env, run_manage

pytestmark = pytest.mark.slow


def createapikey(*args: str) -> tuple[list[str], str]:
    """Run the command in-process: (stdout lines, stderr)."""
    stdout, stderr = StringIO(), StringIO()
    call_command("createapikey", *args, stdout=stdout, stderr=stderr)
    return stdout.getvalue().splitlines(), stderr.getvalue()


@pytest.mark.django_db
def test_createapikey_creates_account_agent_and_key_then_reuses_the_account(
    client: Client,
) -> None:
    lines, stderr = createapikey("--email", "owner@example.com", "--agent", "my-agent")

    key = lines[-1]
    assert key.startswith("kv-") and " " not in key, lines
    assert "Created account owner@example.com" in stderr
    assert "Created agent my-agent" in stderr
    account = Account.objects.get()
    assert account.memberships.get().user.email == "owner@example.com"
    assert list(Agent.objects.values_list("account", "slug")) == [(account.pk, "my-agent")]
    assert ApiKey.objects.get().account == account

    again, stderr = createapikey("--email", "owner@example.com", "--agent", "my-agent")
    assert again[-1].startswith("kv-") and again[-1] != key
    assert "Using account owner@example.com" in stderr
    assert "Using agent my-agent" in stderr
    assert Account.objects.count() == 1
    assert Agent.objects.count() == 1
    assert ApiKey.objects.filter(account=account).count() == 2

    for raw_key in (key, again[-1]):
        response = client.get("/api/v1/agents", headers={"authorization": f"Bearer {raw_key}"})
        assert response.status_code == 200, response.content
        assert [agent["id"] for agent in response.json()["agents"]] == ["my-agent"]


@pytest.mark.django_db
def test_createapikey_rejects_an_invalid_email_and_creates_nothing() -> None:
    with pytest.raises(CommandError, match="'not-an-email' is not a valid email address"):
        createapikey("--email", "not-an-email", "--agent", "my-agent")
    assert not get_user_model().objects.exists()
    assert not Account.objects.exists()
    assert not ApiKey.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("agent_id", ["has spaces", "-leading-dash", "x" * 101])
def test_createapikey_rejects_an_invalid_agent_id_and_creates_nothing(agent_id: str) -> None:
    with pytest.raises(CommandError, match="Agent ids are 1-100 characters"):
        createapikey("--email", "owner@example.com", f"--agent={agent_id}")
    assert not get_user_model().objects.exists()
    assert not Account.objects.exists()
    assert not Agent.objects.exists()
    assert not ApiKey.objects.exists()


@dataclass(frozen=True)
class PlainDatabase:
    name: str
    role: str
    url: str


@pytest.fixture
def database_without_pgvector(postgres_cluster: PostgresCluster) -> Iterator[PlainDatabase]:
    """A fresh database without the vector extension, owned by a role that is no superuser."""
    suffix = secrets.token_hex(4)
    name, role, password = (
        f"kronvex_plain_{suffix}",
        f"kronvex_owner_{suffix}",
        secrets.token_hex(8),
    )
    postgres_cluster.execute(
        f"CREATE ROLE \"{role}\" LOGIN NOSUPERUSER PASSWORD '{password}'",
        f'CREATE DATABASE "{name}" OWNER "{role}" TEMPLATE template0',
    )
    try:
        yield PlainDatabase(name, role, postgres_cluster.url(name, user=role, password=password))
    finally:
        postgres_cluster.execute(
            f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', f'DROP ROLE IF EXISTS "{role}"'
        )


def test_migrate_refuses_a_database_without_pgvector_and_says_what_to_run(
    database_without_pgvector: PlainDatabase, postgres_cluster: PostgresCluster, tmp_path: Path
) -> None:
    database = database_without_pgvector
    env = child_env(DATABASE_URL=database.url, KRONVEX_DATA_DIR=str(tmp_path / "data"))

    result = run_manage("migrate", "--no-input", env=env)

    assert result.returncode == 1, result.stdout + result.stderr
    assert "(kronvex.E003)" in result.stderr, result.stderr
    assert (
        f"pgvector is available but not enabled in database {database.name!r}, "
        f"and user {database.role!r} is not allowed to enable it." in result.stderr
    )
    hint = next(line for line in result.stderr.splitlines() if "HINT:" in line)
    assert "CREATE EXTENSION vector;" in hint and database.name in hint, hint
    # The check ran before anything else: the database is as it was.
    with postgres_cluster.connect(database.name) as conn:
        extensions = conn.execute("SELECT extname FROM pg_extension").fetchall()
        tables = conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")
        assert ("vector",) not in extensions
        assert tables.fetchone() == (0,)
