"""The search page (`GET /`) in a real browser: Debian's Chromium driven by Playwright, against the
real gunicorn server over the seed index.

Screenshots and the accessibility report land in ``test-output/page/`` at the project root.
Chromium comes from apt (``make test`` installs it where it can); where there is none, these tests
skip and say so. Playwright's own browser download is never used: it needs the internet.
"""

from __future__ import annotations

import json
import os
import re
from itertools import pairwise
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlparse

import pytest
import requests

from tests.conftest import MINSK_KK, MINSK_RU, MINSK_RU_BODY, ROOT, WRITE_AUTH

CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
OUT = ROOT / "test-output" / "page"
AXE = Path(__file__).parent / "assets" / "axe.min.js"  # axe-core 4.14.1, MPL-2.0: see assets/README.md
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"]
# A question about the CIS Interparliamentary Assembly: the seeds answer it from the Kazakh
# articles and from the Russian one.
QUESTION = "ТМД Парламентаралық Ассамблеясының отырысында Әшімбаев не деді?"
TIMEOUT_MS = 20_000
MINSK_QUESTION = "Қошанов Минскіде Лукашенкомен кездесті"

if not CHROMIUM.is_file():
    pytest.skip(
        f"no Chromium at {CHROMIUM}: install Debian's `chromium` package (make test does, where apt works), "
        "or point CHROMIUM at one",
        allow_module_level=True,
    )

from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright  # noqa: E402


@pytest.fixture(scope="module")
def site(live_server) -> str:
    """The server's URL, once it is known to serve the page."""
    response = requests.get(live_server.url + "/", timeout=10)
    assert response.status_code == 200 and response.headers["Content-Type"].startswith("text/html"), (
        f"GET / answered {response.status_code} {response.headers.get('Content-Type')}: "
        "is service.page.bp registered in create_app?"
    )
    assert "default-src 'none'" in response.headers["Content-Security-Policy"]
    return live_server.url


@pytest.fixture(scope="module")
def news_site(writable_server) -> str:
    """A server of its own, since it is written to: the seeds and MINSK_RU, a Russian counterpart
    of the Kazakh seed 000, posted as any client would."""
    response = requests.post(writable_server.url + "/v1/documents", json=MINSK_RU_BODY, headers=WRITE_AUTH, timeout=120)
    assert response.status_code == 201, response.text
    return writable_server.url


@pytest.fixture(scope="module")
def browser() -> Browser:
    OUT.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


AXE_REPORT: dict = {"axe_core": None, "tags": AXE_TAGS, "rules_passed": {}, "violations": {}}


