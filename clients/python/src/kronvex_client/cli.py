"""`kronvex`: remember, recall, inject context and import memories from a terminal.

Configuration comes from --api-key/--base-url or $KRONVEX_API_KEY/$KRONVEX_BASE_URL.
Errors print `error: <code>: <detail>` on stderr and exit 1; usage errors exit 2.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, TextIO

from kronvex_client.client import Kronvex, __version__
from kronvex_client.endpoints import MAX_BATCH
from kronvex_client.errors import KronvexError
from kronvex_client.models import RecalledMemory

MEMORY_TYPES = ("episodic", "semantic", "procedural")


class UsageError(Exception):
    """Wrong arguments: exit 2, as argparse does."""


def _positive(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"{value!r} must be 1 or more")
    return number


def _batch_size(value: str) -> int:
    number = _positive(value)
    if number > MAX_BATCH:
        raise argparse.ArgumentTypeError(f"{value!r} is more than {MAX_BATCH}")
    return number


def _metadata(value: str) -> dict[str, Any]:
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError as exc:
        raise argparse.ArgumentTypeError(f"not valid JSON: {exc}") from None
    if not isinstance(parsed, dict):
        raise argparse.ArgumentTypeError('must be a JSON object, such as \'{"source": "cli"}\'')
    return parsed


def build_parser() -> argparse.ArgumentParser:
    # The connection options work before or after the command; SUPPRESS keeps a
    # command's unset option from hiding the one given before it.
    def connection(parser: argparse.ArgumentParser, default: Any) -> None:
        parser.add_argument(
            "--api-key", default=default, help="an API key (default: $KRONVEX_API_KEY)"
        )
        parser.add_argument(
            "--base-url",
            default=default,
            help="the service's address (default: $KRONVEX_BASE_URL, else http://127.0.0.1:8000)",
        )
        parser.add_argument(
            "--timeout", type=float, default=default, help="seconds to wait for each answer"
        )

    parser = argparse.ArgumentParser(
        prog="kronvex", description="Long-term memory for AI agents, from the command line."
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    connection(parser, None)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    remember = commands.add_parser("remember", help="store one memory")
    remember.add_argument("agent", help="the agent's id")
    remember.add_argument("content", help="the text to remember")
    remember.add_argument("--session", help="the session (for example your end user's id)")
    remember.add_argument("--type", choices=MEMORY_TYPES, help="default: episodic")
    remember.add_argument("--metadata", type=_metadata, help="a JSON object")
    remember.add_argument("--pinned", action="store_true", default=None, help="never fade")
    remember.add_argument("--ttl-days", type=_positive, help="expire after this many days")
    remember.add_argument("--json", action="store_true", help="print the memory as JSON")

    recall = commands.add_parser("recall", help="the memories that matter most for a query")
    recall.add_argument("agent", help="the agent's id")
    recall.add_argument("query", help="what to look for")
    recall.add_argument("--top-k", type=_positive, help="how many memories (default 5)")
    recall.add_argument("--session", help="only this session's memories")
    recall.add_argument("--type", choices=MEMORY_TYPES, help="only memories of this type")
    recall.add_argument("--threshold", type=float, help="leave out less similar memories (0-1)")
    recall.add_argument("--json", action="store_true", help="print the memories as JSON")

    inject = commands.add_parser("inject", help="recall as prompt-ready text")
    inject.add_argument("agent", help="the agent's id")
    inject.add_argument("query", help="the message to find context for")
    inject.add_argument("--max-tokens", type=_positive, help="keep the context within this")
    inject.add_argument("--top-k", type=_positive, help="at most this many memories")
    inject.add_argument("--session", help="only this session's memories")
    inject.add_argument("--type", choices=MEMORY_TYPES, help="only memories of this type")
    inject.add_argument("--json", action="store_true", help="print the answer as JSON")

    importer = commands.add_parser(
        "import",
        help="store every memory of a JSON Lines file",
        description="Each line is a JSON object with at least `content` (and any of "
        "remember's fields), or a JSON string. Bad lines are reported and skipped.",
    )
    importer.add_argument("agent", help="the agent's id")
    importer.add_argument("file", help="a .jsonl file, or - for standard input")
    importer.add_argument(
        "--batch-size", type=_batch_size, default=500, help="memories per request (max 1000)"
    )
    importer.add_argument("--session", help="the session of lines that do not name one")
    importer.add_argument("--type", choices=MEMORY_TYPES, help="the type of lines without one")

    for command in (remember, recall, inject, importer):
        connection(command, argparse.SUPPRESS)
    return parser


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _recalled_line(memory: RecalledMemory) -> str:
    day = memory.created_at.date().isoformat() if memory.created_at else "?"
    return f"{memory.confidence:.3f}  [{memory.type}, {day}] {_one_line(memory.content)}"


def _print_json(value: Any) -> None:
    print(json.dumps(value, indent=2, ensure_ascii=False))


def run_remember(client: Kronvex, args: argparse.Namespace) -> int:
    memory = client.remember(
        args.agent,
        args.content,
        type=args.type,
        session_id=args.session,
        metadata=args.metadata,
        pinned=args.pinned,
        ttl_days=args.ttl_days,
    )
    if args.json:
        _print_json(memory.raw)
    else:
        note = " (already remembered: refreshed)" if memory.deduplicated else ""
        print(f"remembered {memory.id}{note}")
    return 0


def run_recall(client: Kronvex, args: argparse.Namespace) -> int:
    recalled = client.recall(
        args.agent,
        args.query,
        top_k=args.top_k,
        session_id=args.session,
        type=args.type,
        threshold=args.threshold,
    )
    if args.json:
        _print_json(recalled.raw.get("memories", []))
    else:
        for memory in recalled:
            print(_recalled_line(memory))
    return 0


def run_inject(client: Kronvex, args: argparse.Namespace) -> int:
    context = client.inject_context(
        args.agent,
        args.query,
        top_k=args.top_k,
        session_id=args.session,
        type=args.type,
        max_tokens=args.max_tokens,
    )
    if args.json:
        _print_json(context.raw)
    elif context.context:
        print(context.context)
    return 0


class Progress:
    """A progress line on stderr: done/total, rate and time left. Redrawn in place on a
    terminal, one line per update otherwise (logs and CI)."""

    WIDTH = 24

    def __init__(self, total: int, stream: TextIO) -> None:
        self.total = total
        self.stream = stream
        self.started = time.monotonic()
        self.live = stream.isatty()

    def update(self, done: int) -> None:
        elapsed = max(time.monotonic() - self.started, 1e-9)
        rate = done / elapsed
        left = (self.total - done) / rate if rate > 0 else 0.0
        filled = self.WIDTH * done // self.total if self.total else self.WIDTH
        bar = "#" * filled + "-" * (self.WIDTH - filled)
        line = f"[{bar}] {done}/{self.total} lines  {rate:.1f}/s  ETA {_duration(left)}"
        if self.live:
            self.stream.write("\r" + line)
            if done >= self.total:
                self.stream.write("\n")
        else:
            self.stream.write(line + "\n")
        self.stream.flush()


def _duration(seconds: float) -> str:
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m{seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def _lines(source: str) -> tuple[int, Iterator[tuple[int, str]]]:
    """How many non-blank lines the source has, and each of them with its number."""
    if source == "-":
        text = sys.stdin.read().splitlines()
        given = [(n, line) for n, line in enumerate(text, start=1) if line.strip()]
        return len(given), iter(given)
    path = Path(source)
    try:
        with path.open(encoding="utf-8") as counting:
            total = sum(1 for line in counting if line.strip())
    except OSError as exc:
        raise UsageError(f"cannot read {source}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise UsageError(f"cannot read {source}: it is not UTF-8 text") from None

    def numbered() -> Iterator[tuple[int, str]]:
        with path.open(encoding="utf-8") as reading:
            for number, line in enumerate(reading, start=1):
                if line.strip():
                    yield number, line

    return total, numbered()


def _import_item(line: str, args: argparse.Namespace) -> dict[str, Any]:
    """The memory of one line, or ValueError saying what is wrong with it."""
    try:
        parsed = json.loads(line)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not valid JSON ({exc.msg}, column {exc.colno})") from None
    if isinstance(parsed, str):
        parsed = {"content": parsed}
    if not isinstance(parsed, dict):
        raise ValueError("expected a JSON object with `content`, or a JSON string")
    if not isinstance(parsed.get("content"), str):
        raise ValueError("`content` is missing or not a string")
    if args.session is not None:
        parsed.setdefault("session_id", args.session)
    if args.type is not None and "type" not in parsed and "memory_type" not in parsed:
        parsed["type"] = args.type
    return parsed


def run_import(client: Kronvex, args: argparse.Namespace) -> int:
    total, lines = _lines(args.file)
    progress = Progress(total, sys.stderr)
    counts = {"created": 0, "deduplicated": 0, "failed": 0}
    done = 0
    pending: list[tuple[int, dict[str, Any]]] = []

    def report(number: int, reason: str) -> None:
        counts["failed"] += 1
        print(f"line {number}: {reason}", file=sys.stderr)

    def send() -> None:
        nonlocal done
        if pending:
            result = client.remember_many(
                args.agent, [item for _, item in pending], batch_size=args.batch_size
            )
            for item in result.items:
                number = pending[item.index][0]
                if item.error is not None:
                    report(number, f"{item.error.code}: {item.error.detail}")
                elif item.status in counts:
                    counts[item.status] += 1
            done += len(pending)
            pending.clear()
        progress.update(done)

    try:
        for number, line in lines:
            try:
                pending.append((number, _import_item(line, args)))
            except ValueError as bad:
                report(number, str(bad))
                done += 1
            if len(pending) >= args.batch_size:
                send()
        send()
    except KronvexError:
        stored = counts["created"] + counts["deduplicated"]
        print(f"stopped after {done} of {total} lines ({stored} stored)", file=sys.stderr)
        raise
    print(
        f"imported {total} lines into {args.agent}: {counts['created']} created, "
        f"{counts['deduplicated']} deduplicated, {counts['failed']} failed"
    )
    return 1 if counts["failed"] else 0


COMMANDS = {
    "remember": run_remember,
    "recall": run_recall,
    "inject": run_inject,
    "import": run_import,
}


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    api_key = args.api_key or os.environ.get("KRONVEX_API_KEY")
    if not api_key:
        parser.error("no API key: pass --api-key or set KRONVEX_API_KEY")
    options: dict[str, Any] = {"base_url": args.base_url}
    if args.timeout is not None:
        options["timeout"] = args.timeout
    try:
        with Kronvex(api_key, **options) as client:
            return COMMANDS[args.command](client, args)
    except UsageError as exc:
        parser.error(str(exc))
    except KronvexError as exc:
        print(f"error: {exc.code}: {exc.detail}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
