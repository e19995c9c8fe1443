"""News search over HTTP against a real gunicorn server: date ranges and date order, one result
per article with its versions in other languages, and pages of results."""

from __future__ import annotations

import pytest
import requests

from embeddings.corpus import Document, make_document, parse_seed_text
from embeddings.search import Searcher
from tests.conftest import MINSK_KK, MINSK_RU, MINSK_RU_BODY, SEEDS, WRITE_AUTH

QUESTION = "Лукашенко торговля"  # three passages of one seed article in the top five, ungrouped
EVERY_PASSAGE = 100  # more than the seeds' 62 passages: a search this deep returns them all


def seed_dates() -> dict[str, str | None]:
    return {path.stem: parse_seed_text(path.stem, path.read_text()).date for path in sorted(SEEDS.glob("*.txt"))}


def search(server, **params) -> dict:
    response = requests.get(server.url + "/v1/search", params=params, timeout=60)
    assert response.status_code == 200, response.text
    return response.json()


def ids(body: dict) -> list[str]:
    return [r["passage_id"] for r in body["results"]]


@pytest.mark.parametrize("mode", ["dense", "hybrid"])
@pytest.mark.parametrize(
    ("date_from", "date_to"), [("2026-02-01", "2026-02-28"), ("2026-02-07", None), (None, "2026-02-06")]
)
def test_a_date_range_keeps_every_document_in_range_and_no_other(live_server, mode, date_from, date_to):
    dates = seed_dates()
    in_range = {
        doc
        for doc, day in dates.items()
        if day is not None and (date_from is None or day >= date_from) and (date_to is None or day <= date_to)
    }
    assert in_range and in_range != {d for d, day in dates.items() if day}  # the range keeps some, not all
    params = {"q": QUESTION, "k": EVERY_PASSAGE, "mode": mode} | {
        name: value for name, value in (("date_from", date_from), ("date_to", date_to)) if value
    }
    filtered = search(live_server, **params)
    everything = search(live_server, q=QUESTION, k=EVERY_PASSAGE, mode=mode)
    expected = [r["passage_id"] for r in everything["results"] if r["doc_id"] in in_range]
    assert {r["doc_id"] for r in filtered["results"]} == in_range  # undated documents are outside every range
    assert sorted(ids(filtered)) == sorted(expected)  # none lost, none added
    if mode == "dense":  # the cosine does not depend on the filter: the same order too
        assert ids(filtered) == expected


def test_sort_by_date_puts_the_newest_first_and_undated_last(live_server):
    body = search(live_server, q=QUESTION, k=10, sort="date")
    dates = [r["date"] or "" for r in body["results"]]
    assert dates == sorted(dates, reverse=True) and dates[0] == max(d for d in seed_dates().values() if d)
    by_relevance = search(live_server, q=QUESTION, k=10 * 10)  # sort=date orders the best k × 10
    assert set(ids(body)) <= set(ids(by_relevance))


def test_one_result_per_article_with_its_next_passages(live_server):
    plain = search(live_server, q=QUESTION, k=5)
    assert len({r["doc_id"] for r in plain["results"]}) < 5  # one article's passages repeat ungrouped
    assert "more" not in plain["results"][0] and "counterparts" not in plain["results"][0]
    grouped = search(live_server, q=QUESTION, k=5, group="article", passages_per_article=3)
    docs = [r["doc_id"] for r in grouped["results"]]
    assert len(docs) == len(set(docs)) == 5 and grouped["has_more"] is False  # the seeds hold five articles
    assert docs[0] == plain["results"][0]["doc_id"] and ids(grouped)[0] == ids(plain)[0]  # the best passage leads
    everything = search(live_server, q=QUESTION, k=EVERY_PASSAGE)
    for result in grouped["results"]:
        own = [r for r in everything["results"] if r["doc_id"] == result["doc_id"]]
        assert [result["passage_id"]] + [m["passage_id"] for m in result["more"]] == [r["passage_id"] for r in own[:4]]
        assert all(m["highlight"]["sentence"] for m in result["more"]) and result["counterparts"] == []
    none_more = search(live_server, q=QUESTION, k=2, group="article", passages_per_article=0)
    assert [r["more"] for r in none_more["results"]] == [[], []]