class Visit:
    """One browser context, watching for script errors and for any request that leaves this machine."""

    def __init__(self, browser: Browser, site: str = "", **options) -> None:
        self.site = site
        self.context: BrowserContext = browser.new_context(**options)
        self.context.set_default_timeout(TIMEOUT_MS)
        self.outside: list[str] = []
        self.errors: list[str] = []
        self.context.route("**/*", self._route)
        self.page: Page = self.context.new_page()
        self.page.on("pageerror", lambda exc: self.errors.append(str(exc)))

    def _route(self, route) -> None:
        if urlparse(route.request.url).hostname in ("127.0.0.1", "localhost"):
            route.continue_()
        else:
            self.outside.append(route.request.url)
            route.abort()

    def results(self) -> list[dict]:
        """What the page shows: one dict per result, with its marks (the best sentence, the query's
        words), its article's more passages and its counterparts."""
        return self.page.eval_on_selector_all(
            "#result-list .result",
            """items => items.map(li => ({
                lang: li.dataset.lang,
                id: li.dataset.passageId,
                doc: li.dataset.docId,
                title: li.querySelector('.r-title').textContent,
                date: (li.querySelector('.r-date') || {}).dateTime || null,
                text: li.querySelector('.r-text').textContent,
                mark: (li.querySelector('.r-text mark.hl-sentence') || {}).textContent || '',
                terms: [...li.querySelectorAll('.r-text mark.hl-term')].map(m => m.textContent),
                more: [...li.querySelectorAll('.passages li')].map(p => p.dataset.passageId),
                counterparts: [...li.querySelectorAll('.counterparts > li')].map(c => ({
                    doc: c.dataset.docId, lang: c.dataset.lang, label: c.querySelector('.cp-label').textContent,
                    title: c.querySelector('.cp-title').textContent,
                    date: (c.querySelector('time') || {}).dateTime || null,
                })),
                toggle: li.querySelector('.related-toggle').textContent,
            }))""",
        )

    def search(self, path: str) -> None:
        """Open a search's URL and wait for what it shows: results, an empty result or an error."""
        self.page.goto(self.site + path)
        self.page.wait_for_selector("#result-list .result, #empty:not([hidden]), #error:not([hidden])")
        self.settled()

    def axe(self, name: str) -> list[dict]:
        """axe-core's violations on the page as it is now, recorded under ``name`` for the report."""
        if not self.page.evaluate("typeof axe !== 'undefined'"):
            self.page.add_script_tag(content=AXE.read_text(encoding="utf-8"))
        result = self.page.evaluate(
            "tags => axe.run(document, {runOnly: {type: 'tag', values: tags}, resultTypes: ['violations']})",
            AXE_TAGS,
        )
        found = [
            {"id": x["id"], "impact": x["impact"], "help": x["help"], "nodes": [n["html"] for n in x["nodes"]]}
            for x in result["violations"]
        ]
        AXE_REPORT["axe_core"] = result["testEngine"]["version"]
        AXE_REPORT["rules_passed"][name] = len(result["passes"])
        AXE_REPORT["violations"][name] = found
        (OUT / "axe-results.json").write_text(json.dumps(AXE_REPORT, ensure_ascii=False, indent=2), encoding="utf-8")
        return found

    def no_sideways_scroll(self) -> bool:
        return self.page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")

    def settled(self) -> None:
        expect(self.page.locator("#results")).not_to_have_attribute("aria-busy", "true")

    def close(self) -> None:
        assert not self.outside, f"the page asked for something off this machine: {self.outside}"
        assert not self.errors, f"script errors on the page: {self.errors}"
        self.context.close()


@pytest.fixture
def visit(browser):
    visits: list[Visit] = []

    def open_(site: str = "", **options) -> Visit:
        visits.append(Visit(browser, site, **options))
        return visits[-1]

    yield open_
    for v in visits:
        v.close()


def url_params(url: str) -> dict[str, list[str]]:
    return parse_qs(urlparse(url).query)


def api_search(site: str, **params) -> dict:
    response = requests.get(site + "/v1/search", params=params, timeout=60)
    assert response.status_code == 200, response.text
    return response.json()


def marked_terms(text: str, hl: dict) -> list[str]:
    """The <mark>s the page should make of the query's words: ranges merged where they overlap or
    touch, and cut where the best sentence's mark begins or ends. Offsets count code points."""
    chars = list(text)
    merged: list[list[int]] = []
    for start, end in sorted(map(tuple, hl["terms"])):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    pieces = []
    for start, end in merged:
        cuts = sorted({start, end} | {c for c in (hl["start"], hl["end"]) if start < c < end})
        pieces += ["".join(chars[a:b]) for a, b in pairwise(cuts)]
    return pieces


def check_marks(shown: list[dict], answered: list[dict]) -> None:
    """Each result's text is the API's, whole, with its best sentence and the query's words marked."""
    assert len(shown) == len(answered)
    for r, a in zip(shown, answered, strict=True):
        hl = a["highlight"]
        assert r["text"] == a["text"]
        assert r["mark"] == "".join(list(a["text"])[hl["start"] : hl["end"]]) and r["mark"], r
        assert r["terms"] == marked_terms(a["text"], hl), r
    assert any(r["terms"] for r in shown), "no query word is marked anywhere"


