"""A memory holding HTML or script is inert wherever it is shown: escaped in every page,
JSON (never HTML) from the playground, and a download, never a page, when exported."""

from __future__ import annotations

import csv
import io
import json
from html.parser import HTMLParser
from typing import Any

import pytest
from django.urls import reverse

from memories import services
from memories.models import Memory
from tests.dashboard.conftest import Owner

pytestmark = pytest.mark.django_db

PAYLOAD = "<script>alert(1)</script><img src=x onerror=alert(1)>"
ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;"


class Elements(HTMLParser):
    """The elements a browser would build from a page: (tag, attributes)."""

    def __init__(self) -> None:
        super().__init__()
        self.elements: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, dict(attrs)))


def assert_inert(html: str) -> None:
    parser = Elements()
    parser.feed(html)
    parser.close()
    for tag, attributes in parser.elements:
        assert not (tag == "img" and attributes.get("src") == "x"), attributes
        assert "onerror" not in attributes, (tag, attributes)
        assert not (tag == "script" and not attributes.get("src") and not attributes.get("type"))
    assert "<script>alert(1)" not in html


@pytest.fixture
def planted(owner: Owner) -> Memory:
    """A memory whose content, metadata and session id are all the payload, in an agent
    whose name is the payload too."""
    owner.agent.name = PAYLOAD
    owner.agent.save(update_fields=["name"])
    return services.remember(
        agent=owner.agent,
        content=PAYLOAD,
        session_id=PAYLOAD,
        metadata={"note": PAYLOAD, PAYLOAD: 1},
        memory_type="semantic",
    )


def page_paths(owner: Owner, memory: Memory) -> list[tuple[str, dict[str, Any]]]:
    agent = f"/dashboard/agents/{owner.agent.slug}/"
    return [
        ("/dashboard/", {}),
        ("/dashboard/agents/", {}),
        (agent, {}),  # the memory browser
        (agent, {"session": PAYLOAD}),  # filtered by the session
        (agent, {"query": "alert", "top_k": 5}),  # "test a query": recall's results
        (agent, {"q": "alert"}),  # searched by its words
        (f"{agent}memories/{memory.uuid}/", {}),
        (f"{agent}memories/{memory.uuid}/delete/", {}),
        (f"{agent}sessions/clear/", {"session": PAYLOAD}),
        (f"{agent}edit/", {}),
        (f"{agent}delete/", {}),
        (f"{agent}playground/", {}),
    ]


def test_every_page_shows_the_payload_as_text(owner: Owner, planted: Memory) -> None:
    for path, query in page_paths(owner, planted):
        response = owner.client.get(path, query)
        assert response.status_code == 200, path
        html = response.content.decode()
        assert_inert(html)
        assert response["Content-Security-Policy"].startswith("default-src 'self'")
    # Where the payload is shown at all, it is shown escaped.
    detail = owner.client.get(f"/dashboard/agents/{owner.agent.slug}/memories/{planted.uuid}/")
    assert ESCAPED in detail.content.decode()
    clear = owner.client.get(
        f"/dashboard/agents/{owner.agent.slug}/sessions/clear/", {"session": PAYLOAD}
    )
    assert ESCAPED in clear.content.decode()
    assert ESCAPED in owner.client.get("/dashboard/agents/").content.decode()


def test_the_playground_answers_json_that_browsers_will_not_sniff_as_html(
    owner: Owner, planted: Memory
) -> None:
    url = reverse("dashboard:playground-call", args=[owner.agent.slug, "recall"])

    response = owner.client.post(
        url, {"query": "alert", "top_k": 5, "session_id": PAYLOAD}, content_type="application/json"
    )

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert [memory["content"] for memory in response.json()["memories"]] == [PAYLOAD]


@pytest.mark.parametrize(
    ("fmt", "content_type"), [("json", "application/json"), ("csv", "text/csv; charset=utf-8")]
)
def test_exports_are_downloads_never_pages(
    owner: Owner, planted: Memory, fmt: str, content_type: str
) -> None:
    response = owner.client.get(f"/dashboard/agents/{owner.agent.slug}/export.{fmt}")

    assert response.status_code == 200
    assert response["Content-Type"] == content_type
    assert response["Content-Disposition"].startswith("attachment; filename=")
    assert response["X-Content-Type-Options"] == "nosniff"
    body = response.getvalue().decode()
    # The file holds what was remembered, byte for byte: it is data, not a page.
    if fmt == "json":
        contents = [memory["content"] for memory in json.loads(body)["memories"]]
    else:
        contents = [row["content"] for row in csv.DictReader(io.StringIO(body))]
    assert PAYLOAD in contents


@pytest.mark.parametrize("start", ["=", "+", "-", "@"])
def test_csv_export_cells_never_start_a_formula(owner: Owner, start: str) -> None:
    formula = f'{start}HYPERLINK("http://evil.example","x")'
    services.remember(agent=owner.agent, content=formula, session_id=formula)

    response = owner.client.get(f"/dashboard/agents/{owner.agent.slug}/export.csv")

    rows = list(csv.DictReader(io.StringIO(response.getvalue().decode())))
    planted = [row for row in rows if row["content"].endswith(formula)]
    assert [(row["content"], row["session_id"]) for row in planted] == [
        ("'" + formula, "'" + formula)
    ]
