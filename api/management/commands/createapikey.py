from argparse import ArgumentParser
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.core.validators import validate_email
from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django.db.migrations.executor import MigrationExecutor

from api.services import api_key_create
from billing.models import Account
from billing.services import account_get_or_create_for_email
from memories import selectors, services
from memories.exceptions import AgentNotFound, InvalidInput


class Command(BaseCommand):
    help = (
        "Create an API key for the account of EMAIL (creating the account if needed, and the "
        "agent if --agent names one it lacks). The key is printed alone on the last line."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--email", required=True, help="The account owner's email.")
        parser.add_argument("--agent", help="An agent id to create if the account lacks it.")
        parser.add_argument("--name", default="default", help="A name for the key.")

    def handle(self, *args: Any, email: str, agent: str | None, name: str, **options: Any) -> None:
        try:
            validate_email(email)
        except ValidationError:
            raise CommandError(f"{email!r} is not a valid email address.") from None
        if _unapplied_migrations():
            raise CommandError(
                "The database is not set up yet: run `python manage.py migrate` first "
                "(`make run` does it when it starts)."
            )
        # All or nothing: an invalid agent id must not leave a new account behind.
        with transaction.atomic():
            account, created = account_get_or_create_for_email(email=email)
            agent_created = _agent_get_or_create(account, agent) if agent else False
            api_key, raw_key = api_key_create(account=account, name=name)
        self.stderr.write(f"{'Created' if created else 'Using'} account {account.name}")
        if agent:
            self.stderr.write(f"{'Created' if agent_created else 'Using'} agent {agent}")
        self.stderr.write(
            f"Created API key {api_key.name!r} ({api_key.prefix}...); it is shown once:"
        )
        self.stdout.write(raw_key)


def _agent_get_or_create(account: Account, agent_id: str) -> bool:
    """Make sure the account has this agent; True if it had to be created."""
    try:
        selectors.agent_get(account=account, agent_id=agent_id)
        return False
    except AgentNotFound:
        pass
    try:
        services.agent_create(account=account, slug=agent_id, name=agent_id)
    except InvalidInput as exc:
        raise CommandError(exc.message) from None
    return True


def _unapplied_migrations() -> bool:
    executor = MigrationExecutor(connections[DEFAULT_DB_ALIAS])
    return bool(executor.migration_plan(executor.loader.graph.leaf_nodes()))
