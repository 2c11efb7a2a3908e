"""`manage.py reembed` gives memories vectors of the configured model after the model changed:
resumable, failures marked and reported, other agents untouched."""

import _thread
import io
import signal
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from billing.models import Account
from billing.services import account_get_or_create_for_email
from memories import services
from memories.embedding import FAKE_MODEL_NAME, get_embedder, reset_embedder
from memories.models import Agent, EmbeddingStatus, Memory
from memories.vector_cache import get_vector_cache
from tests.fakes.openai_server import FakeEmbeddingServer

pytestmark = pytest.mark.django_db

TEXTS = [
    "The user lives in Lyon with two cats",
    "Deploys go out on Tuesdays after the review",
    "Prefers tea over coffee in the afternoon",
    "Runs the migrations before restarting workers",
    "Sister works as a nurse in Porto",
]


class ProviderServer(FakeEmbeddingServer):
    """The loopback OpenAI-compatible endpoint; it answers texts holding "poison" with
    vectors of the wrong size (so the client refuses them), and presses Ctrl-C in the
    test's process on request number `interrupt_on`."""

    def __init__(self) -> None:
        super().__init__(default_dimensions=8)
        self.interrupt_on: int | None = None

    def _answer(self, body: dict[str, Any], *, wrong: bool) -> dict[str, Any]:
        if self.interrupt_on is not None and len(self.requests) == self.interrupt_on:
            # Ctrl-C as the interpreter delivers it: KeyboardInterrupt in the main thread.
            _thread.interrupt_main(signal.SIGINT)
        poisoned = any("poison" in text for text in body.get("input", []))
        return super()._answer(body, wrong=wrong or poisoned)


@pytest.fixture
def provider() -> Iterator[ProviderServer]:
    with ProviderServer() as server:
        yield server
    reset_embedder()


def use_provider(settings: Any, server: ProviderServer, model: str) -> None:
    settings.KRONVEX_EMBEDDER = "openai"
    settings.KRONVEX_EMBEDDING_BASE_URL = server.base_url
    settings.KRONVEX_EMBEDDING_MODEL = model
    settings.KRONVEX_EMBEDDING_DIMENSIONS = 8
    settings.KRONVEX_EMBEDDING_MAX_RETRIES = 0
    settings.KRONVEX_EMBEDDING_TIMEOUT = 5.0
    reset_embedder()


def use_fake(settings: Any) -> None:
    settings.KRONVEX_EMBEDDER = "fake"
    reset_embedder()


def embedded_memories(agent: Agent, texts: list[str]) -> list[Memory]:
    """Memories of the agent with vectors of the model configured now."""
    memories = [
        Memory.objects.create(account=agent.account, agent=agent, content=text) for text in texts
    ]
    assert services.memories_embed(memory_ids=[memory.pk for memory in memories]) == len(texts)
    return memories


def reembed(*args: str) -> tuple[str, str]:
    stdout, stderr = io.StringIO(), io.StringIO()
    call_command("reembed", *args, stdout=stdout, stderr=stderr)
    return stdout.getvalue(), stderr.getvalue()


def state(memories: list[Memory]) -> list[tuple[str, str, int]]:
    """(status, model, vector version) of each memory, as stored now."""
    rows = Memory.objects.in_bulk([memory.pk for memory in memories])
    return [
        (rows[m.pk].status, rows[m.pk].embedding_model, rows[m.pk].vector_version) for m in memories
    ]


@pytest.fixture
def other_account(db: None) -> Account:
    return account_get_or_create_for_email(email="other@example.com")[0]


@pytest.fixture
def agents(account: Account, other_account: Account) -> dict[str, Agent]:
    return {
        "helper": services.agent_create(account=account, slug="helper", name="Helper"),
        "sibling": services.agent_create(account=account, slug="sibling", name="Sibling"),
        "stranger": services.agent_create(account=other_account, slug="helper", name="Other"),
    }


@pytest.fixture
def old_model_memories(
    settings: Any, provider: ProviderServer, agents: dict[str, Agent]
) -> dict[str, list[Memory]]:
    """Each agent's memories embedded by "old-model"; then the server is switched to the
    fake embedder, the new model."""
    use_provider(settings, provider, model="old-model")
    made = {slug: embedded_memories(agent, TEXTS) for slug, agent in agents.items()}
    use_fake(settings)
    return made


def test_reembed_agent_gives_its_memories_the_new_model_and_recall_finds_them_again(
    agents, old_model_memories
):
    helper = agents["helper"]
    assert services.recall(agent=helper, query=TEXTS[2]) == []
    sibling_before = state(old_model_memories["sibling"])
    stranger_before = state(old_model_memories["stranger"])

    stdout, stderr = reembed("--agent", "helper", "--account", "owner@example.com")

    stored = Memory.objects.filter(agent=helper)
    assert {(m.status, m.embedding_model, len(m.embedding)) for m in stored} == {
        (EmbeddingStatus.READY, FAKE_MODEL_NAME, 384)
    }
    found = services.recall(agent=helper, query=TEXTS[2], top_k=1)
    assert [item.memory.content for item in found] == [TEXTS[2]]
    assert found[0].score.vector == pytest.approx(1.0, abs=1e-5)
    assert state(old_model_memories["sibling"]) == sibling_before
    assert state(old_model_memories["stranger"]) == stranger_before
    assert "Marked 5 memories of agent helper" in stdout
    assert f"Embedded 5 memories again with {FAKE_MODEL_NAME}, 0 failed" in stdout
    assert "5/5 (100.0%)" in stderr


