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
    if (key === "found" && STRINGS[`ql_${args[2]}`]) args[2] = t(`ql_${args[2]}`);
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
