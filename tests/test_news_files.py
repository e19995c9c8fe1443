"""News files: saved HTML pages and RSS/Atom feeds in, article text out, through the library, the
build script and the API. The pages in tests/assets/news are written for these tests in the shape
of Kazakh and Russian news sites (menus, cookie banner, share buttons, related news, comments,
footer); nothing is fetched."""

from __future__ import annotations

import hashlib
import shutil

import orjson
import pytest
import requests

from embeddings.corpus import CorpusError, CorpusReport, read_corpus
from embeddings.news_files import declared_lang, extract_page, parse_feed
from tests.conftest import ROOT, SEEDS, WRITE_AUTH
from tests.test_scripts import script

NEWS = ROOT / "tests" / "assets" / "news"

KK_PARAGRAPHS = [
    "Елордада 300 орынға арналған көпбейінді балалар ауруханасы пайдалануға берілді. Жаңа медициналық нысанның "
    "ашылу салтанатына Денсаулық сақтау министрлігінің және қала әкімдігінің өкілдері қатысты.",
    "Аурухананың құрамында хирургия, кардиология және неврология бөлімшелері, сондай-ақ жаңа туған нәрестелерге "
    "арналған реанимация орталығы жұмыс істейді. Ғимарат заманауи диагностикалық құрылғылармен жабдықталған, "
    "оның ішінде магнитті-резонанстық томограф бар.",
    "Қала әкімдігінің мәліметінше, аурухана жылына 20 мыңнан астам жас пациентті қабылдай алады. Бұл "
    "елордадағы балалар медициналық мекемелеріне түсетін жүктемені едәуір азайтады деп күтілуде.",
    "Ауруханада 700-ге жуық дәрігер мен мейірбике жұмыс істейді, олардың жүзге жуығы шетелдік клиникаларда "
    "біліктілігін арттырған.",
]
KK_BOILERPLATE = [
    "Басты бет",  # menu and breadcrumbs
    "Саясат",
    "Аймақтар",
    "РУС",
    "Сайттан іздеу",
    "cookie",  # cookie banner
    "Келісемін",
    "Қаралды",  # view counter
    "Бөлісу",  # share buttons
    "Facebook",
    "WhatsApp",
    "#денсаулық",  # tags
    "Ұқсас жаңалықтар",  # related news
    "перинаталдық орталық",
    "онкологиялық диспансер",
    "Пікірлер",  # comments
    "Өте қуанышты жаңалық",
    "Кезек күту",
    "Ержан_88",
    "Барлық құқықтар қорғалған",  # footer
    "гиперсілтеме",
    "Жарнама",
]
RU_PARAGRAPHS = [
    "В Алматы открыли движение по новой выделенной линии скоростного автобуса BRT, которая соединила микрорайон "
    "Калкаман с центром города. Протяжённость маршрута составляет 14 километров.",
    "По данным городского управления мобильности, на линии работают 40 электробусов, интервал движения в часы пик "
    "не превышает пяти минут. Вдоль маршрута построены 22 крытые остановки с табло прибытия.",
    "В акимате рассчитывают, что новая линия сократит время поездки из западных районов в центр почти вдвое и "
    "снизит нагрузку на проспект Абая.",
]
RU_BOILERPLATE = [
    "Главная",  # menu
    "Политика",
    "Происшествия",
    "cookie",  # cookie banner
    "Принять",
    "2 октября 2025, 18:20",  # the date line under the headline
    "Поделиться",  # share buttons
    "ВКонтакте",
    "Telegram",
    "Скопировать ссылку",
    "Похожие новости",  # related news
    "продлят ветку метро",
    "Тарифы на такси",
    "платную парковку",
    "Комментарии",  # comments
    "полтора часа",
    "зимой там будет холодно",
    "Все права защищены",  # footer
    "При цитировании",
    "Реклама на сайте",
]
PAGES = {
    "kk-hospital.html": (
        KK_PARAGRAPHS,
        KK_BOILERPLATE,
        "Астанада 300 орындық балалар ауруханасы ашылды",
        "2025-11-14",
        "kk",
        "https://dala-aqparat.kz/kk/news/qogam/astanada-balalar-auruhanasy-ashyldy-41873",
    ),
    "ru-brt.htm": (
        RU_PARAGRAPHS,
        RU_BOILERPLATE,
        "В Алматы запустили новую линию скоростного автобуса",
        "2025-10-02",
        "ru",
        "https://stepnoy-vestnik.kz/news/obshchestvo/v-almaty-zapustili-liniyu-brt-2025-10-02",
    ),
}
RSS_ENTRIES = [  # title, date, link
    (
        "В Караганде открыли новый пешеходный мост через реку Букпа",
        "2025-09-18",  # 01:30 +05:00 on the 18th: the 17th in UTC
        "https://stepnoy-vestnik.kz/news/obshchestvo/karaganda-most-bukpa-2025-09-18",
    ),
    (
        "Урожай зерна в Костанайской области превысил пять миллионов тонн",
        "2025-09-17",
        "https://stepnoy-vestnik.kz/news/ekonomika/kostanay-urozhay-2025-09-17",
    ),
    (
        "В Павлодаре начался отопительный сезон",
        "2025-09-15",
        "https://stepnoy-vestnik.kz/news/obshchestvo/pavlodar-otoplenie-2025-09-15",
    ),
]
ATOM_ENTRIES = [
    (
        "Түркістан облысында 12 жаңа мектеп салынады",
        "2025-11-20",
        "https://dala-aqparat.kz/kk/news/bilim/turkistan-mektepter-41950",
    ),
    (
        "Ақтөбеде халықаралық шахмат турнирі басталды",
        "2025-11-18",  # no <published>: the updated time
        "https://dala-aqparat.kz/kk/news/sport/aqtobe-shahmat-41931",
    ),
]


