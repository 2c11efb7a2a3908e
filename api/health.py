"""GET /healthz: database, broker and embedder status for load balancers and operators."""

from typing import Any

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET

from memories.embedding import get_embedder


def _database() -> dict[str, Any]:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'")
            row = cursor.fetchone()
    except Exception as exc:
        return {"status": "error", "error": str(exc).strip()[:300]}
    if row is None:
        return {"status": "error", "error": "the pgvector extension is not installed"}
    return {"status": "ok", "pgvector": row[0], "vendor": connection.vendor}


def _broker() -> dict[str, Any]:
    if settings.CELERY_TASK_ALWAYS_EAGER:
        return {"status": "ok", "mode": "in-process"}
    from kombu import Connection

    try:
        with Connection(settings.CELERY_BROKER_URL, connect_timeout=2) as broker:
            broker.ensure_connection(max_retries=1, timeout=2)
    except Exception as exc:
        return {"status": "error", "mode": "broker", "error": str(exc).strip()[:300]}
    return {"status": "ok", "mode": "broker"}


def _embedder() -> dict[str, Any]:
    try:
        return dict(get_embedder().health())
    except Exception as exc:
        return {"status": "error", "error": str(exc).strip()[:300]}


@require_GET
def healthz_view(request: HttpRequest) -> JsonResponse:
    checks = {"database": _database(), "broker": _broker(), "embedder": _embedder()}
    healthy = all(check["status"] == "ok" for check in checks.values())
    return JsonResponse(
        {"status": "ok" if healthy else "error", **checks}, status=200 if healthy else 503
    )
