// The search page: reads the question and filters from the URL, asks the JSON API, shows results.
// No framework and no build step; every string a person reads is in STRINGS below.
"use strict";
(() => {
  const LANGS = ["kk", "ru", "en"];
  const DEFAULT_K = "10";

  const STRINGS = {
    en: {
      pageTitle: "Kazakh and Russian news search",
      title: "Kazakh and Russian news search",
      skip: "Skip to results",
      uiLang: "Interface language",
      searchLabel: "Ask a question",
      searchHint: "In Kazakh, Russian or English: matching paragraphs come from both Kazakh and Russian articles.",
      placeholder: "How do Kazakhstan and Belarus cooperate?",
      searchButton: "Search",
      languages: "Languages",
      lang_kk: "Kazakh", lang_ru: "Russian", lang_en: "English",
      ql_kk: "Kazakh", ql_ru: "Russian", ql_en: "English", ql_other: "another language",
      count: "Results",
      resultsHeading: "Results",
      searching: "Searching…",
      found: (n, ms, ql) => `${n} ${n === 1 ? "result" : "results"} in ${ms} ms · question in ${ql}`,
      empty: "Nothing matched this question.",
      emptyFiltered: "Only some languages are searched; try removing the filters.",
      clearFilters: "Search all languages",
      emptyQuery: "Type a question first.",
      examples: "Try one of these:",
      keepOne: "Keep at least one language.",
      error: "The service answered with an error:",
      network: "The service could not be reached. Check that it is running, then try again.",
      score: "score",
      similarity: "similarity",
      same_ru: "Same in Russian", same_kk: "Same in Kazakh", same_other: "Same in Kazakh and Russian",
      relatedLoading: "Looking for the same passage in the other language…",
      relatedNone: "No passage in the other language says the same thing.",
      untitled: "(untitled)",
      noscript: "This page needs JavaScript; the JSON API at /v1/search works without it.",
      footer: "Scripts can ask the same questions through the JSON API:",
    },
    ru: {
      pageTitle: "Поиск по новостям на казахском и русском",
      title: "Поиск по новостям на казахском и русском",
      skip: "К результатам",
      uiLang: "Язык интерфейса",
      searchLabel: "Задайте вопрос",
      searchHint: "На казахском, русском или английском: подходящие абзацы найдутся и в казахских, и в русских статьях.",
      placeholder: "Как сотрудничают Казахстан и Беларусь?",
      searchButton: "Найти",
      languages: "Языки",
      lang_kk: "Казахский", lang_ru: "Русский", lang_en: "Английский",
      ql_kk: "казахский", ql_ru: "русский", ql_en: "английский", ql_other: "другой",
      count: "Результатов",
      resultsHeading: "Результаты",
      searching: "Ищем…",
      found: (n, ms, ql) => {
        const form = { one: "результат", few: "результата" }[new Intl.PluralRules("ru").select(n)] || "результатов";
        return `${n} ${form} за ${ms} мс · вопрос на языке: ${ql}`;
      },
      empty: "По этому вопросу ничего не нашлось.",
      emptyFiltered: "Поиск идёт не на всех языках; попробуйте снять фильтры.",
      clearFilters: "Искать на всех языках",
      emptyQuery: "Сначала введите вопрос.",
      examples: "Попробуйте, например:",
      keepOne: "Оставьте хотя бы один язык.",
      error: "Сервис ответил ошибкой:",
      network: "Не удалось связаться с сервисом. Проверьте, что он запущен, и попробуйте снова.",
      score: "оценка",
      similarity: "сходство",
      same_ru: "То же на русском", same_kk: "То же на казахском", same_other: "То же на казахском и русском",
      relatedLoading: "Ищем тот же абзац на другом языке…",
      relatedNone: "На другом языке ничего похожего не нашлось.",
      untitled: "(без заголовка)",
      noscript: "Для этой страницы нужен JavaScript; JSON API /v1/search работает и без него.",
      footer: "Скрипты могут задавать те же вопросы через JSON API:",
    },
    kk: {
      pageTitle: "Қазақ және орыс тіліндегі жаңалықтардан іздеу",
      title: "Қазақ және орыс тіліндегі жаңалықтардан іздеу",
      skip: "Нәтижелерге өту",
      uiLang: "Интерфейс тілі",
      searchLabel: "Сұрақ қойыңыз",
      searchHint: "Қазақша, орысша немесе ағылшынша: сәйкес абзацтар қазақ және орыс тіліндегі мақалалардан табылады.",
      placeholder: "Қазақстан мен Беларусь қалай ынтымақтасады?",
      searchButton: "Іздеу",
      languages: "Тілдер",
      lang_kk: "Қазақша", lang_ru: "Орысша", lang_en: "Ағылшынша",
      ql_kk: "қазақша", ql_ru: "орысша", ql_en: "ағылшынша", ql_other: "басқа",
      count: "Нәтиже саны",
      resultsHeading: "Нәтижелер",
      searching: "Іздеп жатырмыз…",
      found: (n, ms, ql) => `${n} нәтиже, ${ms} мс · сұрақ тілі: ${ql}`,
      empty: "Бұл сұрақ бойынша ештеңе табылмады.",
      emptyFiltered: "Іздеу барлық тілде жүрмейді; сүзгілерді алып тастап көріңіз.",
      clearFilters: "Барлық тілде іздеу",
      emptyQuery: "Алдымен сұрақ жазыңыз.",
      examples: "Мысалы, мыналарды қойып көріңіз:",
      keepOne: "Кемінде бір тілді қалдырыңыз.",
      error: "Қызмет қате қайтарды:",
      network: "Қызметке қосылу мүмкін болмады. Оның іске қосылғанын тексеріп, қайталап көріңіз.",
      score: "баға",
      similarity: "ұқсастық",
      same_ru: "Орыс тіліндегі баламасы", same_kk: "Қазақ тіліндегі баламасы", same_other: "Қазақ және орыс тіліндегі баламасы",
      relatedLoading: "Осы абзацтың басқа тілдегі баламасын іздеп жатырмыз…",
      relatedNone: "Басқа тілде дәл осыны айтатын абзац табылмады.",
      untitled: "(тақырыпсыз)",
      noscript: "Бұл бетке JavaScript қажет; /v1/search JSON API-і онсыз да жұмыс істейді.",
      footer: "Скрипттер дәл осы сұрақтарды JSON API арқылы қоя алады:",
    },
  };

  const $ = (sel, root = document) => root.querySelector(sel);
  const form = $("#search");
  const input = $("#q");
  const kSelect = $("#k");
  const uiSelect = $("#ui-lang");
  const status = $("#status");
  const errorBox = $("#error");
  const section = $("#results");
  const list = $("#result-list");
  const empty = $("#empty");
  const chips = [...form.querySelectorAll('input[name="lang"]')];

  let ui = pickUiLang();
  let statusMsg = null; // [key, ...args], re-rendered when the interface language changes
  let errorMsg = null; // [key, apiMessage]
  let last = null; // {state, response}
  let inflight = null;
  const related = new Map(); // passage id -> {open, data, error}

  const t = (key, ...args) => {
    const value = STRINGS[ui][key] ?? STRINGS.en[key] ?? key;
    return typeof value === "function" ? value(...args) : value;
  };

  function pickUiLang() {
    try {
      const saved = localStorage.getItem("ui-lang");
      if (saved in STRINGS) return saved;
    } catch (_) { /* storage may be off */ }
    for (const tag of navigator.languages || [navigator.language || ""]) {
      const base = String(tag).toLowerCase().split("-")[0];
      if (base in STRINGS) return base;
    }
    return "en";
  }

  // ---- state <-> URL <-> form ----
  function stateFromUrl() {
    const p = new URLSearchParams(location.search);
    const langs = (p.get("lang") || "").split(",").map((s) => s.trim()).filter((s) => LANGS.includes(s));
    return { q: p.get("q") || "", langs: langs.length === LANGS.length ? [] : langs, k: p.get("k") || DEFAULT_K };
  }

  function stateFromForm() {
    const langs = chips.filter((c) => c.checked).map((c) => c.value);
    return { q: input.value.trim(), langs: langs.length === LANGS.length ? [] : langs, k: kSelect.value };
  }

  function toForm(state) {
    input.value = state.q;
    chips.forEach((c) => { c.checked = !state.langs.length || state.langs.includes(c.value); });
    if (![...kSelect.options].some((o) => o.value === state.k)) kSelect.add(new Option(state.k));
    kSelect.value = state.k;
  }

  function query(state) {
    const p = new URLSearchParams();
    if (state.q) p.set("q", state.q);
    if (state.langs.length) p.set("lang", state.langs.join(","));
    if (state.k !== DEFAULT_K) p.set("k", state.k);
    // Keep the commas readable in the address bar: /?q=…&lang=kk,ru
    return p.toString().replace(/%2C/g, ",");
  }

  // ---- searching ----
  async function run(state, push) {
    const qs = query(state);
    const url = qs ? `/?${qs}` : "/";
    if (push && url !== location.pathname + location.search) history.pushState(null, "", url);
    if (inflight) inflight.abort();
    setError(null);
    if (!state.q) {
      last = null;
      related.clear();
      renderResults();
      setStatus(push ? ["emptyQuery"] : null);
      return;
    }
    const params = new URLSearchParams({ q: state.q, k: state.k });
    if (state.langs.length) params.set("lang", state.langs.join(","));
    const ctrl = (inflight = new AbortController());
    section.setAttribute("aria-busy", "true");
    setStatus(["searching"]);
    try {
      const data = await getJson(`/v1/search?${params}`, ctrl.signal);
      if (ctrl !== inflight) return;
      last = { state, response: data };
      related.clear();
      renderResults();
      setStatus(["found", data.results.length, Math.round(data.took_ms), data.query_lang]);
    } catch (err) {
      if (err.name === "AbortError") return;
      last = null;
      renderResults();
      setStatus(null);
      setError(err.apiMessage === undefined ? ["network"] : ["error", err.apiMessage]);
    } finally {
      if (ctrl === inflight) {
        inflight = null;
        section.removeAttribute("aria-busy");
      }
    }
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
    if (key === "found") args[2] = STRINGS[ui][`ql_${args[2]}`] || args[2];
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

  function langAttr(el, lang) {
    if (LANGS.includes(lang)) el.lang = lang;
  }

  function badge(el, lang) {
    el.className = `badge badge-${LANGS.includes(lang) ? lang : "other"}`;
    el.textContent = LANGS.includes(lang) ? t(`lang_${lang}`) : lang;
  }

  // Highlight offsets count code points (they come from Python); JS strings count UTF-16 units.
  function highlighted(el, text, hl) {
    const chars = Array.from(text);
    if (!hl || !(hl.end > hl.start)) { el.textContent = text; return; }
    const mark = document.createElement("mark");
    mark.textContent = chars.slice(hl.start, hl.end).join("");
    el.append(chars.slice(0, hl.start).join(""), mark, chars.slice(hl.end).join(""));
  }

  function otherSide(lang) {
    if (lang === "kk") return { key: "same_ru", langs: "ru" };
    if (lang === "ru") return { key: "same_kk", langs: "kk" };
    return { key: "same_other", langs: "kk,ru" };
  }

  function renderResults() {
    list.textContent = "";
    const results = last ? last.response.results : [];
    const tpl = $("#result-tpl");
    results.forEach((r, i) => {
      const li = tpl.content.firstElementChild.cloneNode(true);
      li.dataset.lang = r.lang;
      li.dataset.passageId = r.passage_id;
      const title = $(".r-title", li);
      title.textContent = r.title || t("untitled");
      langAttr(title, r.lang);
      badge($(".badge", li), r.lang);
      const time = $(".r-date", li);
      if (r.date) { time.dateTime = r.date; time.textContent = formatDate(r.date); } else time.remove();
      $(".r-score", li).textContent = `${t("score")} ${r.score.toFixed(3)}`;
      const text = $(".r-text", li);
      langAttr(text, r.lang);
      highlighted(text, r.text, r.highlight);
      const toggle = $(".related-toggle", li);
      const box = $(".related", li);
      box.id = `related-${i}`;
      toggle.setAttribute("aria-controls", box.id);
      toggle.textContent = t(otherSide(r.lang).key);
      toggle.addEventListener("click", () => toggleRelated(r, toggle, box));
      const st = related.get(r.passage_id);
      if (st && st.open) { toggle.setAttribute("aria-expanded", "true"); box.hidden = false; renderRelated(box, st); }
      list.append(li);
    });
    $("#examples").hidden = Boolean(last) || Boolean(input.value.trim());
    empty.hidden = !last || results.length > 0;
    $("#empty-filtered").hidden = !last || !last.state.langs.length;
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
    box.textContent = "";
    box.setAttribute("aria-busy", String(!st.data && !st.error));
    if (st.error) {
      const p = document.createElement("p");
      p.className = "error";
      p.setAttribute("role", "alert");
      p.textContent = st.error[1] === undefined ? t(st.error[0]) : `${t(st.error[0])} ${st.error[1]}`;
      box.append(p);
      return;
    }
    if (!st.data) {
      const p = document.createElement("p");
      p.className = "muted";
      p.setAttribute("role", "status");
      p.textContent = t("relatedLoading");
      box.append(p);
      return;
    }
    if (!st.data.results.length) {
      const p = document.createElement("p");
      p.className = "muted";
      p.textContent = t("relatedNone");
      box.append(p);
      return;
    }
    const ul = document.createElement("ul");
    ul.className = "related-list";
    for (const r of st.data.results) {
      const li = document.createElement("li");
      li.dataset.lang = r.lang;
      li.dataset.passageId = r.passage_id;
      const title = document.createElement("p");
      title.className = "rel-title";
      title.textContent = r.title || t("untitled");
      langAttr(title, r.lang);
      const meta = document.createElement("p");
      meta.className = "meta";
      const b = document.createElement("span");
      badge(b, r.lang);
      meta.append(b);
      if (r.date) {
        const time = document.createElement("time");
        time.dateTime = r.date;
        time.textContent = formatDate(r.date);
        meta.append(time);
      }
      const sim = document.createElement("span");
      sim.textContent = `${t("similarity")} ${Number(r.cosine).toFixed(3)}`;
      if (r.margin !== undefined) sim.title = `margin ${Number(r.margin).toFixed(3)}`;
      meta.append(sim);
      const text = document.createElement("p");
      text.className = "rel-text";
      langAttr(text, r.lang);
      text.textContent = r.text;
      li.append(title, meta, text);
      ul.append(li);
    }
    box.append(ul);
  }

  function applyUiLang() {
    document.documentElement.lang = ui;
    document.title = t("pageTitle");
    uiSelect.value = ui;
    for (const el of document.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
    input.placeholder = t("placeholder");
    setStatus(statusMsg);
    setError(errorMsg);
    renderResults();
  }

  // ---- events ----
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
    if (input.value.trim()) run(stateFromForm(), true);
  }));
  kSelect.addEventListener("change", () => { if (input.value.trim()) run(stateFromForm(), true); });
  $("#clear-filters").addEventListener("click", () => {
    chips.forEach((c) => { c.checked = true; });
    run(stateFromForm(), true);
    input.focus();
  });
  uiSelect.addEventListener("change", () => {
    ui = uiSelect.value in STRINGS ? uiSelect.value : "en";
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
