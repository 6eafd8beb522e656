"""Reading a run page (``claimsync report``) as a browser would: what it loads, what it shows."""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path


class Page(HTMLParser):
    """What a browser would load from the page, and its text."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, {k: v or "" for k, v in attrs}))

    handle_startendtag = handle_starttag

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    @classmethod
    def of(cls, path: Path) -> tuple[Page, str]:
        html = path.read_text(encoding="utf-8")
        return cls.parse(html), html

    def charts(self) -> list[dict[str, str]]:
        images = [a for t, a in self.tags if t == "img" and a.get("src", "").startswith("data:image/")]
        return images + [a for t, a in self.tags if t == "svg"]

    def loads(self) -> list[str]:
        """Every attribute that would make a browser fetch something that is not in the page."""
        fetched = []
        for tag, attrs in self.tags:
            for name in ("src", "href", "srcset", "data", "poster", "action", "background"):
                value = attrs.get(name, "").strip()
                if value and not value.startswith(("data:", "#")):
                    fetched.append(f"<{tag} {name}={value[:60]}>")
            if tag in ("script", "link", "iframe", "object", "embed", "base"):
                fetched.append(f"<{tag}>")
            if "url(" in attrs.get("style", ""):
                fetched.append(f"<{tag} style=url(...)>")
        return fetched

    @classmethod
    def parse(cls, html: str) -> Page:
        page = cls()
        page.feed(html)
        page.close()
        return page

    def plain_text(self) -> str:
        """The visible text, whitespace collapsed (table cells separated by one space)."""
        return " ".join(" ".join(self.text).split())
