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
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlparse

import pytest
import requests

from tests.conftest import ROOT

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
def browser() -> Browser:
    OUT.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


class Visit:
    """One browser context, watching for script errors and for any request that leaves this machine."""

    def __init__(self, browser: Browser, **options) -> None:
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
        """What the page shows: one dict per result."""
        return self.page.eval_on_selector_all(
            "#result-list .result",
            """items => items.map(li => ({
                lang: li.dataset.lang,
                id: li.dataset.passageId,
                title: li.querySelector('.r-title').textContent,
                text: li.querySelector('.r-text').textContent,
                mark: (li.querySelector('.r-text mark') || {}).textContent || '',
                toggle: li.querySelector('.related-toggle').textContent,
            }))""",
        )

    def settled(self) -> None:
        expect(self.page.locator("#results")).not_to_have_attribute("aria-busy", "true")

    def close(self) -> None:
        assert not self.outside, f"the page asked for something off this machine: {self.outside}"
        assert not self.errors, f"script errors on the page: {self.errors}"
        self.context.close()


@pytest.fixture
def visit(browser):
    visits: list[Visit] = []

    def open_(**options) -> Visit:
        visits.append(Visit(browser, **options))
        return visits[-1]

    yield open_
    for v in visits:
        v.close()


def url_params(url: str) -> dict[str, list[str]]:
    return parse_qs(urlparse(url).query)


def test_kazakh_question_finds_kazakh_and_russian_passages(site, visit):
    v = visit(viewport={"width": 1200, "height": 900}, locale="kk-KZ")
    page = v.page
    page.goto(site + "/")
    # The browser's language picks the interface; the search box has the focus.
    expect(page.locator("html")).to_have_attribute("lang", "kk")
    expect(page.locator("h1")).to_have_text("Қазақ және орыс тіліндегі жаңалықтардан іздеу")
    assert page.evaluate("document.activeElement.id") == "q"

    page.keyboard.type(QUESTION)
    page.keyboard.press("Enter")
    expect(page.locator("#result-list .result").first).to_be_visible()
    v.settled()
    assert url_params(page.url) == {"q": [QUESTION]}
    expect(page.locator("#status")).to_contain_text("10 нәтиже")

    shown = v.results()
    assert len(shown) == 10
    assert {r["lang"] for r in shown} >= {"kk", "ru"}, shown
    for r in shown:
        assert r["title"] and r["mark"], r
        assert r["mark"] in r["text"]
    # The same results as the API gives, in the same order.
    api = requests.get(site + "/v1/search", params={"q": QUESTION, "k": 10}, timeout=30).json()
    assert [r["id"] for r in shown] == [r["passage_id"] for r in api["results"]]

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

    # A filter: without Kazakh, only Russian passages, and the URL says so.
    page.get_by_role("checkbox", name="Қазақша").uncheck()
    expect(page).to_have_url(re.compile(r"lang=ru,en"))
    v.settled()
    expect(page.locator("#result-list .result").first).to_be_visible()
    assert {r["lang"] for r in v.results()} == {"ru"}

    # The back button brings the unfiltered search back.
    page.go_back()
    expect(page.locator('#result-list .result[data-lang="kk"]').first).to_be_visible()
    v.settled()
    assert url_params(page.url) == {"q": [QUESTION]}
    expect(page.get_by_role("checkbox", name="Қазақша")).to_be_checked()
    assert {r["lang"] for r in v.results()} >= {"kk", "ru"}


def test_shared_link_at_phone_width_and_interface_language(site, visit):
    v = visit(
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
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), "the page scrolls sideways"

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
    page.reload()
    expect(page.locator("h1")).to_have_text("Kazakh and Russian news search")


def test_empty_result_and_api_error_are_shown(site, visit):
    v = visit(viewport={"width": 1000, "height": 800}, locale="en-US")
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


def test_no_serious_accessibility_violations(site, visit):
    """axe-core, run inside the page, on the states a person meets: results with a related list open,
    an empty result, an error."""
    axe = AXE.read_text(encoding="utf-8")
    # bypass_csp: the page's policy rightly refuses injected scripts such as axe itself.
    v = visit(viewport={"width": 1200, "height": 900}, locale="kk-KZ", bypass_csp=True)
    page = v.page
    violations: dict[str, list] = {}
    passed: dict[str, int] = {}
    version = None
    states = {
        "results": "/?" + urlencode({"q": QUESTION}),
        "empty": "/?" + urlencode({"q": QUESTION, "lang": "en"}),
        "error": "/?q=x&k=500",
    }
    for name, path in states.items():
        page.goto(site + path)
        page.wait_for_selector("#result-list .result, #empty:not([hidden]), #error:not([hidden])")
        v.settled()
        if name == "results":
            page.locator("#result-list .related-toggle").first.click()
            expect(page.locator(".related-list li").first).to_be_visible()
        page.add_script_tag(content=axe)
        result = page.evaluate(
            "tags => axe.run(document, {runOnly: {type: 'tag', values: tags}, resultTypes: ['violations']})",
            AXE_TAGS,
        )
        version = result["testEngine"]["version"]
        passed[name] = len(result["passes"])
        violations[name] = [
            {"id": x["id"], "impact": x["impact"], "help": x["help"], "nodes": [n["html"] for n in x["nodes"]]}
            for x in result["violations"]
        ]
    report = {"axe_core": version, "tags": AXE_TAGS, "rules_passed": passed, "violations": violations}
    (OUT / "axe-results.json").write_text(json.dumps(report, ensure_ascii=False, indent=2), encoding="utf-8")
    serious = {name: [x for x in found if x["impact"] in ("serious", "critical")] for name, found in violations.items()}
    assert not any(serious.values()), json.dumps(serious, ensure_ascii=False, indent=2)
