"""JSON shapes of the API's objects, built once here for every view."""

import uuid
from datetime import datetime
from typing import Any

from memories.models import Agent, Memory, MemoryBatch
from memories.ranking import RankingWeights
from memories.services import Recalled


def _iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value is not None else None


def _uuid(value: uuid.UUID | None) -> str | None:
    return str(value) if value is not None else None


def agent_json(agent: Agent, *, memory_count: int | None = None) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "id": agent.slug,
        "uuid": str(agent.uuid),
        "name": agent.name,
        "description": agent.description,
        "metadata": agent.metadata,
        "retention_days": agent.retention_days,
        "created_at": _iso(agent.created_at),
        "updated_at": _iso(agent.updated_at),
    }
    if memory_count is not None:
        payload["memory_count"] = memory_count
    return payload


def memory_json(memory: Memory, *, agent: Agent) -> dict[str, Any]:
    return {
        "id": str(memory.uuid),
        "agent_id": agent.slug,
        "content": memory.content,
        "type": memory.type,
        "memory_type": memory.type,
        "session_id": memory.session_id,
        "metadata": memory.metadata,
        "pinned": memory.pinned,
        "created_at": _iso(memory.created_at),
        "updated_at": _iso(memory.updated_at),
        "expires_at": _iso(memory.expires_at),
        "access_count": memory.access_count,
        "last_accessed_at": _iso(memory.last_accessed_at),
        "refreshed_at": _iso(memory.refreshed_at),
        "superseded_by": _uuid(memory.superseded_by),
        "status": memory.status,
        "embedding_model": memory.embedding_model or None,
        "embedding_error": memory.embedding_error or None,
    }


def batch_json(batch: MemoryBatch, *, agent: Agent) -> dict[str, Any]:
    return {
        "batch_id": str(batch.uuid),
        "agent_id": agent.slug,
        "created_at": _iso(batch.created_at),
        "total": batch.total,
        "created": batch.created,
        "deduplicated": batch.deduplicated,
        "rejected": batch.rejected,
        "progress_url": f"/api/v1/agents/{agent.slug}/remember/batch/{batch.uuid}",
    }


def recalled_json(item: Recalled, *, agent: Agent, explain: bool = False) -> dict[str, Any]:
    memory = item.memory
    payload = {
        "id": str(memory.uuid),
        "content": memory.content,
        "type": memory.type,
        "memory_type": memory.type,
        "session_id": memory.session_id,
        "metadata": memory.metadata,
        "created_at": _iso(memory.created_at),
        "confidence": round(item.score.confidence, 6),
        "similarity": round(item.score.similarity, 6),
        "recency": round(item.score.recency, 6),
        "frequency": round(item.score.frequency, 6),
        "access_count": memory.access_count,
        "pinned": memory.pinned,
        "superseded_by": _uuid(memory.superseded_by),
        "status": memory.status,
        "agent_id": agent.slug,
    }
    if explain:
        score = item.score
        payload["explain"] = {
            "vector": None if score.vector is None else round(score.vector, 6),
            "lexical": round(score.lexical, 6),
            "period": score.period,
            "newness": None if score.newness is None else round(score.newness, 6),
            "crowding": None if score.crowding is None else round(score.crowding, 6),
            "similarity": round(score.similarity, 6),
            "recency": round(score.recency, 6),
            "frequency": round(score.frequency, 6),
            "final": round(score.confidence, 6),
        }
    return payload


def weights_json(weights: RankingWeights) -> dict[str, float]:
    """How the score parts combine, for responses that explain their ranking."""
    return {
        "lexical": weights.lexical,
        "period": weights.period,
        "newness": weights.newness,
        "crowding": weights.crowding,
        "similarity": weights.similarity,
        "recency": weights.recency,
        "frequency": weights.frequency,
    }