def _documents(path, report=None):
    return {doc.id: doc for doc in read_corpus(path, report)}


@pytest.mark.parametrize("name", sorted(PAGES))
def test_a_news_page_yields_its_article_and_none_of_the_boilerplate(name):
    paragraphs, boilerplate, title, date, lang, url = PAGES[name]
    report = CorpusReport()
    (doc,) = read_corpus(NEWS / name, report)
    assert doc.text.split("\n") == paragraphs
    found = [s for s in boilerplate if s in doc.text or s in doc.title]
    assert not found, f"boilerplate kept: {found}"
    stem = name.rpartition(".")[0]
    assert (doc.id, doc.title, doc.date, doc.lang, doc.source) == (stem, title, date, lang, url)
    assert report.problems == [] and report.documents == 1


def test_a_page_that_names_no_url_keeps_its_file_and_an_undeclared_language_is_detected(tmp_path):
    html = (NEWS / "ru-brt.htm").read_text(encoding="utf-8")
    html = html.replace('<html lang="ru-KZ">', '<html lang="kz">')  # a code that is not kk, ru or en
    html = "\n".join(line for line in html.splitlines() if "og:url" not in line and "mainEntityOfPage" not in line)
    page = tmp_path / "no-url.html"
    page.write_text(html, encoding="utf-8")
    (doc,) = read_corpus(page)
    assert doc.source == str(page) and doc.lang == "ru" and doc.text.split("\n") == RU_PARAGRAPHS


def test_a_page_without_a_dated_markup_has_no_date_not_its_copyright_year():
    html = (NEWS / "kk-hospital.html").read_text(encoding="utf-8")
    html = "\n".join(line for line in html.splitlines() if "_time" not in line and "<time" not in line)
    page = extract_page(html)
    assert page.date is None and page.text.split("\n") == KK_PARAGRAPHS  # the footer says "© 2025"


def test_declared_languages_are_kept_only_for_kk_ru_and_en():
    assert [declared_lang(v) for v in ("kk", "ru-KZ", "EN_us", " ru ")] == ["kk", "ru", "en", "ru"]
    assert [declared_lang(v) for v in ("kz", "de", "", None)] == [None, None, None, None]


def test_a_page_of_navigation_only_is_reported_with_its_file_name_and_skipped():
    report = CorpusReport()
    docs = _documents(NEWS, report)
    assert "menu-only" not in docs
    assert report.problems == [f"{NEWS / 'menu-only.html'}: no article text could be extracted from the page; skipped"]
    with pytest.raises(ValueError, match="no article text"):
        extract_page((NEWS / "menu-only.html").read_bytes())