def test_marks_compose_with_the_sentence_overlaps_and_code_points(site, visit):
    """The page's marks for an answer made up here: words that overlap, one across the sentence's
    end, and an emoji (two UTF-16 units, one code point) before them all."""
    text = "🙂 Алматы мен Астана арасы. Жаңа жол салынды."
    at = lambda piece: len(text[: text.index(piece)])  # noqa: E731 -- code points, as the API counts
    sentence = "Алматы мен Астана арасы."
    terms = [
        [at("Алматы"), at("Алматы") + 6],
        [at("маты мен"), at("маты мен") + 8],  # overlaps the first: one mark
        [at("Астана"), at("Астана") + 6],
        [at("арасы. Жаңа"), at("арасы. Жаңа") + 11],  # runs past the sentence: cut in two
    ]
    hl = {"sentence": sentence, "start": at(sentence), "end": at(sentence) + len(sentence), "terms": terms}
    answer = {
        "query": "Алматы Астана жаңа",
        "query_lang": "kk",
        "took_ms": 1.0,
        "offset": 0,
        "has_more": False,
        "results": [
            {
                "rank": 1,
                "score": 0.5,
                "passage_id": "made-up#0",
                "doc_id": "made-up",
                "title": "Жол",
                "date": None,
                "lang": "kk",
                "text": text,
                "highlight": hl,
                "more": [],
                "counterparts": [],
            }
        ],
    }
    v = visit(site, viewport={"width": 1000, "height": 800}, locale="kk-KZ")
    v.page.route("**/v1/search?*", lambda route: route.fulfill(json=answer))
    v.search("/?q=x")
    html = v.page.locator(".r-text").inner_html()
    term = '<mark class="hl-term">{}</mark>'.format
    assert html == (
        f'🙂 <mark class="hl-sentence">{term("Алматы мен")} {term("Астана")} {term("арасы.")}</mark>'
        f"{term(' Жаңа')} жол салынды."
    ), html
    assert v.results()[0]["terms"] == marked_terms(text, hl)


