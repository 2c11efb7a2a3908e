"""Every docs page renders, lists every page in its navigation, and every internal link
in the docs leads somewhere that exists."""

from __future__ import annotations

from html.parser import HTMLParser
from urllib.parse import urldefrag, urlsplit

import pytest
from django.test import Client

from dashboard import docs


class _Page(HTMLParser):
    """The links and the element ids of an HTML page."""

    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []
        self.ids: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if attributes.get("id"):
            self.ids.add(str(attributes["id"]))
        if tag == "a" and attributes.get("href"):
            self.links.append(str(attributes["href"]))


def _parse(html: str) -> _Page:
    page = _Page()
    page.feed(html)
    return page


def _article(html: str) -> str:
    """The rendered Markdown of a docs page, without the site's header and footer."""
    start = html.index('<article class="prose">')
    return html[start : html.index("</article>", start)]


def _written_pages() -> list[str]:
    """The registered pages whose file exists (test_every_registered_page_renders
    reports the others)."""
    return [slug for slug, filename in docs.PAGES.items() if (docs.DOCS_DIR / filename).exists()]


@pytest.mark.parametrize("slug", list(docs.PAGES))
def test_every_registered_page_renders(client: Client, db: None, slug: str) -> None:
    response = client.get(f"/docs/{slug}/")
    assert response.status_code == 200, f"/docs/{slug}/ answers {response.status_code}"
    navigation = _parse(response.content.decode()).links
    for other in _written_pages():
        assert f"/docs/{other}/" in navigation, f"/docs/{slug}/ does not link to {other}"


def test_docs_index_is_the_first_page(client: Client, db: None) -> None:
    first = next(iter(docs.PAGES))
    assert client.get("/docs/").content == client.get(f"/docs/{first}/").content


def test_registered_page_without_its_file_answers_404_and_others_still_render(
    client: Client, db: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(docs.PAGES, "draft", "no-such-page.md")
    assert client.get("/docs/draft/").status_code == 404
    response = client.get("/docs/quickstart/")
    assert response.status_code == 200
    assert "/docs/draft/" not in _parse(response.content.decode()).links


def test_every_internal_link_in_the_docs_resolves(client: Client, db: None) -> None:
    pages = {slug: client.get(f"/docs/{slug}/").content.decode() for slug in _written_pages()}
    ids = {slug: _parse(html).ids for slug, html in pages.items()}
    broken = []
    for slug, html in pages.items():
        for link in _parse(_article(html)).links:
            if urlsplit(link).scheme or link.startswith("//"):
                continue  # another site
            path, fragment = urldefrag(link)
            if not path:
                target = slug
            elif path.startswith("/docs/"):
                target = path.removeprefix("/docs/").strip("/") or next(iter(docs.PAGES))
                if target not in docs.PAGES:
                    broken.append(f"{slug}: {link} (no such page)")
                    continue
            else:
                status = client.get(path).status_code
                if status >= 400:
                    broken.append(f"{slug}: {link} answers {status}")
                continue
            if target not in pages:
                continue  # registered, its file not written yet: reported above
            if fragment and fragment not in ids[target]:
                broken.append(f"{slug}: {link} (no #{fragment} on /docs/{target}/)")
    assert broken == []
