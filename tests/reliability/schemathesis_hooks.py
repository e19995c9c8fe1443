"""What `st run` (tests/reliability/test_fuzz.py) is told beyond /openapi.json, loaded by SCHEMATHESIS_HOOKS.

Three rules of the API that JSON Schema cannot state, so schemathesis would call their 400s "a valid
request rejected": a date range must not end before it starts (one field against another), an HTML
page must hold article text (what trafilatura finds in it), and a text must keep a paragraph after
cleaning (captions and credits go). Generated requests that break them are not sent; the rules are
in the spec's descriptions and have their own tests.

And two checks of our own, run with `--checks all`: a 4xx answers the documented JSON error, and
every answer carries X-Content-Type-Options: nosniff.
"""

from __future__ import annotations

from typing import Any

import schemathesis

from embeddings.news_files import extract_page
from embeddings.text import clean_paragraphs
from tests.reliability.helpers import error_shape_problem


def _reversed_dates(values: Any) -> bool:
    if not isinstance(values, dict):
        return False
    low, high = values.get("date_from"), values.get("date_to")
    return isinstance(low, str) and isinstance(high, str) and high < low  # ISO days compare as text


def _nothing_to_index(document: Any) -> bool:
    if not isinstance(document, dict):
        return False
    if isinstance(document.get("text"), str):
        return not clean_paragraphs(document["text"].splitlines())
    if isinstance(document.get("html"), str):
        try:
            extract_page(document["html"])
        except ValueError:
            return True
    return False


@schemathesis.hook
def filter_case(context, case) -> bool:
    """False for a request that breaks one of the three rules (filter_case: every phase applies it)."""
    body = case.body if isinstance(case.body, dict) else {}
    parts = [case.query, body]
    for name in ("queries", "documents"):
        if isinstance(body.get(name), list):
            parts.extend(body[name])
    return not any(_reversed_dates(part) or _nothing_to_index(part) for part in parts)


@schemathesis.check
def documented_error_shape(ctx, response, case) -> None:
    """A 4xx is {"error": {"code", "message"}} as application/json, with no traceback."""
    if 400 <= response.status_code < 500:
        problem = error_shape_problem(
            response.status_code, response.headers.get("content-type", [None])[0], response.content
        )
        if problem:
            raise AssertionError(problem)


@schemathesis.check
def nosniff_header(ctx, response, case) -> None:
    """Every answer tells browsers not to guess its content type."""
    if response.headers.get("x-content-type-options") != ["nosniff"]:
        raise AssertionError("no X-Content-Type-Options: nosniff")
