"""The code samples of the docs pages: which fenced blocks run, and how.

A block whose info string is `python`, `sh`, `bash`, `shell` or `console` runs, unless
the line just before its opening fence is `<!-- docs-test: skip (reason) -->`. Other
languages (json, text, yaml, toml...) are shown, never run.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

DOCS_DIR = Path(__file__).resolve().parents[2] / "docs"
RUNNABLE = {"python": "python", "sh": "shell", "bash": "shell", "shell": "shell"}
RUNNABLE["console"] = "shell"

_FENCE = re.compile(r"^(?P<indent> {0,3})(?P<fence>`{3,}|~{3,})\s*(?P<info>[^`\s]*)")
_MARKER = re.compile(r"^\s*<!--\s*docs-test:(?P<body>.*?)-->\s*$")
_SKIP = re.compile(r"^\s*skip\s*\((?P<reason>.*)\)\s*$")


@dataclass(frozen=True)
class Block:
    path: Path
    line: int  # of the opening fence, 1-based
    info: str
    source: str
    # Why the block does not run, from its skip marker; None: it runs.
    skip_reason: str | None = None
    # What is wrong with its marker, if anything: the block's test fails with it.
    marker_error: str | None = None

    @property
    def id(self) -> str:
        return f"{self.path.name}:L{self.line}"

    @property
    def language(self) -> str | None:
        """python or shell for a block that runs when not skipped; None otherwise."""
        return RUNNABLE.get(self.info.lower())

    @property
    def runnable_source(self) -> str:
        """The code to run: for console blocks, the commands after their `$ ` prompts."""
        if self.info.lower() != "console":
            return self.source
        commands = []
        for line in self.source.splitlines():
            stripped = line.lstrip()
            if stripped.startswith("$ "):
                commands.append(stripped[2:])
            elif commands and commands[-1].endswith("\\"):
                commands.append(line)  # a continuation of the command above
        return "\n".join(commands) + "\n"


def code_blocks(path: Path) -> list[Block]:
    """Every fenced block of a Markdown file, with the marker line before it."""
    lines = path.read_text(encoding="utf-8").splitlines()
    blocks: list[Block] = []
    index = 0
    while index < len(lines):
        opening = _FENCE.match(lines[index])
        if opening is None:
            index += 1
            continue
        fence, indent = opening["fence"], len(opening["indent"])
        body: list[str] = []
        end = index + 1
        while end < len(lines):
            closing = lines[end].strip()
            if closing.startswith(fence) and set(closing) == {fence[0]}:
                break
            body.append(lines[end][indent:] if lines[end][:indent].isspace() else lines[end])
            end += 1
        skip_reason, marker_error = _marker(lines[index - 1] if index > 0 else "")
        blocks.append(
            Block(
                path=path,
                line=index + 1,
                info=opening["info"],
                source="\n".join(body) + "\n",
                skip_reason=skip_reason,
                marker_error=marker_error,
            )
        )
        index = end + 1
    return blocks


def _marker(line: str) -> tuple[str | None, str | None]:
    """(skip reason, error) from the line before a fence."""
    found = _MARKER.match(line)
    if found is None:
        return None, None
    skip = _SKIP.match(found["body"])
    if skip is None:
        return None, f"unknown docs-test marker {line.strip()!r}; use 'skip (reason)'"
    reason = skip["reason"].strip()
    if not reason:
        return None, f"{line.strip()!r} gives no reason: say why the block cannot run"
    return reason, None


def docs_blocks(docs_dir: Path = DOCS_DIR) -> list[Block]:
    """The blocks of every docs page that would run, or are skipped by a marker."""
    return [
        block
        for path in sorted(docs_dir.glob("*.md"))
        for block in code_blocks(path)
        if block.language is not None or block.marker_error is not None
    ]
