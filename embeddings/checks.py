"""What a caller asks, checked: each check returns the value or raises QueryError naming the field.

Shared by the search, the related-passage and near-duplicate jobs, the scripts and the service
(which answers a QueryError with a 400), so that one rule has one wording everywhere.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Sequence

from embeddings.text import LANGUAGES

# A date's form, as a regex for schemas too (service/validation.py); check_date also wants the day to exist.
ISO_DATE_PATTERN = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
_ISO_DATE = re.compile(ISO_DATE_PATTERN.removeprefix("^").removesuffix("$"))


class QueryError(ValueError):
    """The request itself is wrong (empty query, k out of range, unknown language)."""


def check_languages(langs: Sequence[str] | None) -> list[str] | None:
    if not langs:
        return None
    unknown = [lang for lang in langs if lang not in LANGUAGES]
    if unknown:
        raise QueryError(f"unknown language code(s) {', '.join(map(repr, unknown))}; use {', '.join(LANGUAGES)}")
    return list(dict.fromkeys(langs))


def check_choice(name: str, value: object, choices: Sequence[str]) -> str:
    if value not in choices:
        raise QueryError(f"unknown {name} {value!r}; use {', '.join(choices)}")
    return value


def check_count(name: str, value: object, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise QueryError(f"{name} must be an integer from {low} to {high}")
    return value


def check_date(name: str, value: object) -> str | None:
    """An ISO date YYYY-MM-DD that exists (None passes)."""
    if value is None:
        return None
    try:
        if isinstance(value, str) and _ISO_DATE.fullmatch(value):
            datetime.date.fromisoformat(value)
            return value
    except ValueError:
        pass
    raise QueryError(f"{name} must be a date YYYY-MM-DD, not {value!r}")


def check_dates(
    date_from: object, date_to: object, names: tuple[str, str] = ("date_from", "date_to")
) -> tuple[str | None, str | None]:
    """A date range, either end open, that does not end before it starts; ``names`` are the
    fields' names as the caller knows them (an API field, a script's option)."""
    dates = check_date(names[0], date_from), check_date(names[1], date_to)
    if dates[0] and dates[1] and dates[1] < dates[0]:
        raise QueryError(f"{names[1]} {dates[1]} is before {names[0]} {dates[0]}")
    return dates
