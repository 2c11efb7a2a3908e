"""Everything an account holds, or one end user's session, as one JSON document streamed in
pieces (GDPR articles 15 and 20): the API's export routes and the dashboard's download
share it. Memories are read in chunks, so an account of any size streams in flat memory.

Each export is written to the audit log when it starts; the document itself never is.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone

from api.models import ApiKey
from api.payloads import _iso, agent_json, memory_json
from audit.models import AuditEvent
from audit.services import audit_record
from billing.models import Account, Membership, UsageDay
from billing.usage import usage_flush
from memories.exceptions import SessionNotFound
from memories.models import Agent, Memory

EXPORT_FORMAT = "kronvex-export"
EXPORT_VERSION = 1
# Memories read from the database per round trip.
EXPORT_CHUNK = 2000


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def export_memory_json(memory: Memory, *, agent: Agent, vectors: bool = False) -> dict[str, Any]:
    """A memory as the API shows it, with its agent's UUID and, if asked, its vector."""
    payload = {**memory_json(memory, agent=agent), "agent_uuid": str(agent.uuid)}
    if vectors:
        embedding = memory.embedding
        payload["embedding"] = None if embedding is None else [float(x) for x in embedding]
    return payload


def _memories(memories: QuerySet[Memory], *, vectors: bool) -> QuerySet[Memory]:
    deferred = ["search_vector"] if vectors else ["search_vector", "embedding"]
    return memories.defer(*deferred).order_by("created_at", "id")


def _memory_lines(
    memories: QuerySet[Memory], *, agents: dict[int, Agent], vectors: bool
) -> Iterator[str]:
    separator = "\n"
    for memory in _memories(memories, vectors=vectors).iterator(chunk_size=EXPORT_CHUNK):
        agent = agents.get(memory.agent_id)
        if agent is None:
            # An agent created while the export streams.
            agent = agents[memory.agent_id] = Agent.objects.get(pk=memory.agent_id)
        yield separator + _dumps(export_memory_json(memory, agent=agent, vectors=vectors))
        separator = ",\n"


def _list(name: str, items: list[dict[str, Any]]) -> str:
    return f'"{name}": ' + _dumps(items) + ",\n"


def account_document(*, account: Account, vectors: bool = False) -> Iterator[str]:
    """The account's whole export, in pieces: account, members, agents, API keys (never
    their hashes), usage days, then every memory it holds, expired ones not yet purged
    included; vectors only with `vectors`."""
    usage_flush()
    agents = {agent.pk: agent for agent in Agent.objects.for_account(account).order_by("pk")}
    members = [
        {
            "email": membership.user.email,
            "role": membership.role,
            "joined_at": _iso(membership.created_at),
        }
        for membership in Membership.objects.filter(account=account)
        .select_related("user")
        .order_by("created_at")
    ]
    keys = [
        {
            "uuid": str(key.uuid),
            "name": key.name,
            "prefix": key.prefix,
            "created_at": _iso(key.created_at),
            "last_used_at": _iso(key.last_used_at),
            "revoked_at": _iso(key.revoked_at),
        }
        for key in ApiKey.objects.for_account(account).order_by("created_at")
    ]
    usage = [
        {
            "day": day.day.isoformat(),
            "agent_uuid": str(day.agent_uuid),
            "remember_calls": day.remember_calls,
            "recall_calls": day.recall_calls,
            "inject_context_calls": day.inject_context_calls,
        }
        for day in UsageDay.objects.filter(account=account).order_by("day", "agent_uuid")
    ]
    header = {
        "format": EXPORT_FORMAT,
        "version": EXPORT_VERSION,
        "exported_at": _iso(timezone.now()),
        "account": {
            "uuid": str(account.uuid),
            "name": account.name,
            "plan": account.plan,
            "created_at": _iso(account.created_at),
        },
    }
    yield "{\n" + _dumps(header)[1:-1] + ",\n"
    yield _list("members", members)
    yield _list(
        "agents",
        [agent_json(agent) for agent in agents.values()],
    )
    yield _list("api_keys", keys)
    yield _list("usage", usage)
    yield '"memories": ['
    yield from _memory_lines(Memory.objects.for_account(account), agents=agents, vectors=vectors)
    yield "\n]}\n"


def account_export(
    *, account: Account, actor: str, ip: str | None = None, vectors: bool = False
) -> Iterator[str]:
    """Log the export of the account, and give its document to stream."""
    audit_record(
        account=account,
        kind=AuditEvent.Kind.ACCOUNT_EXPORTED,
        actor=actor,
        data={"vectors": vectors},
        ip=ip,
    )
    return account_document(account=account, vectors=vectors)


def session_export(
    *,
    account: Account,
    session_id: str,
    actor: str,
    ip: str | None = None,
    vectors: bool = False,
) -> Iterator[str]:
    """Log the export of the session's memories in all the account's agents, and give its
    document to stream; SessionNotFound if no memory holds the session."""
    memories = Memory.objects.for_account(account).filter(session_id=session_id)
    count = memories.count()
    if not count:
        raise SessionNotFound(f"No memory of session {session_id!r} in this account.")
    audit_record(
        account=account,
        kind=AuditEvent.Kind.SESSION_EXPORTED,
        actor=actor,
        target=session_id,
        data={"count": count, "vectors": vectors},
        ip=ip,
    )
    return _session_document(memories, session_id=session_id, account=account, vectors=vectors)


def _session_document(
    memories: QuerySet[Memory], *, session_id: str, account: Account, vectors: bool
) -> Iterator[str]:
    agents = {agent.pk: agent for agent in Agent.objects.for_account(account)}
    header = {
        "format": EXPORT_FORMAT,
        "version": EXPORT_VERSION,
        "exported_at": _iso(timezone.now()),
        "session_id": session_id,
    }
    yield "{\n" + _dumps(header)[1:-1] + ',\n"memories": ['
    yield from _memory_lines(memories, agents=agents, vectors=vectors)
    yield "\n]}\n"


def export_filename(stem: str) -> str:
    """An attachment's file name: the stem and the time of the export."""
    return f"kronvex-{stem}-{timezone.now():%Y%m%d-%H%M%S}.json"