def test_reembed_finds_the_agent_and_account_by_uuid(agents, old_model_memories):
    helper = agents["helper"]

    reembed("--agent", str(helper.uuid), "--account", str(helper.account.uuid))

    assert set(Memory.objects.filter(agent=helper).values_list("embedding_model", flat=True)) == {
        FAKE_MODEL_NAME
    }


def test_reembed_all_covers_every_agent_of_every_account(agents, old_model_memories):
    stdout, _ = reembed("--all")

    assert set(Memory.objects.values_list("status", "embedding_model")) == {
        (EmbeddingStatus.READY, FAKE_MODEL_NAME)
    }
    assert "Embedded 15 memories again" in stdout
    for agent in agents.values():
        assert [
            m.memory.content for m in services.recall(agent=agent, query=TEXTS[0], top_k=1)
        ] == [TEXTS[0]]


def test_marking_gives_the_agents_new_vector_versions_as_a_deletion_does(
    agents, old_model_memories
):
    helper, sibling = agents["helper"], agents["sibling"]
    sibling.refresh_from_db()
    sibling_versions = (sibling.vector_version, sibling.vector_pruned_version)

    marked = services.memories_reembed_mark(agent=helper, force=False, chunk_size=2)

    assert marked == 5
    helper.refresh_from_db()
    sibling.refresh_from_db()
    assert helper.vector_pruned_version == helper.vector_version > 0
    assert max(version for *_, version in state(old_model_memories["helper"])) < (
        helper.vector_version
    )
    assert (sibling.vector_version, sibling.vector_pruned_version) == sibling_versions
    assert set(Memory.objects.filter(agent=helper).values_list("status", flat=True)) == {
        EmbeddingStatus.PENDING
    }
    # Meanwhile they are found by their words.
    found = services.recall(agent=helper, query="where does the user live", top_k=1)
    assert [item.memory.content for item in found] == [TEXTS[0]]


def cached_neighbours(agent: Agent) -> set[int]:
    """The ids the process's copy of the agent's vectors answers with, refreshed first."""
    embedder = get_embedder()
    found = get_vector_cache().nearest(
        agent=agent,
        model_name=embedder.model_name,
        dimensions=embedder.dimensions,
        query=embedder.embed(["cats"])[0],
        limit=50,
        now=timezone.now(),
    )
    assert found is not None
    return {item.memory_id for item in found.neighbours}


@pytest.mark.django_db(transaction=True)
def test_the_process_copy_of_the_vectors_follows_the_marking_and_the_new_vectors(
    agents, fake_embedder
):
    helper = agents["helper"]
    memories = embedded_memories(helper, TEXTS)
    assert cached_neighbours(helper) == {memory.pk for memory in memories}

    services.memories_reembed_mark(agent=helper, force=True)

    assert cached_neighbours(helper) == set()
    while services.memories_reembed_batch(agent=helper, batch_size=2):
        pass
    assert cached_neighbours(helper) == {memory.pk for memory in memories}


def test_reembed_leaves_vectors_of_the_current_model_alone_unless_forced(agents, fake_embedder):
    memories = embedded_memories(agents["helper"], TEXTS)
    before = state(memories)

    stdout, _ = reembed("--agent", "helper", "--account", "owner@example.com")

    assert state(memories) == before
    assert "Embedded 0 memories again" in stdout

    stdout, _ = reembed("--agent", "helper", "--account", "owner@example.com", "--force")

    after = state(memories)
    assert [(status, model) for status, model, _ in after] == [
        (EmbeddingStatus.READY, FAKE_MODEL_NAME)
    ] * len(TEXTS)
    assert all(new > old for (*_, new), (*_, old) in zip(after, before, strict=True))
    assert "Embedded 5 memories again" in stdout


def test_dry_run_counts_and_changes_nothing(agents, old_model_memories):
    everything = [memory for memories in old_model_memories.values() for memory in memories]
    before = state(everything)

    agent_out, _ = reembed("--agent", "helper", "--account", "owner@example.com", "--dry-run")
    all_out, _ = reembed("--all", "--dry-run")

    assert agent_out == (
        "Would embed 5 memories of agent helper (owner@example.com) "
        f"again with {FAKE_MODEL_NAME}.\n"
    )
    assert all_out.startswith("Would embed 15 memories of every agent again")
    assert state(everything) == before


