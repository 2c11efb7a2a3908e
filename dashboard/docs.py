"""The documentation pages: Markdown files in docs/, rendered once per change."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import markdown
from django.conf import settings
from django.utils.safestring import SafeString, mark_safe

DOCS_DIR = Path(settings.BASE_DIR) / "docs"
# Slug in the URL -> file, in the order the navigation lists them.
PAGES = {
    "quickstart": "quickstart.md",
    "concepts": "concepts.md",
    "api": "api.md",
    "python-client": "python-client.md",
    "mcp": "mcp.md",
    "webhooks": "webhooks.md",
    "integrations": "integrations.md",
    "self-hosting": "self-hosting.md",
    "configuration": "configuration.md",
}


class DocNotFound(Exception):
    pass


@dataclass(frozen=True)
class Doc:
    slug: str
    title: str
    html: SafeString
    toc: SafeString


def doc_get(slug: str) -> Doc:
    filename = PAGES.get(slug)
    if filename is None:
        raise DocNotFound(slug)
    path = DOCS_DIR / filename
    try:
        mtime = path.stat().st_mtime_ns
    except FileNotFoundError:
        raise DocNotFound(slug) from None
    return _render(slug, path, mtime)


def doc_index() -> list[tuple[str, str]]:
    """(slug, title) of every page whose file exists, in navigation order."""
    index = []
    for slug in PAGES:
        try:
            index.append((slug, doc_get(slug).title))
        except DocNotFound:
            # A page registered before its file is written is left out, not an error.
            continue
    return index


@functools.lru_cache(maxsize=16)
def _render(slug: str, path: Path, mtime: int) -> Doc:
    text = path.read_text(encoding="utf-8")
    first, _, rest = text.partition("\n")
    title = first.lstrip("#").strip() if first.startswith("# ") else slug.title()
    body = rest if first.startswith("# ") else text
    converter = markdown.Markdown(
        extensions=["fenced_code", "tables", "toc", "sane_lists"],
        extension_configs={"toc": {"toc_depth": "2-3"}},
        output_format="html",
    )
    # The docs are the project's own files, not user input.
    html = mark_safe(converter.convert(body))  # noqa: S308
    toc = mark_safe(getattr(converter, "toc", ""))  # noqa: S308
    return Doc(slug=slug, title=title, html=html, toc=toc)