@pytest.mark.parametrize("group", [None, "article"])
def test_pages_neither_repeat_nor_skip(live_server, group):
    size, pages = (2, 3) if group else (10, 3)
    extra = {"group": group} if group else {}
    whole = search(live_server, q=QUESTION, k=size * pages, **extra)
    seen = []
    for page in range(pages):
        body = search(live_server, q=QUESTION, k=size, offset=page * size, **extra)
        assert body["offset"] == page * size
        assert [r["rank"] for r in body["results"]] == list(
            range(page * size + 1, page * size + len(body["results"]) + 1)
        )
        seen += ids(body)
        last = body
    assert seen == ids(whole)[: len(seen)] and len(seen) == len(set(seen))
    assert last["has_more"] is (not group)  # five articles end on the third page of two; 62 passages do not
    beyond = search(live_server, q=QUESTION, k=size, offset=1000, **extra)
    assert beyond["results"] == [] and beyond["has_more"] is False


def test_the_batch_route_takes_date_ranges(live_server):
    queries = [{"query": QUESTION, "k": 5, "date_from": "2026-02-07"}, {"query": QUESTION, "k": 5, "sort": "date"}]
    response = requests.post(live_server.url + "/v1/search/batch", json={"queries": queries}, timeout=60)
    assert response.status_code == 200, response.text
    first, second = response.json()["results"]
    assert {r["date"] for r in first["results"]} == {seed_dates()["002_6b6f623981be19cf"]}
    assert second["results"][0]["date"] == max(d for d in seed_dates().values() if d)


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"date_from": "2026-02-30"}, "date_from"),
        ({"date_from": "06.02.2026"}, "date_from"),
        ({"date_to": "2026-13-01"}, "date_to"),
        ({"date_from": "2026-02-06", "date_to": "2026-02-05"}, "date_to"),
        ({"group": "document"}, "group"),
        ({"sort": "newest"}, "sort"),
        ({"offset": 1001}, "offset"),
        ({"offset": -1}, "offset"),
        ({"passages_per_article": 6}, "passages_per_article"),
    ],
)
def test_bad_news_parameters_are_400s_naming_the_field(live_server, params, field):
    for response in (
        requests.get(live_server.url + "/v1/search", params={"q": QUESTION} | params, timeout=30),
        requests.post(live_server.url + "/v1/search", json={"query": QUESTION} | params, timeout=30),
    ):
        assert response.status_code == 400, response.text
        error = response.json()["error"]
        assert error["code"] == "invalid_request" and field in error["message"]


def test_a_kazakh_article_shows_its_russian_version_once_there_is_one(writable_server):
    def grouped() -> dict[str, list[dict]]:
        body = search(writable_server, q="Қошанов Минскіде Лукашенкомен кездесті", k=6, group="article")
        return {r["doc_id"]: r["counterparts"] for r in body["results"]}

    before = grouped()
    assert before[MINSK_KK] == []  # no other seed reports the visit in another language
    posted = requests.post(writable_server.url + "/v1/documents", json=MINSK_RU_BODY, headers=WRITE_AUTH, timeout=120)
    assert posted.status_code == 201, posted.text
    after = grouped()
    (russian,) = after[MINSK_KK]
    assert (russian["doc_id"], russian["lang"], russian["title"]) == (MINSK_RU.id, "ru", MINSK_RU.title)
    assert russian["date"] == "2026-02-06" and russian["margin"] > 1
    assert [c["doc_id"] for c in after[MINSK_RU.id]] == [MINSK_KK]  # and the other way round
    others = [doc for doc in after if doc not in (MINSK_KK, MINSK_RU.id)]
    assert all(MINSK_RU.id not in [c["doc_id"] for c in after[doc]] for doc in others)  # other stories: none
    deleted = requests.delete(writable_server.url + f"/v1/documents/{MINSK_RU.id}", headers=WRITE_AUTH, timeout=60)
    assert deleted.status_code == 204 and grouped()[MINSK_KK] == []  # a write changes the counterparts


def test_a_day_that_does_not_exist_is_refused_and_an_old_one_stored_breaks_no_range(index_copy, encoder, client):
    """A document's date must be a real day (POST answers 400); a store written before that rule
    may hold one, and such a document counts as undated, never as a 500."""
    answer = client.post("/v1/documents", json={"text": "Жаңалық.", "date": "2026-02-30"})
    assert answer.status_code in (400, 403)  # 403 without a write key: checked in test_news_files
    with pytest.raises(ValueError, match="date"):
        make_document("bad-day", "Астанада жаңа мектеп ашылды.", date="2026-02-30")
    searcher = Searcher.open(index_copy, encoder)
    old = Document("bad-day", "Мектеп", "2026-02-30", "kk", "Астанада жаңа мектеп ашылды.")
    searcher.index.write_document(old, encoder)
    for date_from in ("2000-01-01", None):
        response = searcher.search("мектеп ашылды", 100, date_from=date_from, date_to="2030-12-31")
        assert "bad-day" not in {r.doc_id for r in response.results}
    assert "bad-day" in {r.doc_id for r in searcher.search("мектеп ашылды", 100).results}
