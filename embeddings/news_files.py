"""News as it is saved from the web: HTML article pages (trafilatura) and RSS/Atom feeds (feedparser).

Both libraries do the parsing, so menus, share buttons, related links, cookie banners, comments and
footers are dropped by a maintained extractor, not by rules of ours that each site would break.
This module gives the text and metadata; ``embeddings.corpus`` makes documents of them (it imports
this module, so this one knows nothing of documents).
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from datetime import date, datetime
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING

import feedparser
import trafilatura
from trafilatura.settings import set_date_params

if TYPE_CHECKING:
    from lxml.html import HtmlElement

NO_ARTICLE_TEXT = "no article text could be extracted from the page"
_DECLARED_LANGS = ("kk", "ru", "en")  # a declared language we trust; any other is detected from the text
_HTML_TYPES = ("text/html", "application/xhtml+xml")


@dataclass(frozen=True)
class Page:
    """What trafilatura found in a page: the main text (paragraphs on lines) and its metadata."""

    text: str
    title: str | None
    date: str | None  # YYYY-MM-DD
    lang: str | None  # kk, ru or en when the page declares one of them
    url: str | None  # the page's canonical or og:url


@dataclass(frozen=True)
class FeedEntry:
    """One entry of a feed: its text (content, else summary; "" when it has neither) and metadata."""

    name: str  # for messages: the title, id or link
    key: str  # 16 hex of sha256 of the entry's id, else link, else text: the same entry, the same key
    text: str
    title: str | None
    date: str | None  # YYYY-MM-DD, published else updated
    lang: str | None  # kk, ru or en when the entry or the feed declares one of them
    link: str | None


def declared_lang(value: str | None) -> str | None:
    """kk, ru or en from a declared language ("ru-KZ", "kk"); None for any other, so it is detected."""
    primary = (value or "").strip().lower().replace("_", "-").partition("-")[0]
    return primary if primary in _DECLARED_LANGS else None


def _extract(html: str | HtmlElement, with_metadata: bool) -> trafilatura.settings.Document | None:
    # favor_precision: without it a page of menus alone comes back as "text". The date comes from the
    # page's markup only (meta, <time>, URL): the extensive search reads "© 2025" as 2025-01-01.
    return trafilatura.bare_extraction(
        html,
        with_metadata=with_metadata,
        include_comments=False,
        include_tables=False,
        favor_precision=True,
        date_extraction_params=set_date_params(extensive=False),
    )


def extract_page(html: str | bytes) -> Page:
    """The article of a whole HTML page (bytes: the page decides its encoding). Raises ValueError
    when the page holds no article text."""
    tree = trafilatura.load_html(html)
    extracted = _extract(tree, with_metadata=True) if tree is not None else None
    text = extracted.text.strip() if extracted is not None and extracted.text else ""
    if not text:
        raise ValueError(NO_ARTICLE_TEXT)
    return Page(text, extracted.title, extracted.date, declared_lang(tree.get("lang")), extracted.url)


def _fragment_text(html: str) -> str:
    """The text of a feed entry's HTML. Set in a page's <article>, so trafilatura takes all of it
    (a bare fragment of one paragraph is too short for it to count as an article)."""
    extracted = _extract(f"<html><body><article>{html}</article></body></html>", with_metadata=False)
    return extracted.text.strip() if extracted is not None and extracted.text else ""


def _entry_text(entry: feedparser.FeedParserDict) -> tuple[str, str | None]:
    """The entry's full content when the feed carries it, else its summary, with the language
    declared for it (xml:lang), if any."""
    details = [*entry.get("content", []), entry.get("summary_detail")]
    for detail in filter(None, details):
        value = detail.get("value", "")
        text = _fragment_text(value) if detail.get("type") in _HTML_TYPES else value.strip()
        if text:
            return text, detail.get("language")
    return "", None


def _written_day(raw: str) -> date | None:
    """The day of an RFC 822 (RSS) or RFC 3339 (Atom) time as written, in the publisher's time zone."""
    try:
        return parsedate_to_datetime(raw).date()
    except ValueError:
        pass
    try:
        return datetime.fromisoformat(raw).date()
    except ValueError:
        return None


def _entry_date(entry: feedparser.FeedParserDict) -> str | None:
    """Published, else updated, as YYYY-MM-DD. feedparser's parsed times are UTC, which moves an
    article of 01:30 in Astana (UTC+5) to the day before: the time as written decides when it can."""
    for key in ("published", "updated"):
        day = _written_day(entry[key]) if entry.get(key) else None
        if day is not None:
            return day.isoformat()
        parsed = entry.get(f"{key}_parsed")
        if parsed:
            return time.strftime("%Y-%m-%d", parsed)
    return None


def parse_feed(raw: bytes) -> list[FeedEntry]:
    """The entries of an RSS or Atom file, in its order. Raises ValueError when it is not a feed or
    has no entries. Bytes, not a path: feedparser fetches a string that looks like a URL."""
    parsed = feedparser.parse(raw)
    if not parsed.get("version"):
        raise ValueError("not an RSS or Atom feed" + (f" ({parsed.bozo_exception})" if parsed.get("bozo") else ""))
    if not parsed.entries:
        raise ValueError("the feed has no entries")
    feed_lang = parsed.feed.get("language")
    entries = []
    for entry in parsed.entries:
        text, lang = _entry_text(entry)
        ident = entry.get("id") or entry.get("link")
        entries.append(
            FeedEntry(
                name=entry.get("title") or ident or "untitled",
                key=hashlib.sha256((ident or text).encode()).hexdigest()[:16],
                text=text,
                title=entry.get("title"),
                date=_entry_date(entry),
                lang=declared_lang(lang or feed_lang),
                link=entry.get("link"),
            )
        )
    return entries