def test_kazakh_question_finds_kazakh_and_russian_passages(site, visit):
    v = visit(site, viewport={"width": 1200, "height": 900}, locale="kk-KZ")
    page = v.page
    page.goto(site + "/")
    # The browser's language picks the interface; the search box has the focus.
    expect(page.locator("html")).to_have_attribute("lang", "kk")
    expect(page.locator("h1")).to_have_text("Қазақ және орыс тіліндегі жаңалықтардан іздеу")
    assert page.evaluate("document.activeElement.id") == "q"
    group = page.get_by_role("checkbox", name="Әр мақаладан бір нәтиже")
    expect(group).to_be_checked()  # one result per article: the page's default

    page.keyboard.type(QUESTION)
    page.keyboard.press("Enter")
    expect(page.locator("#result-list .result").first).to_be_visible()
    v.settled()
    assert url_params(page.url) == {"q": [QUESTION]}
    expect(page.locator("#status")).to_contain_text("5 мақала")

    # The seeds' five articles, each once, in the API's order, with marks where the API puts them.
    shown = v.results()
    api = api_search(site, q=QUESTION, k=10, group="article")
    assert [r["id"] for r in shown] == [r["passage_id"] for r in api["results"]]
    assert len({r["doc"] for r in shown}) == len(shown) == 5
    assert {r["lang"] for r in shown} >= {"kk", "ru"}, shown
    check_marks(shown, api["results"])

    # An article's next passages wait under its best one, collapsed.
    first = page.locator("#result-list .result").first
    passages = first.locator(".passages-toggle")
    expect(passages).to_have_text("Осы мақаладан тағы 2 абзац")
    expect(passages).to_have_attribute("aria-expanded", "false")
    expect(first.locator(".passages")).to_be_hidden()
    passages.click()
    expect(passages).to_have_attribute("aria-expanded", "true")
    expect(first.locator(".passages li").first).to_be_visible()
    assert shown[0]["more"] == [m["passage_id"] for m in api["results"][0]["more"]]
    expect(first.locator(".passages mark.hl-term").first).to_be_visible()

    # "Same in Russian" on a Kazakh passage shows Russian passages inline.
    kazakh = page.locator('#result-list .result[data-lang="kk"]').first
    toggle = kazakh.locator(".related-toggle")
    expect(toggle).to_have_text("Орыс тіліндегі баламасы")
    expect(toggle).to_have_attribute("aria-expanded", "false")
    toggle.click()
    expect(toggle).to_have_attribute("aria-expanded", "true")
    related = kazakh.locator(".related-list li")
    expect(related.first).to_be_visible()
    langs = related.evaluate_all("items => items.map(li => li.dataset.lang)")
    assert langs and set(langs) == {"ru"}, langs
    page.screenshot(path=OUT / "search-desktop.png", full_page=True)

    # Grouping off: passages, several of one article, as the API ranks them.
    group.uncheck()
    expect(page).to_have_url(re.compile(r"group=off"))
    v.settled()
    expect(page.locator("#status")).to_contain_text("10 нәтиже")
    shown = v.results()
    api = api_search(site, q=QUESTION, k=10)
    assert [r["id"] for r in shown] == [r["passage_id"] for r in api["results"]]
    assert len({r["doc"] for r in shown}) < len(shown) == 10
    assert not any(r["more"] or r["counterparts"] for r in shown)
    check_marks(shown, api["results"])

    # A filter: without Kazakh, only Russian passages, and the URL says so.
    page.get_by_role("checkbox", name="Қазақша").uncheck()
    expect(page).to_have_url(re.compile(r"lang=ru,en"))
    v.settled()
    expect(page.locator("#result-list .result").first).to_be_visible()
    assert {r["lang"] for r in v.results()} == {"ru"}

    # The back button brings the unfiltered search back, then the grouped one.
    page.go_back()
    expect(page.locator('#result-list .result[data-lang="kk"]').first).to_be_visible()
    v.settled()
    assert url_params(page.url) == {"q": [QUESTION], "group": ["off"]}
    expect(page.get_by_role("checkbox", name="Қазақша")).to_be_checked()
    assert {r["lang"] for r in v.results()} >= {"kk", "ru"}
    page.go_back()
    expect(group).to_be_checked()
    expect(page.locator("#status")).to_contain_text("5 мақала")
    assert url_params(page.url) == {"q": [QUESTION]}


def test_shared_link_at_phone_width_and_interface_language(site, visit):
    v = visit(
        site,
        viewport={"width": 390, "height": 844},
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
        locale="ru-RU",
    )
    page = v.page
    page.goto(site + "/?" + urlencode({"q": QUESTION, "lang": "kk,ru", "k": 5}).replace("%2C", ","))
    expect(page.locator("html")).to_have_attribute("lang", "ru")
    expect(page.locator("#q")).to_have_value(QUESTION)
    expect(page.get_by_role("checkbox", name="Английский")).not_to_be_checked()
    expect(page.locator("#k")).to_have_value("5")
    expect(page.locator("#result-list .result").first).to_be_visible()
    v.settled()
    shown = v.results()
    assert len(shown) == 5 and {r["lang"] for r in shown} <= {"kk", "ru"}
    assert v.no_sideways_scroll(), "the page scrolls sideways"

    russian = page.locator('#result-list .result[data-lang="ru"]').first
    russian.locator(".related-toggle").click()
    related = russian.locator(".related-list li")
    expect(related.first).to_be_visible()
    assert set(related.evaluate_all("items => items.map(li => li.dataset.lang)")) == {"kk"}
    page.screenshot(path=OUT / "search-phone.png")  # what a phone shows first: the form and the top result
    russian.locator(".related").scroll_into_view_if_needed()
    page.screenshot(path=OUT / "search-phone-related.png")

    # Switching the interface language relabels everything, results included, and sticks.
    page.get_by_label("Язык интерфейса").select_option("en")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.locator("h1")).to_have_text("Kazakh and Russian news search")
    expect(russian.locator(".related-toggle")).to_have_text("Same in Kazakh")
    expect(page.locator("#status")).to_contain_text("5 articles")
    expect(page.get_by_label("Order")).to_have_value("relevance")
    page.reload()
    expect(page.locator("h1")).to_have_text("Kazakh and Russian news search")


