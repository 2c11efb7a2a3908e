"""`python manage.py serve`: the one-machine launcher behind `make run`.

manage.py has already started the embedded PostgreSQL (unless DATABASE_URL is
set) and owns it. This command migrates, prepares the embedding model once,
then runs gunicorn as a child and supervises it: SIGINT, SIGTERM or SIGHUP stop
gunicorn gracefully, then manage.py stops PostgreSQL. If this process is killed
outright, the kernel stops gunicorn and PostgreSQL with it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from argparse import ArgumentParser
from typing import Any

import gunicorn
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import connections
from django.utils import timezone

from kronvex.embedded_postgres import EmbeddedPostgres
from kronvex.process import die_with_parent
from memories.embedding import get_embedder, prepare_embedder
from memories.services import memories_purge_expired, memories_retention_purge, memories_sweep
from webhooks.services import webhooks_sweep

_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
_GRACEFUL_SECONDS = 25


class Command(BaseCommand):
    help = "Migrate, then serve Kronvex with gunicorn until interrupted."
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--host", default=settings.KRONVEX_HOST)
        parser.add_argument("--port", type=int, default=settings.PORT)
        parser.add_argument("--workers", type=int, default=settings.KRONVEX_WEB_WORKERS)
        parser.add_argument("--threads", type=int, default=settings.KRONVEX_WEB_THREADS)

    def handle(
        self, *args: Any, host: str, port: int, workers: int, threads: int, **options: Any
    ) -> None:
        if not settings.DATABASE_URL:
            self._require_own_database()
        stop = threading.Event()
        received: list[int] = []

        def on_signal(signum: int, frame: Any) -> None:
            received.append(signum)
            stop.set()

        for sig in _STOP_SIGNALS:
            signal.signal(sig, on_signal)

        self.check(databases=["default"])
        call_command("migrate", interactive=False, verbosity=0)
        call_command("collectstatic", interactive=False, verbosity=0)
        self.stderr.write("Preparing the embedding model...")
        prepare_embedder()
        embedder = get_embedder()
        connections.close_all()
        if stop.is_set():
            return

        server = self._start_gunicorn(host, port, workers, threads)
        if settings.CELERY_TASK_ALWAYS_EAGER:
            # No Celery beat in the embedded default: expired memories are purged here, and
            # the embeddings that failed for a while are tried again here.
            threading.Thread(target=self._purge_loop, args=(stop,), daemon=True).start()
            threading.Thread(target=self._sweep_loop, args=(stop,), daemon=True).start()
            # ... and customers' webhooks are sent here, never inside a request.
            threading.Thread(target=self._webhook_loop, args=(stop,), daemon=True).start()
        database = (
            "external PostgreSQL"
            if settings.DATABASE_URL
            else (f"embedded PostgreSQL in {settings.KRONVEX_DATA_DIR}")
        )
        tasks = "a Celery broker" if not settings.CELERY_TASK_ALWAYS_EAGER else "in-process tasks"
        self.stdout.write(
            f"Kronvex is serving on http://{host}:{port} ({database}, {tasks}, "
            f"embedder {embedder.model_name}). Press Ctrl-C to stop.",
        )
        self.stdout.flush()

        while not stop.is_set():
            if server.poll() is not None:
                raise CommandError(f"gunicorn exited unexpectedly with code {server.returncode}")
            stop.wait(0.5)
        self.stderr.write("Stopping Kronvex...")
        self._stop(server)
        self.stderr.write("Stopped.")

    def _require_own_database(self) -> None:
        # Other commands may use a server that another process runs, but a web server must
        # not: that process stops the database when it exits, leaving this one serving 503s.
        owner = EmbeddedPostgres(settings.KRONVEX_DATA_DIR).owner_pid()
        if owner is None or owner == os.getpid():
            return
        try:
            with open(f"/proc/{owner}/cmdline", "rb") as handle:
                program = handle.read().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:
            program = "unknown"
        raise CommandError(
            f"The embedded PostgreSQL in {settings.KRONVEX_DATA_DIR} is already run by another "
            f"process (pid {owner}: {program}); is Kronvex already serving from this folder? "
            "Stop that process first, or give this instance its own KRONVEX_DATA_DIR."
        )

    def _start_gunicorn(
        self, host: str, port: int, workers: int, threads: int
    ) -> subprocess.Popen[bytes]:
        command = [
            sys.executable,
            "-m",
            "gunicorn",
            "kronvex.wsgi:application",
            "--bind",
            f"{host}:{port}",
            "--workers",
            str(workers),
            "--worker-class",
            "gthread",
            "--threads",
            str(threads),
            "--timeout",
            "60",
            "--graceful-timeout",
            str(_GRACEFUL_SECONDS - 5),
            "--access-logfile",
            "-",
            "--access-logformat",
            '%(h)s "%(r)s" %(s)s %(b)s %(M)sms',
        ]
        if gunicorn.version_info >= (25, 1):
            # Its control socket defaults to one path per user ($HOME/.gunicorn/gunicorn.ctl):
            # every other gunicorn of the user would take it over, and delete it on exit.
            command.append("--no-control-socket")
        server = subprocess.Popen(
            command,
            start_new_session=True,
            preexec_fn=die_with_parent(signal.SIGTERM),
        )
        return server

    def _stop(self, server: subprocess.Popen[bytes]) -> None:
        if server.poll() is None:
            server.send_signal(signal.SIGTERM)
        try:
            server.wait(_GRACEFUL_SECONDS)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()

    def _purge_loop(self, stop: threading.Event) -> None:
        interval = settings.KRONVEX_PURGE_INTERVAL_SECONDS
        while not stop.wait(interval):
            try:
                memories_purge_expired()
            except Exception:
                self.stderr.write("purging expired memories failed; will retry")
            try:
                memories_retention_purge(now=timezone.now())
            except Exception:
                self.stderr.write("purging memories past their retention failed; will retry")
            finally:
                connections.close_all()

    def _sweep_loop(self, stop: threading.Event) -> None:
        interval = settings.KRONVEX_SWEEP_INTERVAL_SECONDS
        while not stop.wait(interval):
            try:
                memories_sweep()
            except Exception:
                self.stderr.write("sweeping pending and failed memories failed; will retry")
            finally:
                connections.close_all()

    def _webhook_loop(self, stop: threading.Event) -> None:
        interval = settings.KRONVEX_WEBHOOK_POLL_SECONDS
        while not stop.wait(interval):
            try:
                webhooks_sweep()
            except Exception:
                self.stderr.write("sending webhooks failed; will retry")
            finally:
                connections.close_all()
