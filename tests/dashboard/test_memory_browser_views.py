from __future__ import annotations

import csv
import io
import json
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from memories import services
from memories.models import Memory
from tests.dashboard.conftest import Owner

SCRIPT = '<script>alert("x")</script><b>bold</b>'


@pytest.fixture
def browser_url(owner: Owner) -> str:
    return f"/dashboard/agents/{owner.agent.slug}/"


def _remember(owner: Owner, content: str, **fields: object) -> Memory:
    return services.remember(agent=owner.agent, content=content, **fields)


def test_browser_pages_through_memories_fifty_at_a_time(owner: Owner, browser_url: str) -> None:
    now = timezone.now()
    Memory.objects.bulk_create(
        Memory(
            account=owner.account,
            agent=owner.agent,
            content=f"note number {index:03d}",
            created_at=now - timedelta(minutes=index),
        )
        for index in range(60)
    )

    first = owner.client.get(browser_url)
    second = owner.client.get(browser_url, {"page": 2})

    assert first.context["total"] == 61
    assert len(first.context["page"].object_list) == 50
    assert "Page 1 of 2" in first.content.decode()
    assert "note number 000" in first.content.decode()
    assert len(second.context["page"].object_list) == 11
    assert "note number 059" in second.content.decode()
    past_the_end = owner.client.get(browser_url, {"page": 5})
    assert past_the_end.context["page"].number == 2
    assert len(past_the_end.context["page"].object_list) == 11


def test_search_filters_and_sorts(owner: Owner, browser_url: str) -> None:
    _remember(owner, "Ada drinks coffee", session_id="user-1", memory_type="episodic")
    popular = _remember(owner, "Ada likes chess", session_id="user-2", memory_type="semantic")
    Memory.objects.filter(pk=popular.pk).update(access_count=9)

    def contents(**params: object) -> list[str]:
        response = owner.client.get(browser_url, params)
        assert response.status_code == 200
        return [memory.content for memory in response.context["page"].object_list]

    assert contents(q="coffee") == ["Ada drinks coffee"]
    assert contents(q="COFFEE") == ["Ada drinks coffee"]
    assert contents(type="episodic") == ["Ada drinks coffee"]
    assert contents(session="user-2") == ["Ada likes chess"]
    assert contents(sort="oldest")[0] == "The user's name is Ada"
    assert contents(sort="most_used")[0] == "Ada likes chess"
    assert contents(q="Ada", type="semantic", session="user-2") == ["Ada likes chess"]
    assert contents(q="nothing like this") == []


def test_nonsense_filters_fall_back_to_the_defaults(owner: Owner, browser_url: str) -> None:
    response = owner.client.get(
        browser_url, {"type": "bogus", "sort": "sideways", "page": "-3", "q": "x" * 5000}
    )
    assert response.status_code == 200
    assert len(response.context["page"].object_list) == 1
    far = owner.client.get(browser_url, {"page": 999999})
    assert far.status_code == 200
    assert far.context["page"].number == 1
    past_the_end = owner.client.get(browser_url, {"page": 7})
    assert past_the_end.context["page"].number == 1
    assert [m.content for m in past_the_end.context["page"].object_list] == [
        "The user's name is Ada"
    ]


def test_memory_content_is_shown_as_text_everywhere(owner: Owner, browser_url: str) -> None:
    memory = _remember(owner, SCRIPT, metadata={"note": SCRIPT})
    pages = [
        owner.client.get(browser_url).content.decode(),
        owner.client.get(f"{browser_url}memories/{memory.uuid}/").content.decode(),
        owner.client.get(f"{browser_url}memories/{memory.uuid}/delete/").content.decode(),
        owner.client.get(browser_url, {"query": "alert", "top_k": 5}).content.decode(),
    ]
    for page in pages:
        assert "<script>alert" not in page
        assert "<b>bold</b>" not in page
        assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page


def test_memory_detail_shows_everything_about_it(owner: Owner, browser_url: str) -> None:
    memory = _remember(
        owner,
        "Prefers the metric system",
        memory_type="semantic",
        session_id="user-9",
        metadata={"source": "chat", "turn": 4},
    )
    Memory.objects.filter(pk=memory.pk).update(access_count=3)

    response = owner.client.get(f"{browser_url}memories/{memory.uuid}/")

    page = response.content.decode()
    assert response.status_code == 200
    for expected in (
        "Prefers the metric system",
        str(memory.uuid),
        "semantic",
        "user-9",
        "&quot;source&quot;: &quot;chat&quot;",
        "3 times",
        "Confidence parts now",
    ):
        assert expected in page, expected
    assert response.context["recency"] == 1.0  # semantic memories do not fade
    assert 0 < response.context["frequency"] < 1


