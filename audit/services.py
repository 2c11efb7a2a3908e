"""Writing to the audit log, and erasing an account's log with the account."""

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.db import connection, transaction
from django.http import HttpRequest
from django.utils import timezone

from audit.models import AuditEvent
from billing.models import Account

SYSTEM = "system"

# The PostgreSQL setting that lets the trigger of migration 0001 accept the DELETE of one
# account's entries: set, for one transaction only, by account_log_erasure.
ERASING_SETTING = "kronvex.erasing_account"


def audit_record(
    *,
    account: Account,
    kind: str,
    actor: str,
    target: str = "",
    data: dict[str, Any] | None = None,
    ip: str | None = None,
) -> AuditEvent:
    """Append one entry to the account's audit log."""
    return AuditEvent.objects.create(
        account=account,
        at=timezone.now(),
        kind=AuditEvent.Kind(kind),
        actor=actor[:320],
        target=target[:300],
        data=data or {},
        ip=ip,
    )


def actor_user(user: Any) -> str:
    return f"user:{user.email}"


def actor_api_key(api_key: Any) -> str:
    return f"api_key:{api_key.prefix}"


def client_ip(request: HttpRequest | None) -> str | None:
    """The address the request came from, as the web server saw it."""
    if request is None:
        return None
    return request.META.get("REMOTE_ADDR") or None


@contextmanager
def account_log_erasure(account: Account) -> Iterator[None]:
    """Inside one transaction, let the account's audit entries be deleted (with the
    account, when it is erased): the trigger refuses any other DELETE."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT set_config(%s, %s, true)", [ERASING_SETTING, str(account.pk)])
        yield
        cursor.execute("SELECT set_config(%s, '', true)", [ERASING_SETTING])