def test_empty_result_and_api_error_are_shown(site, visit):
    v = visit(site, viewport={"width": 1000, "height": 800}, locale="en-US")
    page = v.page
    # A first visit offers example questions; one click runs one.
    page.goto(site + "/")
    examples = page.locator("#examples a")
    expect(examples).to_have_count(3)
    example = examples.nth(1).text_content()
    examples.nth(1).click()
    expect(page.locator("#result-list .result").first).to_be_visible()
    expect(page.locator("#examples")).to_be_hidden()
    expect(page.locator("#q")).to_have_value(example)
    assert url_params(page.url) == {"q": [example]}

    # The seeds have no English passage: an empty result, with the way out offered.
    page.goto(site + "/?" + urlencode({"q": QUESTION, "lang": "en"}))
    expect(page.locator("#empty")).to_be_visible()
    expect(page.locator("#empty")).to_contain_text("Nothing matched")
    expect(page.get_by_role("button", name="Search every date")).to_be_hidden()  # no date was chosen
    expect(page.get_by_role("button", name="More results")).to_be_hidden()
    button = page.get_by_role("button", name="Search all languages")
    expect(button).to_be_visible()
    button.click()
    expect(page.locator("#result-list .result").first).to_be_visible()
    assert "lang" not in url_params(page.url)
    expect(page.locator("#empty")).to_be_hidden()

    # An API error is shown plainly, in the API's words.
    message = requests.get(site + "/v1/search", params={"q": "x", "k": 500}, timeout=30).json()["error"]["message"]
    page.goto(site + "/?q=x&k=500")
    alert = page.get_by_role("alert")
    expect(alert).to_be_visible()
    expect(alert).to_contain_text(message)
    expect(page.locator("#result-list .result")).to_have_count(0)


def test_dates_narrow_the_results_and_a_reversed_range_is_an_error(site, visit):
    v = visit(site, viewport={"width": 1000, "height": 900}, locale="en-US")
    page = v.page
    v.search("/?" + urlencode({"q": QUESTION}))
    assert len(v.results()) == 5
    date_from = page.get_by_label("from", exact=True)
    date_to = page.get_by_label("to", exact=True)

    # Newest first: the dated articles by date, then the undated ones.
    page.get_by_label("Order").select_option("date")
    expect(page).to_have_url(re.compile(r"sort=date"))
    v.settled()
    dates = [r["date"] for r in v.results()]
    assert dates == sorted(dates, key=lambda d: d or "", reverse=True) and dates[0] == "2026-02-28", dates
    api = api_search(site, q=QUESTION, group="article", sort="date")
    assert [r["id"] for r in v.results()] == [r["passage_id"] for r in api["results"]]
    page.get_by_label("Order").select_option("relevance")
    expect(page).not_to_have_url(re.compile(r"sort="))
    v.settled()

    # 1-10 February 2026: seed 000 alone (002 is of the 28th, 003 of November, 001 and 004 undated).
    date_from.fill("2026-02-01")
    date_to.fill("2026-02-10")
    expect(page).to_have_url(re.compile(r"date_from=2026-02-01&date_to=2026-02-10"))
    expect(page.locator("#result-list .result")).to_have_count(1)
    v.settled()
    shown = v.results()
    assert [(r["doc"], r["date"]) for r in shown] == [(MINSK_KK, "2026-02-06")]
    api = api_search(site, q=QUESTION, group="article", date_from="2026-02-01", date_to="2026-02-10")
    assert [r["id"] for r in shown] == [r["passage_id"] for r in api["results"]]
    page.reload()  # the range is in the URL: a shared link keeps it
    expect(date_from).to_have_value("2026-02-01")
    expect(page.locator("#result-list .result")).to_have_count(1)

    # A range ending before it starts: the API's 400, said in an alert, next to the dates.
    message = requests.get(
        site + "/v1/search",
        params={"q": QUESTION, "group": "article", "date_from": "2026-02-20", "date_to": "2026-02-10"},
        timeout=30,
    ).json()["error"]["message"]
    date_from.fill("2026-02-20")
    alert = page.get_by_role("alert")
    expect(alert).to_be_visible()
    expect(alert).to_contain_text("The “to” date is before the “from” date.")
    expect(alert).to_contain_text(message)
    expect(date_to).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#result-list .result")).to_have_count(0)
    expect(page.locator("#search")).to_be_visible()  # not a blank page: the form is there to fix it
    page.screenshot(path=OUT / "dates-reversed-desktop.png")

    # A range no article falls in: an empty result, with the way out offered.
    date_from.fill("2020-01-01")
    date_to.fill("2020-12-31")
    expect(page.locator("#empty")).to_be_visible()
    expect(alert).to_be_hidden()
    expect(date_to).not_to_have_attribute("aria-invalid", "true")
    page.get_by_role("button", name="Search every date").click()
    expect(page.locator("#result-list .result")).to_have_count(5)
    assert url_params(page.url) == {"q": [QUESTION]}
    expect(date_from).to_have_value("")


