"""Embed memories again after a change of embedding model."""

import time
import uuid
from collections import Counter
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError, CommandParser, OutputWrapper

from billing.models import Account
from billing.selectors import account_owned_by
from memories import selectors, services
from memories.embedding import EmbeddingError, get_embedder
from memories.exceptions import AgentNotFound
from memories.models import Agent


class Command(BaseCommand):
    help = (
        "Embed memories again with the configured model (KRONVEX_EMBEDDER, "
        "KRONVEX_EMBEDDING_MODEL), after it changed: those of one agent (--agent with --account) "
        "or of every agent (--all). The memories are first marked pending (recall finds them by "
        "their words until they have their new vector), then embedded in batches. Stopped "
        "(Ctrl-C, kill), it resumes where it was when run again without --force: the work left "
        "is the memories still pending."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--agent", help="the agent's id or UUID, in the account given by --account"
        )
        parser.add_argument(
            "--account", help="the agent's account: its owner's email address, or its UUID"
        )
        parser.add_argument(
            "--all", action="store_true", dest="all_agents", help="every agent of every account"
        )
        parser.add_argument(
            "--force",
            action="store_true",
            help="also embed again the memories that have a vector of the configured model",
        )
        parser.add_argument(
            "--batch-size",
            type=int,
            help="memories per call to the embedder (default: KRONVEX_EMBEDDING_BATCH_SIZE)",
        )
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="only print how many memories would be embedded again",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        agent = self._target(options["agent"], options["account"], options["all_agents"])
        batch_size = options["batch_size"]
        if batch_size is None:
            batch_size = settings.KRONVEX_EMBEDDING_BATCH_SIZE
        if batch_size < 1:
            raise CommandError("--batch-size must be 1 or more.")
        force: bool = options["force"]
        try:
            model = get_embedder().model_name
        except (EmbeddingError, ImproperlyConfigured) as exc:
            raise CommandError(f"The embedder cannot start: {exc}") from None
        target = "every agent" if agent is None else f"agent {agent.slug} ({agent.account.name})"

        if options["dry_run"]:
            count = services.memories_reembed_count(agent=agent, force=force)
            self.stdout.write(f"Would embed {count:,} memories of {target} again with {model}.")
            return

        started = time.monotonic()
        marking = True
        done = embedded = skipped = failed = 0
        # Reasons and how often each came: a provider that is down gives one for every memory.
        reasons: Counter[str] = Counter()
        progress: _Progress | None = None
        try:
            marked = services.memories_reembed_mark(agent=agent, force=force)
            marking = False
            total = services.memories_reembed_pending(agent=agent)
            self.stdout.write(
                f"Marked {marked:,} memories of {target} pending; embedding {total:,} with {model}."
            )
            progress = _Progress(self.stderr, total=total, started=time.monotonic())
            after = 0
            while batch := services.memories_reembed_batch(
                agent=agent, batch_size=batch_size, after=after
            ):
                after = batch.last_id
                done += batch.size
                embedded += batch.embedded
                skipped += batch.skipped
                failed += len(batch.failures)
                reasons.update(batch.failures.values())
                progress.show(done)
            progress.show(done, final=True)
        except KeyboardInterrupt:
            if progress is not None:
                progress.close()
            if marking and force:
                advice = "run the same command again, with --force, to finish marking"
            else:
                advice = "run the same command again, without --force, to go on where it stopped"
            raise CommandError(
                f"Interrupted after embedding {embedded:,} memories; {advice}.", returncode=130
            ) from None

        seconds = time.monotonic() - started
        self.stdout.write(
            f"Embedded {embedded:,} memories again with {model}, {failed:,} failed, "
            f"in {seconds:.1f} s ({embedded / seconds if seconds else 0.0:,.1f} memories/s)."
        )
        if skipped:
            self.stdout.write(f"{skipped:,} were embedded by another worker meanwhile.")
        if failed:
            for reason, count in reasons.most_common():
                self.stdout.write(f"  {count:,} x {reason}", style_func=self.style.WARNING)
            raise CommandError(
                f"{failed:,} memories could not be embedded and are marked failed; "
                "run the same command again (without --force) to retry them."
            )

    def _target(
        self, agent_id: str | None, account_ref: str | None, all_agents: bool
    ) -> Agent | None:
        if all_agents and (agent_id or account_ref):
            raise CommandError("Give either --agent with --account, or --all, not both.")
        if all_agents:
            return None
        if not agent_id:
            raise CommandError(
                "Say which memories to embed again: --agent AGENT --account ACCOUNT, or --all."
            )
        if not account_ref:
            raise CommandError("--agent needs --account: the owner's email or the account UUID.")
        account = _account(account_ref)
        try:
            return selectors.agent_get(account=account, agent_id=agent_id)
        except AgentNotFound:
            raise CommandError(f"No agent {agent_id!r} in the account {account.name}.") from None


def _account(ref: str) -> Account:
    account = account_owned_by(user__email__iexact=ref)
    if account is not None:
        return account
    try:
        return Account.objects.get(uuid=uuid.UUID(ref))
    except (Account.DoesNotExist, ValueError):
        raise CommandError(f"No account owned by {ref!r} and none with that UUID.") from None


class _Progress:
    """done/total, percent, rate and time left on stderr: one line rewritten in place on a
    terminal, a plain line now and then otherwise (a log file, a pipe)."""

    TERMINAL_INTERVAL = 0.2
    PLAIN_INTERVAL = 10.0

    def __init__(self, out: OutputWrapper, *, total: int, started: float) -> None:
        self._out = out
        self._total = total
        self._started = started
        self._terminal = out.isatty()
        self._interval = self.TERMINAL_INTERVAL if self._terminal else self.PLAIN_INTERVAL
        self._shown_at = time.monotonic()
        self._width = 0

    def show(self, done: int, *, final: bool = False) -> None:
        now = time.monotonic()
        if not final and now - self._shown_at < self._interval:
            return
        self._shown_at = now
        line = self._line(done, now)
        if self._terminal:
            # Padded so that a shorter line leaves nothing of the previous one behind.
            self._out.write("\r" + line.ljust(self._width), style_func=str, ending="")
            self._width = len(line)
            if final:
                self.close()
        else:
            self._out.write(line, style_func=str)
        self._out.flush()

    def close(self) -> None:
        """End the line rewritten in place, so what follows starts on its own line."""
        if self._terminal and self._width:
            self._out.write("", style_func=str)
            self._width = 0

    def _line(self, done: int, now: float) -> str:
        # New memories may arrive while it runs: they are embedded too.
        total = max(self._total, done)
        elapsed = now - self._started
        rate = done / elapsed if elapsed > 0 else 0.0
        percent = 100.0 * done / total if total else 100.0
        left = _duration((total - done) / rate) if rate else "?"
        return f"{done:,}/{total:,} ({percent:.1f}%), {rate:,.1f} memories/s, ETA {left}"


def _duration(seconds: float) -> str:
    minutes, seconds = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02}:{seconds:02}"
