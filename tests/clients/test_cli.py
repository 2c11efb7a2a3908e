"""The `kronvex` command, run as a separate process against a live server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from memories.models import Agent, Memory


def kronvex(
    *args: str, server_url: str, api_key: str | None, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KRONVEX_")}
    env["KRONVEX_BASE_URL"] = server_url
    if api_key is not None:
        env["KRONVEX_API_KEY"] = api_key
    return subprocess.run(
        [sys.executable, "-m", "kronvex_client.cli", *args],
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_remember_stores_a_memory_and_prints_its_id(
    server_url: str, api_key: str, agent: Agent
) -> None:
    done = kronvex(
        "remember",
        "assistant",
        "User prefers concise answers",
        "--session",
        "user-42",
        "--type",
        "semantic",
        "--metadata",
        '{"source": "cli"}',
        server_url=server_url,
        api_key=api_key,
    )

    assert done.returncode == 0, done.stderr
    memory = Memory.objects.get(agent=agent)
    assert done.stdout == f"remembered {memory.uuid}\n"
    assert (memory.content, memory.session_id, memory.type, memory.metadata) == (
        "User prefers concise answers",
        "user-42",
        "semantic",
        {"source": "cli"},
    )
    again = kronvex(
        "remember",
        "assistant",
        "User prefers concise answers",
        "--session",
        "user-42",
        "--json",
        server_url=server_url,
        api_key=api_key,
    )
    assert json.loads(again.stdout)["deduplicated"] is True


def test_recall_prints_the_best_memories_or_json(
    server_url: str, api_key: str, agent: Agent
) -> None:
    for content in ("The user's favourite colour is green", "The user works at a bakery"):
        kronvex("remember", "assistant", content, server_url=server_url, api_key=api_key)

    text = kronvex(
        "recall",
        "assistant",
        "favourite colour",
        "--top-k",
        "1",
        server_url=server_url,
        api_key=api_key,
    )
    as_json = kronvex(
        "recall",
        "assistant",
        "where do they work?",
        "--json",
        server_url=server_url,
        api_key=api_key,
    )

    assert text.returncode == 0, text.stderr
    [line] = text.stdout.splitlines()
    assert "  [episodic, " in line
    assert line.endswith("] The user's favourite colour is green")
    assert 0 < float(line.split()[0]) <= 1
    memories = json.loads(as_json.stdout)
    assert memories[0]["content"] == "The user works at a bakery"
    assert {"confidence", "similarity", "recency", "frequency"} <= set(memories[0])


def test_inject_prints_the_context_within_the_budget(
    server_url: str, api_key: str, agent: Agent
) -> None:
    for content in (
        "User is migrating a Django app from MySQL to PostgreSQL",
        "User prefers concise answers",
    ):
        kronvex("remember", "assistant", content, server_url=server_url, api_key=api_key)

    done = kronvex(
        "inject",
        "assistant",
        "can you help with the database migration?",
        "--max-tokens",
        "20",
        server_url=server_url,
        api_key=api_key,
    )

    assert done.returncode == 0, done.stderr
    [line] = done.stdout.splitlines()
    assert line.startswith("[episodic, ")
    assert line.endswith("] User is migrating a Django app from MySQL to PostgreSQL")


def test_import_stores_good_lines_reports_bad_ones_and_fails(
    server_url: str, api_key: str, agent: Agent, tmp_path: Path
) -> None:
    lines = [
        json.dumps({"content": "User lives in Porto", "session_id": "user-42"}),
        json.dumps("User speaks Portuguese"),
        "{not json",
        "",
        json.dumps({"content": "User likes hiking", "type": "semantic"}),
        json.dumps({"text": "no content here"}),
        json.dumps({"content": ""}),
        json.dumps({"content": "User lives in Porto", "session_id": "user-42"}),
    ]
    source = tmp_path / "memories.jsonl"
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")

    done = kronvex(
        "import",
        "assistant",
        str(source),
        "--batch-size",
        "2",
        server_url=server_url,
        api_key=api_key,
    )

    assert done.returncode == 1
    assert done.stdout == ("imported 7 lines into assistant: 3 created, 1 deduplicated, 3 failed\n")
    errors = [line for line in done.stderr.splitlines() if line.startswith("line ")]
    assert errors[0].startswith("line 3: not valid JSON")
    assert errors[1] == "line 6: `content` is missing or not a string"
    assert errors[2].startswith("line 7: invalid_request: ")
    assert len(errors) == 3
    progress = [line for line in done.stderr.splitlines() if line.startswith("[")]
    assert progress[-1].startswith("[" + "#" * 24 + "] 7/7 lines")
    assert "/s  ETA " in progress[-1]
    contents = sorted(Memory.objects.filter(agent=agent).values_list("content", flat=True))
    assert contents == ["User likes hiking", "User lives in Porto", "User speaks Portuguese"]
    assert Memory.objects.get(content="User likes hiking").type == "semantic"


def test_import_of_a_clean_file_exits_zero(server_url: str, api_key: str, agent: Agent) -> None:
    done = kronvex(
        "import",
        "assistant",
        "-",
        "--session",
        "user-7",
        stdin='"First"\n"Second"\n',
        server_url=server_url,
        api_key=api_key,
    )

    assert done.returncode == 0, done.stderr
    assert "2 created, 0 deduplicated, 0 failed" in done.stdout
    assert set(Memory.objects.values_list("session_id", flat=True)) == {"user-7"}


def test_server_errors_print_code_and_detail_and_exit_1(
    server_url: str, api_key: str, agent: Agent
) -> None:
    missing = kronvex("recall", "nobody", "anything", server_url=server_url, api_key=api_key)
    bad_key = kronvex("recall", "assistant", "x", server_url=server_url, api_key="kv-wrong")

    assert missing.returncode == bad_key.returncode == 1
    assert missing.stderr == "error: agent_not_found: No agent 'nobody' in this account.\n"
    assert bad_key.stderr.startswith("error: invalid_api_key: ")
    assert missing.stdout == ""


def test_the_key_can_be_given_as_an_option(server_url: str, api_key: str, agent: Agent) -> None:
    done = kronvex(
        "remember",
        "assistant",
        "Given by option",
        "--api-key",
        api_key,
        server_url=server_url,
        api_key=None,
    )
    assert done.returncode == 0, done.stderr


def test_usage_errors_exit_2(server_url: str, api_key: str, tmp_path: Path) -> None:
    no_key = kronvex("recall", "assistant", "x", server_url=server_url, api_key=None)
    bad_metadata = kronvex(
        "remember", "a", "x", "--metadata", "[1]", server_url=server_url, api_key=api_key
    )
    no_file = kronvex(
        "import", "a", str(tmp_path / "nope.jsonl"), server_url=server_url, api_key=api_key
    )

    assert no_key.returncode == bad_metadata.returncode == no_file.returncode == 2
    assert "no API key" in no_key.stderr
    assert "must be a JSON object" in bad_metadata.stderr
    assert "cannot read" in no_file.stderr
