"""Start-up check: the database must have (or be able to create) pgvector."""

from collections.abc import Sequence
from typing import Any

from django.core.checks import CheckMessage, Error, Tags, register
from django.db import DatabaseError, connections


@register(Tags.database)
def check_pgvector(databases: Sequence[str] | None = None, **kwargs: Any) -> list[CheckMessage]:
    errors: list[CheckMessage] = []
    for alias in databases or []:
        connection = connections[alias]
        try:
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT "
                    " EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'vector'),"
                    " EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'vector'),"
                    " (SELECT rolsuper FROM pg_roles WHERE rolname = current_user),"
                    " current_database(), current_user"
                )
                installed, available, superuser, database, user = cursor.fetchone()
        except DatabaseError as exc:
            errors.append(Error(f"Cannot reach the database {alias!r}: {exc}", id="kronvex.E001"))
            continue
        if installed:
            continue
        if not available:
            errors.append(
                Error(
                    "The PostgreSQL server behind DATABASE_URL has no pgvector extension, "
                    "which Kronvex needs to store embeddings.",
                    hint="Install pgvector on the server (Debian: postgresql-16-pgvector), "
                    "or unset DATABASE_URL to use the embedded PostgreSQL.",
                    id="kronvex.E002",
                )
            )
        elif not superuser:
            errors.append(
                Error(
                    f"pgvector is available but not enabled in database {database!r}, "
                    f"and user {user!r} is not allowed to enable it.",
                    hint=f"Ask a superuser to run CREATE EXTENSION vector; "
                    f"in database {database!r}.",
                    id="kronvex.E003",
                )
            )
    return errors