def test_more_results_appends_the_next_page(site, visit):
    v = visit(site, viewport={"width": 1000, "height": 900}, locale="en-US")
    page = v.page
    more = page.get_by_role("button", name="More results")
    # Articles, two a page: the button fetches the next two, until there are no more.
    v.search("/?" + urlencode({"q": QUESTION, "k": 2}))
    expect(page.locator("#result-list .result")).to_have_count(2)
    expect(more).to_be_visible()
    more.focus()
    page.keyboard.press("Enter")
    expect(page.locator("#result-list .result")).to_have_count(4)
    v.settled()
    # The focus moves to the first new result, so the keyboard carries on from there.
    assert page.evaluate("document.activeElement === document.querySelectorAll('#result-list .r-title')[2]")
    expect(page.locator("#status")).to_contain_text("4 articles")
    more.click()
    expect(page.locator("#result-list .result")).to_have_count(5)
    expect(more).to_be_hidden()
    shown = v.results()
    assert len({r["doc"] for r in shown}) == 5
    api = api_search(site, q=QUESTION, k=10, group="article")
    assert [r["id"] for r in shown] == [r["passage_id"] for r in api["results"]]
    assert url_params(page.url) == {"q": [QUESTION], "k": ["2"]}  # more results is not a new search

    # Passages, five a page: none repeated, the same as one search three pages deep.
    v.search("/?" + urlencode({"q": QUESTION, "k": 5, "group": "off"}))
    for count in (10, 15):
        more.click()
        expect(page.locator("#result-list .result")).to_have_count(count)
        v.settled()
    shown = [r["id"] for r in v.results()]
    assert len(set(shown)) == 15
    assert shown == [r["passage_id"] for r in api_search(site, q=QUESTION, k=15)["results"]]
    expect(more).to_be_visible()  # the seeds have more than 15 passages