def test_an_interrupted_run_is_finished_by_the_next_without_doing_anything_twice(
    agents, old_model_memories
):
    helper = agents["helper"]
    services.memories_reembed_mark(agent=helper, force=False)
    first = services.memories_reembed_batch(agent=helper, batch_size=2)
    assert first is not None
    assert (first.size, first.embedded, first.failures) == (2, 2, {})
    done_first = state(old_model_memories["helper"])[:2]

    stdout, _ = reembed("--agent", "helper", "--account", "owner@example.com", "--batch-size", "2")

    assert "Marked 0 memories" in stdout
    assert "Embedded 3 memories again" in stdout
    assert state(old_model_memories["helper"])[:2] == done_first
    assert {model for _, model, _ in state(old_model_memories["helper"])} == {FAKE_MODEL_NAME}


@pytest.fixture
def ctrl_c_raises() -> Iterator[None]:
    """Ctrl-C as in a terminal (KeyboardInterrupt), whatever an earlier test in this process
    left SIGINT set to."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def test_ctrl_c_stops_cleanly_and_the_next_run_goes_on(
    settings, provider, agents, fake_embedder, ctrl_c_raises
):
    memories = embedded_memories(agents["helper"], TEXTS)
    use_provider(settings, provider, model="new-model")
    provider.interrupt_on = 3

    with pytest.raises(CommandError) as stopped:
        reembed("--agent", "helper", "--account", "owner@example.com", "--batch-size", "1")

    assert stopped.value.returncode == 130
    assert "Interrupted after embedding 2 memories" in str(stopped.value)
    assert "without --force" in str(stopped.value)
    assert [status for status, *_ in state(memories)] == ["ready", "ready", *["pending"] * 3]
    done_first = state(memories)[:2]

    provider.interrupt_on = None
    provider.requests.clear()
    stdout, _ = reembed("--agent", "helper", "--account", "owner@example.com")

    assert "Embedded 3 memories again with new-model" in stdout
    assert state(memories)[:2] == done_first
    assert [request["body"]["input"] for request in provider.requests] == [TEXTS[2:]]
    assert {(status, model) for status, model, _ in state(memories)} == {("ready", "new-model")}


def test_a_memory_the_provider_refuses_is_marked_failed_and_reported_and_the_rest_go_on(
    settings, provider, agents, fake_embedder
):
    texts = [*TEXTS[:2], "a poison pill", *TEXTS[2:]]
    memories = embedded_memories(agents["helper"], texts)
    use_provider(settings, provider, model="new-model")

    stdout = io.StringIO()
    with pytest.raises(CommandError) as refused:
        call_command("reembed", "--all", "--batch-size", "3", stdout=stdout, stderr=io.StringIO())

    assert refused.value.returncode == 1
    assert "1 memories could not be embedded and are marked failed" in str(refused.value)
    assert "Embedded 5 memories again with new-model, 1 failed" in stdout.getvalue()
    assert "returned 9-dimensional vectors" in stdout.getvalue()
    poisoned = Memory.objects.get(pk=memories[2].pk)
    assert poisoned.status == EmbeddingStatus.FAILED
    assert "9-dimensional" in poisoned.embedding_error
    assert [(status, model) for i, (status, model, _) in enumerate(state(memories)) if i != 2] == [
        ("ready", "new-model")
    ] * 5


def test_the_next_run_retries_failed_memories(settings, provider, agents, fake_embedder):
    memories = embedded_memories(agents["helper"], TEXTS)
    Memory.objects.filter(pk=memories[0].pk).update(
        status=EmbeddingStatus.FAILED, embedding_error="provider down"
    )

    stdout, _ = reembed("--all")

    assert "Embedded 1 memories again" in stdout
    assert state(memories)[0][:2] == (EmbeddingStatus.READY, FAKE_MODEL_NAME)
    assert Memory.objects.get(pk=memories[0].pk).embedding_error == ""


def test_progress_is_rewritten_in_place_on_a_terminal(agents, old_model_memories):
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    terminal = Terminal()
    call_command("reembed", "--all", stdout=io.StringIO(), stderr=terminal)

    assert terminal.getvalue().startswith("\r")
    assert "15/15 (100.0%)" in terminal.getvalue()
    assert terminal.getvalue().endswith("\n")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "Say which memories to embed again"),
        (["--all", "--agent", "helper", "--account", "owner@example.com"], "not both"),
        (["--agent", "helper"], "--agent needs --account"),
        (["--account", "owner@example.com"], "Say which memories"),
        (["--agent", "nobody", "--account", "owner@example.com"], "No agent 'nobody'"),
        (["--agent", "helper", "--account", "nobody@example.com"], "No account owned by"),
        (["--all", "--batch-size", "0"], "--batch-size must be 1 or more"),
    ],
)
def test_bad_arguments_are_refused(agents, fake_embedder, args, message):
    with pytest.raises(CommandError, match=message):
        reembed(*args)


def test_another_accounts_agent_is_not_found_by_its_uuid(agents, fake_embedder):
    stranger = agents["stranger"]

    with pytest.raises(CommandError, match="No agent"):
        reembed("--agent", str(stranger.uuid), "--account", "owner@example.com")
