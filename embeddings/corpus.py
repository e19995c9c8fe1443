"""Reading corpora: a folder of seed-format ``.txt`` articles, saved HTML pages (``.html``,
``.htm``) and RSS/Atom feeds (``.rss``, ``.atom``, ``.xml``), any one such file, or a ``.jsonl`` file.

Seed format: an optional first line `` date YYYY-MM-DD <title>``, then one paragraph per line.
Without that line the title is the first sentence and the date is unknown. The header title is
part of the article's text (in the seeds it is often the lead sentence). A page is one document
named by its file; a feed gives one per entry. ``embeddings.news_files`` extracts their text.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import orjson

from embeddings import news_files
from embeddings.checks import check_date
from embeddings.text import clean_paragraphs, detect_language, normalize, sentence_spans

_HEADER = re.compile(r"^\s*date\s+(\d{4}-\d{2}-\d{2})\s+(.+?)\s*$")
# ASCII letters, digits, '_', '-', '.', not starting with '.' (no '.', '..' or hidden names): an id
# is a URL path segment and, for a .txt corpus, a file name. The same text is the OpenAPI pattern.
DOC_ID_PATTERN = r"^[A-Za-z0-9_\-][A-Za-z0-9_.\-]{0,127}$"
DOC_ID_RULE = "1-128 ASCII letters, digits, '_', '-' or '.', not starting with '.', and not 'batch'"
# Ids that name a route of the API's beside /v1/documents/<id> (POST /v1/documents/batch).
RESERVED_DOC_IDS = frozenset({"batch"})
_DOC_ID = re.compile(DOC_ID_PATTERN.removesuffix("$"))
TITLE_MAX_CHARS = 300
TEXT_SUFFIXES = (".txt",)
PAGE_SUFFIXES = (".html", ".htm")
FEED_SUFFIXES = (".rss", ".atom", ".xml")
FILE_SUFFIXES = TEXT_SUFFIXES + PAGE_SUFFIXES + FEED_SUFFIXES  # what a corpus folder is read for
_KINDS = ", ".join(FILE_SUFFIXES[:-1]) + " or " + FILE_SUFFIXES[-1]


class CorpusError(ValueError):
    """The corpus as a whole cannot be read (missing path, nothing indexable)."""


@dataclass
class Document:
    id: str
    title: str
    date: str | None
    lang: str
    text: str  # cleaned paragraphs joined by "\n"; passage offsets point into this
    source: str = ""


@dataclass
class CorpusReport:
    """What was read and what was skipped, with a reason per skipped item."""

    problems: list[str] = field(default_factory=list)
    documents: int = 0


def validate_doc_id(doc_id: object) -> str:
    if not isinstance(doc_id, str) or not _DOC_ID.fullmatch(doc_id) or doc_id in RESERVED_DOC_IDS:  # no "\n" at the end
        raise ValueError(f"a document id must be {DOC_ID_RULE}")
    return doc_id


def make_document(
    doc_id: str,
    text: str,
    title: str | None = None,
    date: str | None = None,
    lang: str | None = None,
    source: str = "",
) -> Document:
    """Clean ``text`` and fill in what was not given (title, language).

    Raises ValueError when nothing indexable is left after cleaning.
    """
    validate_doc_id(doc_id)
    paragraphs = clean_paragraphs(text.splitlines())
    if not paragraphs:
        raise ValueError("the text is empty after cleaning")
    body = "\n".join(paragraphs)
    detected = detect_language(body)
    if lang is not None and lang not in ("kk", "ru", "en", "other"):
        raise ValueError(f"unknown language {lang!r}; use kk, ru, en or other")
    if title:
        title = normalize(title).strip()
    if not title:
        first = paragraphs[0]
        start, end = sentence_spans(first, detected)[0]
        title = first[start:end]
    if len(title) > TITLE_MAX_CHARS:
        title = title[: TITLE_MAX_CHARS - 1].rstrip() + "…"
    check_date("date", date)  # a day that exists: date ranges compare days
    return Document(id=doc_id, title=title, date=date, lang=lang or detected, text=body, source=source)


def parse_seed_text(doc_id: str, raw: str, source: str = "") -> Document:
    lines = raw.splitlines()
    title = date = None
    if lines:
        header = _HEADER.match(lines[0])
        if header:
            date, title = header.group(1), header.group(2)
            lines[0] = title  # the header title is the article's first paragraph
    return make_document(doc_id, "\n".join(lines), title=title, date=date, source=source)


def _read_feed(path: Path, raw: bytes, report: CorpusReport) -> Iterator[Document]:
    """One document per entry, named ``<file stem>-<entry key>``: a feed read again replaces its
    documents, not doubles them. The entry's link is its source."""
    try:
        entries = news_files.parse_feed(raw)
    except ValueError as exc:
        report.problems.append(f"{path}: {exc}; skipped")
        return
    for number, entry in enumerate(entries, 1):
        where = f"{path}: entry {number} ({entry.name})"
        if not entry.text:
            report.problems.append(f"{where}: no text (neither content nor summary); skipped")
            continue
        try:
            yield make_document(
                f"{path.stem}-{entry.key}",
                entry.text,
                title=entry.title,
                date=entry.date,
                lang=entry.lang,
                source=entry.link or str(path),
            )
        except ValueError as exc:
            report.problems.append(f"{where}: {exc}; skipped")
            continue
        report.documents += 1


