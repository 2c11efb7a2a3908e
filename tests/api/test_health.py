"""GET /healthz reports each dependency, answers 503 when one is down, needs no key."""

import socket

import pytest

from memories.embedding import reset_embedder


@pytest.fixture
def fake_embedder(settings):
    settings.KRONVEX_EMBEDDER = "fake"
    reset_embedder()
    yield
    reset_embedder()


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.django_db
def test_healthz_reports_every_part_ok_in_the_embedded_default(client, fake_embedder):
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["database"]["status"] == "ok"
    assert body["database"]["pgvector"].startswith("0.")
    assert body["broker"] == {"status": "ok", "mode": "in-process"}
    assert body["embedder"]["status"] == "ok"
    assert body["embedder"]["model"] == "fake-hash-384"


@pytest.mark.django_db
def test_healthz_is_503_when_the_broker_is_unreachable(client, fake_embedder, settings):
    settings.CELERY_TASK_ALWAYS_EAGER = False
    settings.CELERY_BROKER_URL = f"redis://127.0.0.1:{closed_port()}/0"
    response = client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "error"
    assert body["broker"]["status"] == "error"
    assert body["broker"]["error"]
    assert body["database"]["status"] == "ok"


@pytest.mark.django_db
def test_healthz_is_503_when_the_embedder_is_misconfigured(client, settings):
    settings.KRONVEX_EMBEDDER = "nonsense"
    reset_embedder()
    response = client.get("/healthz")
    reset_embedder()
    assert response.status_code == 503
    assert response.json()["embedder"]["status"] == "error"
    assert "KRONVEX_EMBEDDER" in response.json()["embedder"]["error"]


@pytest.mark.django_db
def test_healthz_answers_only_get(client, fake_embedder):
    assert client.post("/healthz").status_code == 405
