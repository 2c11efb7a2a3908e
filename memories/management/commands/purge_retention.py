"""Erase the episodic memories kept longer than their agent's retention period, now."""

from typing import Any

from django.core.management.base import BaseCommand
from django.utils import timezone

from memories import services


class Command(BaseCommand):
    help = (
        "Erase, for good, the episodic memories (pinned ones excepted) last stated longer ago "
        "than their agent's retention_days. Celery beat and `serve` run it every "
        "KRONVEX_PURGE_INTERVAL_SECONDS; this runs it once."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        purged = services.memories_retention_purge(now=timezone.now())
        self.stdout.write(f"Purged {purged} memories past their agent's retention.")