@pytest.mark.parametrize(
    ("name", "entries", "lang"), [("stepnoy-vestnik.rss", RSS_ENTRIES, "ru"), ("dala-aqparat.atom", ATOM_ENTRIES, "kk")]
)
def test_a_feed_yields_one_document_per_entry(name, entries, lang):
    report = CorpusReport()
    docs = list(read_corpus(NEWS / name, report))
    assert [(d.title, d.date, d.source) for d in docs] == entries
    assert {d.lang for d in docs} == {lang}
    stem = name.rpartition(".")[0]
    assert all(d.id.startswith(stem + "-") and len(d.id) == len(stem) + 17 for d in docs)
    assert len({d.id for d in docs}) == len(entries)
    assert [d.id for d in read_corpus(NEWS / name)] == [d.id for d in docs]  # read again: the same ids
    assert report.documents == len(entries) and report.problems == []


def test_a_feed_entry_gives_its_full_content_before_its_summary_and_its_paragraphs():
    docs = {d.title: d for d in read_corpus(NEWS / "stepnoy-vestnik.rss")}
    bridge = docs[RSS_ENTRIES[0][0]].text.split("\n")
    assert bridge[0].startswith("В Караганде открыли пешеходный мост") and len(bridge) >= 2
    assert "1,8 миллиарда тенге" in bridge[1]  # only in content:encoded, not in the description
    harvest = docs[RSS_ENTRIES[1][0]].text.split("\n")
    assert len(harvest) == 2 and harvest[1].startswith("В областном управлении")
    assert docs[RSS_ENTRIES[2][0]].text.startswith("Теплоснабжающая организация Павлодара")


def test_an_entry_is_named_by_its_id_so_a_changed_entry_replaces_its_document(tmp_path):
    rss = (NEWS / "stepnoy-vestnik.rss").read_text(encoding="utf-8")
    before = [d.id for d in read_corpus(NEWS / "stepnoy-vestnik.rss")]
    (tmp_path / "stepnoy-vestnik.rss").write_text(rss.replace("пешеходный мост", "мост"), encoding="utf-8")
    assert [d.id for d in read_corpus(tmp_path / "stepnoy-vestnik.rss")] == before
    assert before[0].endswith(hashlib.sha256(b"sv-2025-09-18-1041").hexdigest()[:16])  # the guid


def test_bad_feeds_and_entries_are_reported_and_skipped(tmp_path):
    (tmp_path / "sitemap.xml").write_text(
        '<?xml version="1.0"?><urlset><url><loc>https://x.kz/</loc></url></urlset>', encoding="utf-8"
    )
    (tmp_path / "broken.rss").write_bytes(b"\xff\xfe not a feed")
    (tmp_path / "empty.atom").write_text(
        '<feed xmlns="http://www.w3.org/2005/Atom"><title>Бос</title></feed>', encoding="utf-8"
    )
    (tmp_path / "partly.rss").write_text(
        '<rss version="2.0"><channel><title>Жаңалықтар</title>'
        "<item><title>Тек тақырып</title><link>https://x.kz/1</link></item>"
        "<item><title>Астанада қар жауды</title><link>https://x.kz/2</link>"
        "<description>Елордада түні бойы қалың қар жауды, жолдар тазартылуда.</description></item>"
        "</channel></rss>",
        encoding="utf-8",
    )
    report = CorpusReport()
    docs = list(read_corpus(tmp_path, report))
    assert [d.title for d in docs] == ["Астанада қар жауды"] and docs[0].lang == "kk"
    problems = "\n".join(report.problems)
    assert len(report.problems) == 4, problems
    assert f"{tmp_path / 'sitemap.xml'}: not an RSS or Atom feed" in problems
    assert f"{tmp_path / 'broken.rss'}: not an RSS or Atom feed" in problems
    assert f"{tmp_path / 'empty.atom'}: the feed has no entries; skipped" in problems
    assert f"{tmp_path / 'partly.rss'}: entry 1 (Тек тақырып): no text" in problems


