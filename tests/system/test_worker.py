"""Production shape: gunicorn and a Celery worker on Redis, an external PostgreSQL: the
worker embeds memories and delivers (and retries) customers' webhooks."""

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.system.chaos import fresh_database, start_web, start_worker
from tests.system.processes import (
    SHARED_MODEL_DIR,
    ApiClient,
    PostgresCluster,
    Processes,
    child_env,
    create_api_key,
    run_manage,
    wait_for_health,
)
from tests.webhooks.conftest import Receiver

pytestmark = pytest.mark.slow

EMBEDDED_WITHIN_SECONDS = 5
# The first try, the 1-second retry delay, and the second.
DELIVERED_WITHIN_SECONDS = 30


def manage_shell(code: str, *, env: dict[str, str]) -> str:
    """Run Python in `manage.py shell` against the deployment's database; its last line."""
    result = run_manage("shell", "-c", code, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout.strip().splitlines()[-1]


@pytest.fixture
def external_database_url(postgres_cluster: PostgresCluster) -> Iterator[str]:
    yield from fresh_database(postgres_cluster)


def test_remember_is_embedded_by_a_celery_worker_through_redis(
    processes: Processes, tmp_path: Path, external_database_url: str
) -> None:
    redis = processes.redis().start()
    env = child_env(
        DATABASE_URL=external_database_url,
        CELERY_BROKER_URL=redis.url,
        KRONVEX_EMBEDDER="local",
        KRONVEX_MODEL_DIR=str(SHARED_MODEL_DIR),
        KRONVEX_DATA_DIR=str(tmp_path / "data"),
        KRONVEX_WEBHOOK_ALLOW_PRIVATE="true",
        KRONVEX_WEBHOOK_RETRY_DELAYS="1",
    )
    migrated = run_manage("migrate", "--no-input", env=env)
    assert migrated.returncode == 0, migrated.stdout + migrated.stderr
    key = create_api_key(email="ops@example.com", agent="prod-agent", env=env)
    # A customer's webhook receiver that fails its first delivery: the worker retries it.
    receiver = Receiver().start()
    receiver.statuses = [500]
    receiver.secret = manage_shell(
        "from billing.services import account_get_or_create_for_email\n"
        "from webhooks.services import webhook_endpoint_create\n"
        "account = account_get_or_create_for_email(email='ops@example.com')[0]\n"
        f"print(webhook_endpoint_create(account=account, url='{receiver.url}', "
        "events=['memory.stored']).secret)",
        env=env,
    )

    web, url = start_web(processes, env)
    health = wait_for_health(web, url, timeout=30)
    assert health["broker"] == {"status": "ok", "mode": "broker"}
    assert health["database"]["status"] == "ok"
    assert health["embedder"]["backend"] == "local"
    worker = start_worker(processes, env)

    api = ApiClient(url, key)
    memory = api.post(
        "agents/prod-agent/remember",
        {"content": "The billing cron runs every night at 02:00 UTC", "session_id": "ops"},
    )
    assert memory["status"] in {"pending", "ready"}, memory

    # Before waiting: a pending memory is found by its words, a ready one by its vector.
    recalled = api.post("agents/prod-agent/recall", {"query": "when does the billing cron run?"})
    assert memory["id"] in [item["id"] for item in recalled["memories"]], recalled

    deadline = time.monotonic() + EMBEDDED_WITHIN_SECONDS
    stored = api.get(f"agents/prod-agent/memories/{memory['id']}")
    while stored["status"] != "ready" and time.monotonic() < deadline:
        time.sleep(0.1)
        stored = api.get(f"agents/prod-agent/memories/{memory['id']}")
    assert stored["status"] == "ready", (stored, worker.output())
    assert stored["embedding_model"] == "all-MiniLM-L6-v2"
    assert stored["embedding_error"] is None
    assert "memories.tasks.embed_memories" in worker.output(last_lines=10_000)

    # memory.stored, refused once with a 500, then sent again by the worker and signed.
    deadline = time.monotonic() + DELIVERED_WITHIN_SECONDS
    while len(receiver.received) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    receiver.stop()
    assert receiver.events() == ["memory.stored", "memory.stored"], worker.output()
    assert all(request.signed for request in receiver.received)
    assert len({request.headers["Kronvex-Delivery"] for request in receiver.received}) == 1
    assert memory["id"] in receiver.received[1].body.decode()
    assert "webhooks.tasks.deliver_webhook" in worker.output(last_lines=10_000)
    deliveries = manage_shell(
        "from webhooks.models import WebhookDelivery\n"
        "print(list(WebhookDelivery.objects.values_list('status', 'attempts', "
        "'last_status_code')))",
        env=env,
    )
    assert deliveries == "[('succeeded', 2, 200)]"

    assert worker.stop() == 0, worker.describe()
    assert web.stop() == 0, web.describe()
