"""Queue again the embedding of memories left pending or failed for a while (the sweeper)."""

import signal
import threading
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DatabaseError, connections

from memories import services


class Command(BaseCommand):
    help = (
        "Queue again the embedding of memories left pending longer than "
        "KRONVEX_SWEEP_PENDING_AFTER_SECONDS, and of failed ones whose failure may pass (up to "
        "KRONVEX_SWEEP_MAX_ATTEMPTS times, backing off). Celery beat runs it every "
        "KRONVEX_SWEEP_INTERVAL_SECONDS; without beat, run it with --loop."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--loop",
            type=float,
            metavar="SECONDS",
            help="sweep every SECONDS until stopped (SIGINT or SIGTERM), instead of once",
        )

    def handle(self, *args: Any, loop: float | None, **options: Any) -> None:
        if loop is None:
            self._report(services.memories_sweep(), always=True)
            return
        if loop <= 0:
            raise CommandError("--loop takes a number of seconds greater than 0.")
        stop = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda signum, frame: stop.set())
        self.stdout.write(
            f"Sweeping every {loop:g} s (pending after "
            f"{settings.KRONVEX_SWEEP_PENDING_AFTER_SECONDS} s); stop with Ctrl-C."
        )
        while not stop.is_set():
            try:
                self._report(services.memories_sweep(), always=False)
            except DatabaseError as exc:
                # The database restarting is no reason to stop: the next sweep tries again.
                self.stderr.write(f"Sweep failed ({exc}); trying again in {loop:g} s.")
            finally:
                connections.close_all()
            stop.wait(loop)

    def _report(self, sweep: services.Sweep, *, always: bool) -> None:
        if not always and not (sweep.pending or sweep.failed):
            return
        line = (
            f"Swept: {sweep.queued} memories queued again ({sweep.pending} pending, "
            f"{sweep.failed} failed)"
        )
        if sweep.unqueued:
            line += f"; {sweep.unqueued} could not be queued (is the broker down?)"
        self.stdout.write(line + ".")
        self.stdout.flush()
