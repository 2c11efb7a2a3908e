"""Set an account's plan by hand: for servers without Stripe, and for arrangements."""

import uuid
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from billing.models import Account
from billing.plans import PLANS, UnknownPlan, plan_get
from billing.selectors import account_owned_by
from billing.services import account_plan_set


class Command(BaseCommand):
    help = "Set the plan of the account owned by EMAIL (or with that account UUID)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("account", help="the owner's email address, or the account's UUID")
        parser.add_argument("plan", help="one of: " + ", ".join(plan.slug for plan in PLANS))

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            plan = plan_get(options["plan"])
        except UnknownPlan:
            raise CommandError(
                f"No plan {options['plan']!r}; plans: {', '.join(p.slug for p in PLANS)}"
            ) from None
        account = self._account(options["account"])
        previous = account.plan
        account = account_plan_set(account=account, plan=plan)
        self.stdout.write(f"{account.name}: plan {previous} -> {plan.slug}")
        if plan.max_memories is not None and account.memories_held > plan.max_memories:
            self.stdout.write(
                self.style.WARNING(
                    f"It holds {account.memories_held:,} memories, over the plan's "
                    f"{plan.max_memories:,}: nothing is deleted, and it cannot add memories "
                    "until it is back under."
                )
            )

    def _account(self, ref: str) -> Account:
        account = account_owned_by(user__email__iexact=ref)
        if account is not None:
            return account
        try:
            return Account.objects.get(uuid=uuid.UUID(ref))
        except (Account.DoesNotExist, ValueError):
            raise CommandError(f"No account owned by {ref!r} and none with that UUID.") from None