def test_a_folder_takes_every_kind_together_and_says_which_it_wanted(tmp_path):
    shutil.copy(SEEDS / "000_51035c6eea1197a6.txt", tmp_path)
    shutil.copy(NEWS / "kk-hospital.html", tmp_path)
    shutil.copy(NEWS / "dala-aqparat.atom", tmp_path)
    (tmp_path / "notes.md").write_text("not a corpus file", encoding="utf-8")
    docs = _documents(tmp_path)
    assert len(docs) == 4 and {"000_51035c6eea1197a6", "kk-hospital"} <= docs.keys()
    with pytest.raises(CorpusError, match=r"\.txt, \.html, \.htm, \.rss, \.atom or \.xml"):
        read_corpus(tmp_path / "notes.md")


def test_parse_feed_refuses_what_is_not_a_feed():
    with pytest.raises(ValueError, match="not an RSS or Atom feed"):
        parse_feed(b"<html><body><p>just a page</p></body></html>")


def test_build_index_over_txt_html_and_rss_reports_what_it_skipped(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    shutil.copy(SEEDS / "003_50027884f20b3e6f.txt", corpus)
    for name in ("kk-hospital.html", "ru-brt.htm", "stepnoy-vestnik.rss", "menu-only.html"):
        shutil.copy(NEWS / name, corpus)
    index = tmp_path / "index"
    built = script("build_index.py", "--corpus", str(corpus), "--index", str(index))
    assert built.returncode == 0, built.stderr
    assert "indexed 6 documents" in built.stdout and "1 item(s) skipped" in built.stdout
    assert "menu-only.html: no article text could be extracted" in built.stderr
    found = script("search.py", "--index", str(index), "--json", "--k", "1", "children's hospital in Astana")
    assert found.returncode == 0, found.stderr
    assert orjson.loads(found.stdout)["results"][0]["doc_id"] == "kk-hospital"
    bus = script("search.py", "--index", str(index), "--json", "--k", "1", "Алматыда жылдам автобус желісі")
    assert orjson.loads(bus.stdout)["results"][0]["doc_id"] == "ru-brt"


def test_the_spec_says_a_document_is_text_or_html(client):
    schema = client.get("/openapi.json").get_json()["components"]["schemas"]["DocumentIn"]
    assert [branch["required"] for branch in schema["oneOf"]] == [["text"], ["html"]]
    assert "exactly one" in schema["description"]


def test_a_page_posted_as_html_is_indexed_as_its_article(writable_server):
    url = writable_server.url
    html = (NEWS / "kk-hospital.html").read_text(encoding="utf-8")
    created = requests.post(url + "/v1/documents", json={"html": html}, headers=WRITE_AUTH, timeout=60)
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["id"] == "doc-" + hashlib.sha256(html.encode()).hexdigest()[:16]
    assert (body["title"], body["date"], body["lang"]) == (PAGES["kk-hospital.html"][2], "2025-11-14", "kk")

    doc = requests.get(url + f"/v1/documents/{body['id']}", timeout=10).json()
    passages = [p["text"] for p in doc["passages"]]
    assert all(any(paragraph in p for p in passages) for paragraph in KK_PARAGRAPHS)
    assert not [s for s in KK_BOILERPLATE if any(s in p for p in passages)]
    found = requests.get(url + "/v1/search", params={"q": "детская больница в Астане", "k": 1}, timeout=30).json()
    assert found["results"][0]["doc_id"] == body["id"]

    given = {"id": "hospital", "html": html, "title": "Жаңа аурухана", "date": "2025-11-15", "lang": "kk"}
    overridden = requests.post(url + "/v1/documents", json=given, headers=WRITE_AUTH, timeout=60).json()
    assert (overridden["id"], overridden["title"], overridden["date"]) == ("hospital", "Жаңа аурухана", "2025-11-15")


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"text": "Астанада қар жауды.", "html": "<html><body><p>Қар</p></body></html>"}, "exactly one of"),
        ({"title": "Тақырып"}, "exactly one of the fields text and html"),
        ({"text": None, "html": None}, "exactly one of"),
        ({"html": ""}, "html"),
        ({"html": (NEWS / "menu-only.html").read_text(encoding="utf-8")}, "no article text could be extracted"),
    ],
)
def test_html_and_text_are_one_or_the_other_and_an_empty_page_is_refused(writable_server, body, fragment):
    response = requests.post(writable_server.url + "/v1/documents", json=body, headers=WRITE_AUTH, timeout=30)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_request" and fragment in error["message"]