def test_a_kazakh_article_shows_its_russian_version(news_site, visit):
    v = visit(news_site, viewport={"width": 1200, "height": 900}, locale="kk-KZ")
    page = v.page
    v.search("/?" + urlencode({"q": MINSK_QUESTION}))
    kazakh = next(r for r in v.results() if r["doc"] == MINSK_KK)
    assert kazakh["counterparts"] == [
        {"doc": MINSK_RU.id, "lang": "ru", "label": "Орыс тілінде", "title": MINSK_RU.title, "date": "2026-02-06"}
    ]
    # Opening it shows the Russian article's passages that answer the question, words marked.
    item = page.locator(f'#result-list .result[data-doc-id="{MINSK_KK}"]')
    button = item.get_by_role("button", name=f"Орыс тілінде: {MINSK_RU.title}")
    expect(button).to_have_attribute("aria-expanded", "false")
    button.click()
    expect(button).to_have_attribute("aria-expanded", "true")
    version = item.locator(".cp-box .passage-list li")
    expect(version.first).to_be_visible()
    document = requests.get(news_site + f"/v1/documents/{MINSK_RU.id}", timeout=30).json()
    ids = version.evaluate_all("items => items.map(li => li.dataset.passageId)")
    assert ids and set(ids) <= {p["passage_id"] for p in document["passages"]}, ids
    expect(item.locator(".cp-box .p-text").first).to_have_attribute("lang", "ru")
    expect(item.locator(".cp-box mark.hl-term").first).to_be_visible()
    page.screenshot(path=OUT / "counterparts-desktop.png", full_page=True)

    # From the other side, in a Russian interface: the Russian article's Kazakh version.
    v = visit(news_site, viewport={"width": 1200, "height": 900}, locale="ru-RU")
    v.search("/?" + urlencode({"q": "Кошанов встретился с Лукашенко в Минске"}))
    russian = next(r for r in v.results() if r["doc"] == MINSK_RU.id)
    assert [(c["doc"], c["label"]) for c in russian["counterparts"]] == [(MINSK_KK, "На казахском")]


def test_no_accessibility_violations(news_site, visit):
    """axe-core, run inside the page, on the states a person meets, at desktop and at phone width:
    grouped results with a counterpart, more passages and a related list open; passages; an empty
    result; an API error; a reversed date range. Not one violation, of any impact."""
    # bypass_csp: the page's policy rightly refuses injected scripts such as axe itself.
    desktop = visit(news_site, viewport={"width": 1200, "height": 900}, locale="kk-KZ", bypass_csp=True)
    phone = visit(
        news_site,
        viewport={"width": 375, "height": 800},
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
        locale="kk-KZ",
        bypass_csp=True,
    )
    found: dict[str, list] = {}
    for v, width in ((desktop, "desktop"), (phone, "phone")):
        page = v.page
        page.goto(news_site + "/")
        page.screenshot(path=OUT / f"first-visit-{width}.png")
        found[f"first-visit-{width}"] = v.axe(f"first-visit-{width}")

        v.search("/?" + urlencode({"q": MINSK_QUESTION}))
        page.screenshot(path=OUT / f"results-{width}.png")  # the first screen of results
        item = page.locator(f'#result-list .result[data-doc-id="{MINSK_KK}"]')
        item.locator(".cp-toggle").click()
        expect(item.locator(".cp-box .passage-list li").first).to_be_visible()
        item.locator(".passages-toggle").click()
        item.locator(".related-toggle").click()
        expect(item.locator(".related-list li").first).to_be_visible()
        assert v.no_sideways_scroll(), f"the page scrolls sideways at {width} width"
        page.screenshot(path=OUT / f"results-{width}-opened.png", full_page=True)
        found[f"results-{width}"] = v.axe(f"results-{width}")

        states = {
            "passages": {"q": MINSK_QUESTION, "group": "off", "k": 5},
            "empty": {"q": QUESTION, "lang": "en"},
            "error": {"q": "x", "k": 500},
            "dates-reversed": {"q": QUESTION, "date_from": "2026-02-20", "date_to": "2026-02-10"},
        }
        for name, params in states.items():
            v.search("/?" + urlencode(params))
            assert v.no_sideways_scroll(), f"{name} scrolls sideways at {width} width"
            found[f"{name}-{width}"] = v.axe(f"{name}-{width}")
    violations = {name: x for name, x in found.items() if x}
    assert not violations, json.dumps(violations, ensure_ascii=False, indent=2)
