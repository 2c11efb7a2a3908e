"""The tutorial, end to end over real HTTP with the real local model and a restart."""

import re
from pathlib import Path

import pytest

from tests.system.processes import ApiClient, Processes, create_api_key

pytestmark = pytest.mark.slow

AGENT = "agents/my-langchain-agent"
CONTEXT_LINE = re.compile(r"^\[(episodic|semantic|procedural), \d{4}-\d{2}-\d{2}\] .+$")
# The first run of the whole suite may export the model to ONNX while starting.
FIRST_START_SECONDS = 300


def test_tutorial_remember_restart_recall_and_inject_context(
    processes: Processes, tmp_path: Path
) -> None:
    data_dir = tmp_path / "data"
    first = processes.service(data_dir, embedder="local").start(timeout=FIRST_START_SECONDS)
    assert first.health().json()["embedder"]["backend"] == "local"
    key = create_api_key(email="dev@example.com", agent="my-langchain-agent", env=first.env)
    api = ApiClient(first.url, key)

    def remember(content: str, memory_type: str, session_id: str) -> dict:
        memory = api.post(
            f"{AGENT}/remember",
            {"content": content, "type": memory_type, "session_id": session_id},
        )
        assert memory["status"] == "ready", memory
        assert memory["embedding_model"] == "all-MiniLM-L6-v2", memory
        return memory

    concise = remember("User prefers concise answers", "semantic", "user-42")
    python = remember("I mostly write Python", "semantic", "user-42")
    remember("The user is building an invoice parsing pipeline", "episodic", "user-42")
    remember("Deploys go out on Tuesdays after the team standup", "procedural", "user-42")
    # Another user of the same agent, with memories that would answer user-42's questions.
    other_user = [
        remember("User wants long, detailed answers with many examples", "semantic", "user-7"),
        remember("I am learning Rust and C++ for systems work", "episodic", "user-7"),
    ]
    other_ids = {memory["id"] for memory in other_user}
    assert first.stop() == 0, first.describe()

    second = processes.service(data_dir, embedder="local").start()
    api = ApiClient(second.url, key)

    anyone = api.post(f"{AGENT}/recall", {"query": "how should I answer?", "top_k": 3})["memories"]
    assert concise["id"] in [item["id"] for item in anyone], anyone

    scripting = api.post(
        f"{AGENT}/recall",
        {"query": "prefer scripting over compiled languages", "session_id": "user-42"},
    )["memories"]
    assert scripting[0]["content"] == "I mostly write Python", scripting
    assert scripting[0]["id"] == python["id"]
    assert not other_ids & {item["id"] for item in scripting}, scripting

    answering = api.post(
        f"{AGENT}/recall", {"query": "how should I answer?", "session_id": "user-42"}
    )["memories"]
    assert answering[0]["id"] == concise["id"], answering
    assert {item["session_id"] for item in answering} == {"user-42"}, answering

    injected = api.post(
        f"{AGENT}/inject-context", {"query": "how should I answer?", "session_id": "user-42"}
    )
    lines = injected["context"].splitlines()
    assert lines, injected
    for line in lines:
        assert CONTEXT_LINE.match(line), line
    assert lines[0].endswith("] User prefers concise answers"), lines
    assert injected["memories_used"] == len(lines) == len(injected["memories"])
    assert {item["session_id"] for item in injected["memories"]} == {"user-42"}
    for memory in other_user:
        assert memory["content"] not in injected["context"]
    assert second.stop() == 0, second.describe()