def _read_page(path: Path, raw: bytes) -> Document:
    """The page's article, named by the file; its source is the URL the page names, else the file."""
    page = news_files.extract_page(raw)
    source = page.url or str(path)
    return make_document(path.stem, page.text, title=page.title, date=page.date, lang=page.lang, source=source)


def _read_files(files: list[Path], report: CorpusReport) -> Iterator[Document]:
    for path in files:
        try:
            raw = path.read_bytes()
        except OSError as exc:
            report.problems.append(f"{path}: cannot be read ({exc.strerror}); skipped")
            continue
        suffix = path.suffix.lower()
        if suffix in FEED_SUFFIXES:
            yield from _read_feed(path, raw, report)
            continue
        try:
            if suffix in PAGE_SUFFIXES:
                doc = _read_page(path, raw)
            else:
                doc = parse_seed_text(path.stem, raw.decode("utf-8"), source=str(path))
        except UnicodeDecodeError as exc:
            report.problems.append(f"{path}: not UTF-8 text (byte {exc.start}); skipped")
            continue
        except ValueError as exc:
            report.problems.append(f"{path}: {exc}; skipped")
            continue
        yield doc
        report.documents += 1


def jsonl_objects(path: Path, report: CorpusReport | None = None) -> Iterator[tuple[str, dict]]:
    """("file:line", object) for each JSON object line. With a ``report`` (a user's corpus or
    queries), any other line is reported and skipped; without one (data that must be whole, such
    as an evaluation set), it raises CorpusError naming the line."""
    with Path(path).open("rb") as fh:
        for line_no, line in enumerate(fh, 1):
            if not line.strip():
                continue
            where = f"{path}:{line_no}"
            try:
                row = orjson.loads(line)
                problem = None if isinstance(row, dict) else "expected a JSON object"
            except orjson.JSONDecodeError as exc:
                problem = f"not valid JSON ({exc})"
            if problem is None:
                yield where, row
            elif report is None:
                raise CorpusError(f"{where}: {problem}")
            else:
                report.problems.append(f"{where}: {problem}; skipped")


def read_jsonl(path: Path, limit: int | None = None) -> list[dict]:
    """The first ``limit`` (default: all) objects of a JSONL file that must be whole; a missing
    file or a bad line raises CorpusError."""
    if not Path(path).is_file():
        raise CorpusError(f"{path}: no such file (is --data the shared eval folder?)")
    return [row for _, row in itertools.islice(jsonl_objects(path), limit)]


def _read_jsonl(path: Path, report: CorpusReport) -> Iterator[Document]:
    for where, row in jsonl_objects(path, report):
        text, doc_id = row.get("text"), row.get("id")
        if not isinstance(text, str):
            report.problems.append(f'{where}: missing "text" (a string); skipped')
            continue
        if isinstance(doc_id, int) and not isinstance(doc_id, bool):
            doc_id = str(doc_id)
        optional = {k: row.get(k) for k in ("title", "date", "lang")}
        bad = [k for k, v in optional.items() if v is not None and not isinstance(v, str)]
        if bad:
            report.problems.append(f"{where}: {', '.join(bad)} must be strings; skipped")
            continue
        try:
            yield make_document(doc_id, text, source=where, **optional)
        except ValueError as exc:
            report.problems.append(f"{where}: {exc}; skipped")
            continue
        report.documents += 1


def read_corpus(path: Path | str, report: CorpusReport | None = None) -> Iterator[Document]:
    """Documents from a folder of ``.txt``, ``.html``/``.htm`` and ``.rss``/``.atom``/``.xml`` files
    (in name order, all kinds together), from one such file, or from a ``.jsonl`` file.

    Unreadable items are skipped and described in ``report.problems``; a path that does not
    exist or holds no candidate files raises CorpusError.
    """
    path = Path(path)
    report = report if report is not None else CorpusReport()
    if not path.exists():
        raise CorpusError(f"{path}: no such file or folder")
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix.lower() in FILE_SUFFIXES and p.is_file())
        if not files:
            raise CorpusError(f"{path}: no {_KINDS} files in this folder")
        return _read_files(files, report)
    if path.suffix.lower() in FILE_SUFFIXES:
        return _read_files([path], report)
    if path.suffix == ".jsonl":
        return _read_jsonl(path, report)
    raise CorpusError(f"{path}: expected a folder of {_KINDS} files, one such file, or a .jsonl file")
