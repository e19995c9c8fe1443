// The search page: reads the question and filters from the URL, asks the JSON API, shows results.
// No framework and no build step; every string a person reads is in STRINGS below, each with its
// translations side by side, so that a string added in one language is seen to lack the others.
"use strict";
(() => {
  const LANGS = ["kk", "ru", "en"];
  const DEFAULT_K = "10";
  const UI_LANGS = ["en", "ru", "kk"];

  const STRINGS = {
    pageTitle: {
      en: "Kazakh and Russian news search",
      ru: "Поиск по новостям на казахском и русском",
      kk: "Қазақ және орыс тіліндегі жаңалықтардан іздеу",
    },
    title: {
      en: "Kazakh and Russian news search",
      ru: "Поиск по новостям на казахском и русском",
      kk: "Қазақ және орыс тіліндегі жаңалықтардан іздеу",
    },
    skip: {
      en: "Skip to results",
      ru: "К результатам",
      kk: "Нәтижелерге өту",
    },
    uiLang: {
      en: "Interface language",
      ru: "Язык интерфейса",
      kk: "Интерфейс тілі",
    },
    searchLabel: {
      en: "Ask a question",
      ru: "Задайте вопрос",
      kk: "Сұрақ қойыңыз",
    },
    searchHint: {
      en: "In Kazakh, Russian or English: matching paragraphs come from both Kazakh and Russian articles.",
      ru: "На казахском, русском или английском: подходящие абзацы найдутся и в казахских, и в русских статьях.",
      kk: "Қазақша, орысша немесе ағылшынша: сәйкес абзацтар қазақ және орыс тіліндегі мақалалардан табылады.",
    },
    placeholder: {
      en: "How do Kazakhstan and Belarus cooperate?",
      ru: "Как сотрудничают Казахстан и Беларусь?",
      kk: "Қазақстан мен Беларусь қалай ынтымақтасады?",
    },
    searchButton: {
      en: "Search",
      ru: "Найти",
      kk: "Іздеу",
    },
    languages: {
      en: "Languages",
      ru: "Языки",
      kk: "Тілдер",
    },
    lang_kk: {
      en: "Kazakh",
      ru: "Казахский",
      kk: "Қазақша",
    },
    lang_ru: {
      en: "Russian",
      ru: "Русский",
      kk: "Орысша",
    },
    lang_en: {
      en: "English",
      ru: "Английский",
      kk: "Ағылшынша",
    },
    ql_kk: {
      en: "Kazakh",
      ru: "казахский",
      kk: "қазақша",
    },
    ql_ru: {
      en: "Russian",
      ru: "русский",
      kk: "орысша",
    },
    ql_en: {
      en: "English",
      ru: "английский",
      kk: "ағылшынша",
    },
    ql_other: {
      en: "another language",
      ru: "другой",
      kk: "басқа",
    },
    count: {
      en: "Results",
      ru: "Результатов",
      kk: "Нәтиже саны",
    },
    dates: {
      en: "Published",
      ru: "Дата публикации",
      kk: "Жарияланған күні",
    },
    dateFrom: {
      en: "from",
      ru: "с",
      kk: "қашаннан",
    },
    dateTo: {
      en: "to",
      ru: "по",
      kk: "қашанға дейін",
    },
    group: {
      en: "One result per article",
      ru: "Один результат на статью",
      kk: "Әр мақаладан бір нәтиже",
    },
    sort: {
      en: "Order",
      ru: "Порядок",
      kk: "Реті",
    },
    sort_relevance: {
      en: "Best match first",
      ru: "Сначала самые подходящие",
      kk: "Ең сәйкесі алдымен",
    },
    sort_date: {
      en: "Newest first",
      ru: "Сначала новые",
      kk: "Ең жаңасы алдымен",
    },
    resultsHeading: {
      en: "Results",
      ru: "Результаты",
      kk: "Нәтижелер",
    },
    searching: {
      en: "Searching…",
      ru: "Ищем…",
      kk: "Іздеп жатырмыз…",
    },
    found: {
      en: (n, ms, ql) => `${n} ${n === 1 ? "result" : "results"} in ${ms} ms · question in ${ql}`,
      ru: (n, ms, ql) => {
        const form = { one: "результат", few: "результата" }[new Intl.PluralRules("ru").select(n)] || "результатов";
        return `${n} ${form} за ${ms} мс · вопрос на языке: ${ql}`;
      },
      kk: (n, ms, ql) => `${n} нәтиже, ${ms} мс · сұрақ тілі: ${ql}`,
    },
    foundArticles: {
      en: (n, ms, ql) => `${n} ${n === 1 ? "article" : "articles"} in ${ms} ms · question in ${ql}`,
      ru: (n, ms, ql) => {
        const form = { one: "статья", few: "статьи" }[new Intl.PluralRules("ru").select(n)] || "статей";
        return `${n} ${form} за ${ms} мс · вопрос на языке: ${ql}`;
      },
      kk: (n, ms, ql) => `${n} мақала, ${ms} мс · сұрақ тілі: ${ql}`,
    },
    more: {
      en: "More results",
      ru: "Ещё результаты",
      kk: "Тағы нәтижелер",
    },
    empty: {
      en: "Nothing matched this question.",
      ru: "По этому вопросу ничего не нашлось.",
      kk: "Бұл сұрақ бойынша ештеңе табылмады.",
    },
    emptyFiltered: {
      en: "Only some languages are searched; try removing the filters.",
      ru: "Поиск идёт не на всех языках; попробуйте снять фильтры.",
      kk: "Іздеу барлық тілде жүрмейді; сүзгілерді алып тастап көріңіз.",
    },
    clearFilters: {
      en: "Search all languages",
      ru: "Искать на всех языках",
      kk: "Барлық тілде іздеу",
    },
    emptyDated: {
      en: "Only articles of the chosen dates are searched.",
      ru: "Поиск идёт только по статьям за выбранные даты.",
      kk: "Тек таңдалған күндердегі мақалалар ізделеді.",
    },
    clearDates: {
      en: "Search every date",
      ru: "Искать за все даты",
      kk: "Барлық күн бойынша іздеу",
    },
    dateOrder: {
      en: "The “to” date is before the “from” date.",
      ru: "Дата «по» раньше даты «с».",
      kk: "Соңғы күн бастапқы күннен бұрын тұр.",
    },
    emptyQuery: {
      en: "Type a question first.",
      ru: "Сначала введите вопрос.",
      kk: "Алдымен сұрақ жазыңыз.",
    },
    examples: {
      en: "Try one of these:",
      ru: "Попробуйте, например:",
      kk: "Мысалы, мыналарды қойып көріңіз:",
    },
    keepOne: {
      en: "Keep at least one language.",
      ru: "Оставьте хотя бы один язык.",
      kk: "Кемінде бір тілді қалдырыңыз.",
    },
    error: {
      en: "The service answered with an error:",
      ru: "Сервис ответил ошибкой:",
      kk: "Қызмет қате қайтарды:",
    },
    network: {
      en: "The service could not be reached. Check that it is running, then try again.",
      ru: "Не удалось связаться с сервисом. Проверьте, что он запущен, и попробуйте снова.",
      kk: "Қызметке қосылу мүмкін болмады. Оның іске қосылғанын тексеріп, қайталап көріңіз.",
    },
    score: {
      en: "score",
      ru: "оценка",
      kk: "баға",
    },
    similarity: {
      en: "similarity",
      ru: "сходство",
      kk: "ұқсастық",
    },
    same_ru: {
      en: "Same in Russian",
      ru: "То же на русском",
      kk: "Орыс тіліндегі баламасы",
    },
    same_kk: {
      en: "Same in Kazakh",
      ru: "То же на казахском",
      kk: "Қазақ тіліндегі баламасы",
    },
    same_other: {
      en: "Same in Kazakh and Russian",
      ru: "То же на казахском и русском",
      kk: "Қазақ және орыс тіліндегі баламасы",
    },
    morePassages: {
      en: (n) => `${n} more ${n === 1 ? "passage" : "passages"} from this article`,
      ru: (n) => {
        const form = { one: "абзац", few: "абзаца" }[new Intl.PluralRules("ru").select(n)] || "абзацев";
        return `Ещё ${n} ${form} из этой статьи`;
      },
      kk: (n) => `Осы мақаладан тағы ${n} абзац`,
    },
    // A grouped result's versions in other languages, named by the version's language.
    cp_ru: {
      en: "In Russian",
      ru: "На русском",
      kk: "Орыс тілінде",
    },
    cp_kk: {
      en: "In Kazakh",
      ru: "На казахском",
      kk: "Қазақ тілінде",
    },
    cp_en: {
      en: "In English",
      ru: "На английском",
      kk: "Ағылшын тілінде",
    },
    cp_other: {
      en: "In another language",
      ru: "На другом языке",
      kk: "Басқа тілде",
    },
    cpLoading: {
      en: "Opening this version…",
      ru: "Открываем эту версию…",
      kk: "Бұл нұсқаны ашып жатырмыз…",
    },
    cpHint: {
      en: "Its passages that best answer the question:",
      ru: "Её абзацы, которые лучше всего отвечают на вопрос:",
      kk: "Оның сұраққа ең сәйкес абзацтары:",
    },
    cpNone: {
      en: "Nothing in this version matches the question.",
      ru: "В этой версии ничего не подходит к вопросу.",
      kk: "Бұл нұсқада сұраққа сәйкес ештеңе жоқ.",
    },
    relatedLoading: {
      en: "Looking for the same passage in the other language…",
      ru: "Ищем тот же абзац на другом языке…",
      kk: "Осы абзацтың басқа тілдегі баламасын іздеп жатырмыз…",
    },
    relatedNone: {
      en: "No passage in the other language says the same thing.",
      ru: "На другом языке ничего похожего не нашлось.",
      kk: "Басқа тілде дәл осыны айтатын абзац табылмады.",
    },
    untitled: {
      en: "(untitled)",
      ru: "(без заголовка)",
      kk: "(тақырыпсыз)",
    },
    noscript: {
      en: "This page needs JavaScript; the JSON API at /v1/search works without it.",
      ru: "Для этой страницы нужен JavaScript; JSON API /v1/search работает и без него.",
      kk: "Бұл бетке JavaScript қажет; /v1/search JSON API-і онсыз да жұмыс істейді.",
    },
    footer: {
      en: "Scripts can ask the same questions through the JSON API:",
      ru: "Скрипты могут задавать те же вопросы через JSON API:",
      kk: "Скрипттер дәл осы сұрақтарды JSON API арқылы қоя алады:",
    },
  };

  const $ = (sel, root = document) => root.querySelector(sel);
  const form = $("#search");
  const input = $("#q");
  const kSelect = $("#k");
  const dateFrom = $("#date-from");
  const dateTo = $("#date-to");
  const groupBox = $("#group");
  const sortSelect = $("#sort");
  const uiSelect = $("#ui-lang");
  const status = $("#status");
  const errorBox = $("#error");
  const section = $("#results");
  const list = $("#result-list");
  const empty = $("#empty");
  const moreButton = $("#more");
  const chips = [...form.querySelectorAll('input[name="lang"]')];

  let ui = pickUiLang();
  let statusMsg = null; // [key, ...args], re-rendered when the interface language changes
  let errorMsg = null; // [key, apiMessage]
  let last = null; // {state, results, hasMore, next, tookMs, queryLang}: the search shown, all its pages
  let inflight = null;
  let dateTimer = null;
  const related = new Map(); // passage id -> {open, data, error}
  const versions = new Map(); // "doc id>counterpart id" -> {open, data, error}
  const openPassages = new Set(); // passage ids of grouped results whose more passages are shown

  const t = (key, ...args) => {
    const value = STRINGS[key] ? STRINGS[key][ui] ?? STRINGS[key].en : key;
    return typeof value === "function" ? value(...args) : value;
  };

  function pickUiLang() {
    try {
      const saved = localStorage.getItem("ui-lang");
      if (UI_LANGS.includes(saved)) return saved;
    } catch (_) { /* storage may be off */ }
    for (const tag of navigator.languages || [navigator.language || ""]) {
      const base = String(tag).toLowerCase().split("-")[0];
      if (UI_LANGS.includes(base)) return base;
    }
    return "en";
  }

  // ---- state <-> URL <-> form ----
  // The page groups by article unless the URL says group=off; dates and sort as the API names them.
  const ISO_DATE = /^[0-9]{4}-[0-9]{2}-[0-9]{2}$/;
  const isoDate = (value) => (ISO_DATE.test(value || "") ? value : "");

  function stateFromUrl() {
    const p = new URLSearchParams(location.search);
    const langs = (p.get("lang") || "").split(",").map((s) => s.trim()).filter((s) => LANGS.includes(s));
    return {
      q: p.get("q") || "",
      langs: langs.length === LANGS.length ? [] : langs,
      k: p.get("k") || DEFAULT_K,
      from: isoDate(p.get("date_from")),
      to: isoDate(p.get("date_to")),
      sort: p.get("sort") === "date" ? "date" : "relevance",
      group: p.get("group") !== "off",
    };
  }

  function stateFromForm() {
    const langs = chips.filter((c) => c.checked).map((c) => c.value);
    return {
      q: input.value.trim(),
      langs: langs.length === LANGS.length ? [] : langs,
      k: kSelect.value,
      from: isoDate(dateFrom.value),
      to: isoDate(dateTo.value),
      sort: sortSelect.value === "date" ? "date" : "relevance",
      group: groupBox.checked,
    };
  }

  function toForm(state) {
    input.value = state.q;
    chips.forEach((c) => { c.checked = !state.langs.length || state.langs.includes(c.value); });
    if (![...kSelect.options].some((o) => o.value === state.k)) kSelect.add(new Option(state.k));
    kSelect.value = state.k;
    dateFrom.value = state.from;
    dateTo.value = state.to;
    sortSelect.value = state.sort;
    groupBox.checked = state.group;
  }

  function query(state) {
    const p = new URLSearchParams();
    if (state.q) p.set("q", state.q);
    if (state.langs.length) p.set("lang", state.langs.join(","));
    if (state.k !== DEFAULT_K) p.set("k", state.k);
    if (state.from) p.set("date_from", state.from);
    if (state.to) p.set("date_to", state.to);
    if (state.sort === "date") p.set("sort", "date");
    if (!state.group) p.set("group", "off");
    // Keep the commas readable in the address bar: /?q=…&lang=kk,ru
    return p.toString().replace(/%2C/g, ",");
  }

  function apiParams(state, offset) {
    const params = new URLSearchParams({ q: state.q, k: state.k });
    if (state.langs.length) params.set("lang", state.langs.join(","));
    if (state.from) params.set("date_from", state.from);
    if (state.to) params.set("date_to", state.to);
    if (state.sort === "date") params.set("sort", "date");
    if (state.group) params.set("group", "article");
    if (offset) params.set("offset", String(offset));
    return params;
  }

  const datesReversed = (state) => Boolean(state.from && state.to && state.to < state.from);

  // ---- searching ----
  async function run(state, push) {
    clearTimeout(dateTimer);
    const qs = query(state);
    const url = qs ? `/?${qs}` : "/";
    if (push && url !== location.pathname + location.search) history.pushState(null, "", url);
    if (inflight) inflight.abort();
    setError(null);
    markDates(state);
    if (!state.q) {
      last = null;
      forgetOpened();
      renderResults();
      setStatus(push ? ["emptyQuery"] : null);
      return;
    }
    const ctrl = (inflight = new AbortController());
    section.setAttribute("aria-busy", "true");
    setStatus(["searching"]);
    try {
      const data = await getJson(`/v1/search?${apiParams(state, 0)}`, ctrl.signal);
      if (ctrl !== inflight) return;
      last = { state, results: [] };
      forgetOpened();
      take(data);
      renderResults();
      setFound();
    } catch (err) {
      if (err.name === "AbortError") return;
      last = null;
      renderResults();
      setStatus(null);
      setError(failure(err, state));
    } finally {
      if (ctrl === inflight) {
        inflight = null;
        section.removeAttribute("aria-busy");
      }
    }
  }

  // The next page (offset + k) of the search shown, appended; the focus goes to its first result.
  async function loadMore() {
    if (!last || !last.hasMore || inflight) return;
    const shown = last;
    const ctrl = (inflight = new AbortController());
    section.setAttribute("aria-busy", "true");
    setError(null);
    setStatus(["searching"]);
    try {
      const data = await getJson(`/v1/search?${apiParams(shown.state, shown.next)}`, ctrl.signal);
      if (ctrl !== inflight || shown !== last) return;
      const first = shown.results.length;
      take(data);
      const added = shown.results.slice(first).map((r, i) => renderResult(r, first + i));
      list.append(...added);
      updateChrome();
      setFound();
      const target = added.length ? $(".r-title", added[0]) : section;
      target.focus();
    } catch (err) {
      if (err.name === "AbortError") return;
      setStatus(null);
      setError(failure(err, shown.state));
    } finally {
      if (ctrl === inflight) {
        inflight = null;
        section.removeAttribute("aria-busy");
      }
    }
  }

  // One page of the API's answer into `last`: results not shown yet (one per article when grouped).
  function take(data) {
    const key = (r) => (last.state.group ? r.doc_id : r.passage_id);
    const seen = new Set(last.results.map(key));
    for (const r of data.results) {
      if (!seen.has(key(r))) { seen.add(key(r)); last.results.push(r); }
    }
    last.hasMore = Boolean(data.has_more);
    last.next = data.offset + Number(last.state.k);
    last.tookMs = Math.round(data.took_ms);
    last.queryLang = data.query_lang;
  }

  function setFound() {
    setStatus([last.state.group ? "foundArticles" : "found", last.results.length, last.tookMs, last.queryLang]);
  }

  function failure(err, state) {
    if (err.apiMessage === undefined) return ["network"];
    return [datesReversed(state) ? "dateOrder" : "error", err.apiMessage];
  }

  // The "to" date before the "from" one is marked as invalid, pointing at the error that explains it.
  function markDates(state) {
    if (datesReversed(state)) {
      dateTo.setAttribute("aria-invalid", "true");
      dateTo.setAttribute("aria-describedby", "error");
    } else {
      dateTo.removeAttribute("aria-invalid");
      dateTo.removeAttribute("aria-describedby");
    }
  }

  function forgetOpened() {
    related.clear();
    versions.clear();
    openPassages.clear();
  }

  async function getJson(url, signal) {
    const res = await fetch(url, { signal, headers: { Accept: "application/json" } });
    let body = null;
    try { body = await res.json(); } catch (_) { /* not JSON */ }
    if (!res.ok) {
      const err = new Error("api error");
      err.apiMessage = (body && body.error && body.error.message) || `HTTP ${res.status}`;
      throw err;
    }
    return body;
  }

  // ---- rendering ----
  function setStatus(msg) {
    statusMsg = msg;
    if (!msg) { status.textContent = ""; return; }
    const [key, ...args] = msg;
    if ((key === "found" || key === "foundArticles") && STRINGS[`ql_${args[2]}`]) args[2] = t(`ql_${args[2]}`);
    status.textContent = t(key, ...args);
  }

  function setError(msg) {
    errorMsg = msg;
    errorBox.hidden = !msg;
    errorBox.textContent = "";
    if (!msg) return;
    const [key, apiMessage] = msg;
    const strong = document.createElement("strong");
    strong.textContent = t(key);
    errorBox.append(strong);
    if (apiMessage !== undefined) errorBox.append(" ", apiMessage);
  }

  // Browsers' built-in Kazakh date data is often missing ("2025 M11 14"), so Kazakh is spelled out here.
  const KK_MONTHS = ["қаңтар", "ақпан", "наурыз", "сәуір", "мамыр", "маусым", "шілде", "тамыз", "қыркүйек", "қазан", "қараша", "желтоқсан"];

  function formatDate(iso) {
    try {
      const d = new Date(`${iso}T00:00:00Z`);
      if (isNaN(d)) return iso;
      if (ui === "kk") return `${d.getUTCFullYear()} жылғы ${d.getUTCDate()} ${KK_MONTHS[d.getUTCMonth()]}`;
      return new Intl.DateTimeFormat(ui, { year: "numeric", month: "long", day: "numeric", timeZone: "UTC" }).format(d);
    } catch (_) {
      return iso;
    }
  }

  function timeEl(iso) {
    const time = document.createElement("time");
    time.dateTime = iso;
    time.textContent = formatDate(iso);
    return time;
  }

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function langAttr(node, lang) {
    if (LANGS.includes(lang)) node.lang = lang;
  }

  function badge(node, lang) {
    node.className = `badge badge-${LANGS.includes(lang) ? lang : "other"}`;
    node.textContent = LANGS.includes(lang) ? t(`lang_${lang}`) : lang;
  }

  // The passage's best sentence in <mark class="hl-sentence">, the query's words in <mark class="hl-term">
  // (inside the sentence's mark where they fall in it; a word across its edge is split in two).
  // Offsets count code points (they come from Python); JS strings count UTF-16 units.
  function highlighted(node, text, hl) {
    const chars = Array.from(text);
    const n = chars.length;
    const clip = (x) => Math.max(0, Math.min(n, Number(x) || 0));
    const sentence = hl && clip(hl.end) > clip(hl.start) ? [clip(hl.start), clip(hl.end)] : null;
    const terms = [];
    const ranges = ((hl && hl.terms) || []).map(([s, e]) => [clip(s), clip(e)]).filter(([s, e]) => e > s);
    ranges.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
    for (const [s, e] of ranges) { // overlapping or touching words become one mark
      const prev = terms[terms.length - 1];
      if (prev && s <= prev[1]) prev[1] = Math.max(prev[1], e);
      else terms.push([s, e]);
    }
    const cuts = new Set([0, n, ...(sentence || []), ...terms.flat()]);
    const points = [...cuts].sort((a, b) => a - b);
    node.textContent = "";
    let sentenceMark = null;
    for (let i = 0; i + 1 < points.length; i++) {
      const [a, b] = [points[i], points[i + 1]];
      const piece = chars.slice(a, b).join("");
      const inTerm = terms.some(([s, e]) => s <= a && b <= e);
      const part = inTerm ? el("mark", "hl-term", piece) : document.createTextNode(piece);
      if (sentence && sentence[0] <= a && b <= sentence[1]) {
        if (!sentenceMark) node.append((sentenceMark = el("mark", "hl-sentence")));
        sentenceMark.append(part);
      } else {
        sentenceMark = null;
        node.append(part);
      }
    }
  }

  function otherSide(lang) {
    if (lang === "kk") return { key: "same_ru", langs: "ru" };
    if (lang === "ru") return { key: "same_kk", langs: "kk" };
    return { key: "same_other", langs: "kk,ru" };
  }

  // A disclosure button: aria-expanded, aria-controls, and the box it shows.
  function disclosure(button, box, id, open) {
    box.id = id;
    button.setAttribute("aria-controls", id);
    button.setAttribute("aria-expanded", String(open));
    box.hidden = !open;
  }

  function renderResults() {
    list.textContent = "";
    const results = last ? last.results : [];
    list.append(...results.map((r, i) => renderResult(r, i)));
    updateChrome();
  }

  function updateChrome() {
    const results = last ? last.results : [];
    $("#examples").hidden = Boolean(last) || Boolean(input.value.trim());
    empty.hidden = !last || results.length > 0;
    $("#empty-filtered").hidden = !last || !last.state.langs.length;
    $("#empty-dated").hidden = !last || !(last.state.from || last.state.to);
    moreButton.hidden = !last || !last.hasMore || !results.length;
  }

  function renderResult(r, i) {
    const li = $("#result-tpl").content.firstElementChild.cloneNode(true);
    li.dataset.lang = r.lang;
    li.dataset.passageId = r.passage_id;
    li.dataset.docId = r.doc_id;
    const title = $(".r-title", li);
    title.textContent = r.title || t("untitled");
    title.tabIndex = -1; // "more results" moves the focus to the first new title
    langAttr(title, r.lang);
    badge($(".badge", li), r.lang);
    const time = $(".r-date", li);
    if (r.date) { time.dateTime = r.date; time.textContent = formatDate(r.date); } else time.remove();
    $(".r-score", li).textContent = `${t("score")} ${r.score.toFixed(3)}`;
    const text = $(".r-text", li);
    langAttr(text, r.lang);
    highlighted(text, r.text, r.highlight);

    const more = r.more || [];
    const passagesToggle = $(".passages-toggle", li);
    const passagesBox = $(".passages", li);
    if (more.length) {
      passagesToggle.hidden = false;
      passagesToggle.textContent = t("morePassages", more.length);
      disclosure(passagesToggle, passagesBox, `passages-${i}`, openPassages.has(r.passage_id));
      passagesBox.append(passageList(more, r.lang));
      passagesToggle.addEventListener("click", () => {
        const open = !openPassages.has(r.passage_id);
        if (open) openPassages.add(r.passage_id); else openPassages.delete(r.passage_id);
        passagesToggle.setAttribute("aria-expanded", String(open));
        passagesBox.hidden = !open;
      });
    } else {
      passagesToggle.remove();
      passagesBox.remove();
    }

    const toggle = $(".related-toggle", li);
    const box = $(".related", li);
    const st = related.get(r.passage_id);
    disclosure(toggle, box, `related-${i}`, Boolean(st && st.open));
    toggle.textContent = t(otherSide(r.lang).key);
    toggle.addEventListener("click", () => toggleRelated(r, toggle, box));
    if (st && st.open) renderRelated(box, st);

    const cps = $(".counterparts", li);
    (r.counterparts || []).forEach((c, j) => cps.append(renderCounterpart(r, c, `version-${i}-${j}`)));
    if (cps.children.length) cps.hidden = false; else cps.remove();
    return li;
  }

  // "In Russian: <its title>" (a button that opens its passages answering the question) and its date.
  function renderCounterpart(r, c, id) {
    const li = el("li");
    li.dataset.lang = c.lang;
    li.dataset.docId = c.doc_id;
    const button = el("button", "cp-toggle");
    button.type = "button";
    const label = el("span", "cp-label", t(LANGS.includes(c.lang) ? `cp_${c.lang}` : "cp_other"));
    const title = el("span", "cp-title", c.title || t("untitled"));
    langAttr(title, c.lang);
    button.append(label, " ", title);
    const head = el("p", "cp-head");
    head.append(button);
    if (c.date) head.append(" ", timeEl(c.date));
    const box = el("div", "cp-box");
    const key = `${r.doc_id}>${c.doc_id}`;
    const st = versions.get(key);
    disclosure(button, box, id, Boolean(st && st.open));
    if (st && st.open) renderVersion(box, st, c.lang);
    button.addEventListener("click", () => toggleVersion(key, c, button, box));
    li.append(head, box);
    return li;
  }

  async function toggleVersion(key, c, button, box) {
    let st = versions.get(key);
    if (!st) versions.set(key, (st = { open: false, data: null, error: null }));
    st.open = !st.open;
    button.setAttribute("aria-expanded", String(st.open));
    box.hidden = !st.open;
    if (!st.open || st.data) return;
    st.error = null;
    renderVersion(box, st, c.lang);
    // The same question, asked of that document alone: its passages that answer it, marked.
    const params = new URLSearchParams({ q: last.state.q, k: "3", documents: c.doc_id });
    try {
      st.data = await getJson(`/v1/search?${params}`);
    } catch (err) {
      st.error = err.apiMessage === undefined ? ["network"] : ["error", err.apiMessage];
    }
    renderVersion(box, st, c.lang);
  }

  function renderVersion(box, st, lang) {
    if (!boxState(box, st, "cpLoading")) return;
    if (!st.data.results.length) {
      box.append(el("p", "muted", t("cpNone")));
      return;
    }
    box.append(el("p", "muted cp-hint", t("cpHint")), passageList(st.data.results, lang));
  }

  // Passages of one article (a grouped result's next ones, a version's best ones): text with its marks.
  function passageList(passages, lang) {
    const ul = el("ul", "passage-list");
    for (const p of passages) {
      const li = el("li");
      li.dataset.passageId = p.passage_id;
      const text = el("p", "p-text");
      langAttr(text, lang);
      highlighted(text, p.text, p.highlight);
      li.append(text, el("p", "meta", `${t("score")} ${Number(p.score).toFixed(3)}`));
      ul.append(li);
    }
    return ul;
  }

  // A box that loads on opening: its error or loading line; true once there is data to show.
  function boxState(box, st, loadingKey) {
    box.textContent = "";
    box.setAttribute("aria-busy", String(!st.data && !st.error));
    if (st.error) {
      const p = el("p", "error", st.error[1] === undefined ? t(st.error[0]) : `${t(st.error[0])} ${st.error[1]}`);
      p.setAttribute("role", "alert");
      box.append(p);
      return false;
    }
    if (!st.data) {
      const p = el("p", "muted", t(loadingKey));
      p.setAttribute("role", "status");
      box.append(p);
      return false;
    }
    return true;
  }

  async function toggleRelated(r, toggle, box) {
    let st = related.get(r.passage_id);
    if (!st) related.set(r.passage_id, (st = { open: false, data: null, error: null }));
    st.open = !st.open;
    toggle.setAttribute("aria-expanded", String(st.open));
    box.hidden = !st.open;
    if (!st.open || st.data) return;
    st.error = null;
    renderRelated(box, st);
    const url = `/v1/passages/${encodeURIComponent(r.passage_id)}/related?k=3&lang=${otherSide(r.lang).langs}`;
    try {
      st.data = await getJson(url);
    } catch (err) {
      st.error = err.apiMessage === undefined ? ["network"] : ["error", err.apiMessage];
    }
    renderRelated(box, st);
  }

  function renderRelated(box, st) {
    if (!boxState(box, st, "relatedLoading")) return;
    if (!st.data.results.length) {
      box.append(el("p", "muted", t("relatedNone")));
      return;
    }
    const ul = el("ul", "related-list");
    for (const r of st.data.results) {
      const li = el("li");
      li.dataset.lang = r.lang;
      li.dataset.passageId = r.passage_id;
      const title = el("p", "rel-title", r.title || t("untitled"));
      langAttr(title, r.lang);
      const meta = el("p", "meta");
      const b = el("span");
      badge(b, r.lang);
      meta.append(b);
      if (r.date) meta.append(timeEl(r.date));
      const sim = el("span", "", `${t("similarity")} ${Number(r.cosine).toFixed(3)}`);
      if (r.margin !== undefined) sim.title = `margin ${Number(r.margin).toFixed(3)}`;
      meta.append(sim);
      const text = el("p", "rel-text", r.text);
      langAttr(text, r.lang);
      li.append(title, meta, text);
      ul.append(li);
    }
    box.append(ul);
  }

  function applyUiLang() {
    document.documentElement.lang = ui;
    document.title = t("pageTitle");
    uiSelect.value = ui;
    for (const node of document.querySelectorAll("[data-i18n]")) node.textContent = t(node.dataset.i18n);
    input.placeholder = t("placeholder");
    setStatus(statusMsg);
    setError(errorMsg);
    renderResults();
  }

  // ---- events ----
  const rerun = () => { if (input.value.trim()) run(stateFromForm(), true); };
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    run(stateFromForm(), true);
  });
  chips.forEach((c) => c.addEventListener("change", () => {
    if (!chips.some((x) => x.checked)) {
      c.checked = true;
      setStatus(["keepOne"]);
      return;
    }
    rerun();
  }));
  kSelect.addEventListener("change", rerun);
  groupBox.addEventListener("change", rerun);
  sortSelect.addEventListener("change", rerun);
  // A date typed digit by digit changes several times: search once it has rested a moment.
  for (const d of [dateFrom, dateTo]) {
    d.addEventListener("change", () => {
      clearTimeout(dateTimer);
      dateTimer = setTimeout(rerun, 600);
    });
  }
  moreButton.addEventListener("click", loadMore);
  $("#clear-filters").addEventListener("click", () => {
    chips.forEach((c) => { c.checked = true; });
    run(stateFromForm(), true);
    input.focus();
  });
  $("#clear-dates").addEventListener("click", () => {
    dateFrom.value = "";
    dateTo.value = "";
    run(stateFromForm(), true);
    input.focus();
  });
  uiSelect.addEventListener("change", () => {
    ui = UI_LANGS.includes(uiSelect.value) ? uiSelect.value : "en";
    try { localStorage.setItem("ui-lang", ui); } catch (_) { /* storage may be off */ }
    applyUiLang();
  });
  window.addEventListener("popstate", () => {
    const state = stateFromUrl();
    toForm(state);
    run(state, false);
  });

  applyUiLang();
  const initial = stateFromUrl();
  toForm(initial);
  input.focus();
  if (initial.q) run(initial, false);
})();