def test_test_a_query_shows_recall_scores_without_counting_use(
    owner: Owner, browser_url: str
) -> None:
    response = owner.client.get(browser_url, {"query": "what is the user called?", "top_k": 3})

    assert response.status_code == 200
    recalled = response.context["recalled"]
    assert [item.memory.content for item in recalled] == ["The user's name is Ada"]
    assert "Confidence" in response.content.decode()
    assert Memory.objects.get(pk=owner.memory.pk).access_count == 0


def test_test_a_query_with_bad_input_shows_the_error(owner: Owner, browser_url: str) -> None:
    response = owner.client.get(browser_url, {"query": "", "top_k": 500})
    assert response.status_code == 200
    assert response.context["recalled"] is None
    assert response.context["query_form"].errors.keys() == {"query", "top_k"}


def test_delete_one_memory_after_confirming(owner: Owner, browser_url: str) -> None:
    url = f"{browser_url}memories/{owner.memory.uuid}/delete/"
    assert "Delete this memory?" in owner.client.get(url).content.decode()
    assert Memory.objects.filter(pk=owner.memory.pk).exists()

    response = owner.client.post(url, follow=True)

    assert "Memory deleted." in response.content.decode()
    assert not Memory.objects.filter(pk=owner.memory.pk).exists()
    assert owner.client.get(f"{browser_url}memories/{owner.memory.uuid}/").status_code == 404


def test_delete_selected_memories_after_confirming(owner: Owner, browser_url: str) -> None:
    keep = _remember(owner, "Keep me")
    drop = _remember(owner, "Drop me")
    url = f"{browser_url}memories/delete/"
    chosen = {"memory": [str(owner.memory.uuid), str(drop.uuid), "not-a-uuid"]}

    confirm = owner.client.post(url, chosen)
    assert confirm.status_code == 200
    assert "Delete 2 memories?" in confirm.content.decode()
    assert Memory.objects.filter(agent=owner.agent).count() == 3

    response = owner.client.post(url, {**chosen, "confirm": "yes"}, follow=True)

    assert "Deleted 2 memories." in response.content.decode()
    assert list(Memory.objects.filter(agent=owner.agent)) == [keep]


def test_delete_selected_with_nothing_selected_says_so(owner: Owner, browser_url: str) -> None:
    response = owner.client.post(f"{browser_url}memories/delete/", {}, follow=True)
    assert "Select at least one memory to delete." in response.content.decode()
    assert Memory.objects.filter(agent=owner.agent).count() == 1


def test_clear_a_session_after_confirming(owner: Owner, browser_url: str) -> None:
    for index in range(3):
        _remember(owner, f"session note {index}", session_id="user-7")
    url = f"{browser_url}sessions/clear/"

    confirm = owner.client.get(url, {"session": "user-7"})
    assert "3 memories" in confirm.content.decode()
    assert owner.client.get(url, {"session": "nobody"}).status_code == 404

    response = owner.client.post(url, {"session": "user-7"}, follow=True)

    assert "3 memories deleted" in response.content.decode()
    assert not Memory.objects.filter(session_id="user-7").exists()
    assert Memory.objects.filter(pk=owner.memory.pk).exists()


def test_export_json_holds_every_memory(owner: Owner, browser_url: str) -> None:
    second = _remember(owner, "Second, with metadata", metadata={"k": [1, 2]})

    response = owner.client.get(f"{browser_url}export.json")

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response["Content-Disposition"].startswith('attachment; filename="kronvex-support-bot-')
    data = json.loads(b"".join(response.streaming_content))
    assert data["agent"] == "support-bot"
    assert [m["id"] for m in data["memories"]] == [str(owner.memory.uuid), str(second.uuid)]
    assert data["memories"][1]["metadata"] == {"k": [1, 2]}


def test_export_csv_is_spreadsheet_safe(owner: Owner, browser_url: str) -> None:
    _remember(owner, '=HYPERLINK("http://evil")', session_id="s-1")

    response = owner.client.get(f"{browser_url}export.csv")

    assert response["Content-Type"] == "text/csv; charset=utf-8"
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [row["content"] for row in rows] == [
        "The user's name is Ada",
        '\'=HYPERLINK("http://evil")',
    ]
    assert rows[1]["session_id"] == "s-1"
    assert json.loads(rows[0]["metadata"]) == {}


def test_browser_needs_login(owner: Owner, browser_url: str) -> None:
    for path in (browser_url, f"{browser_url}export.json"):
        response = Client().get(path)
        assert response.status_code == 302
        assert response["Location"].startswith("/accounts/login/?next=")
