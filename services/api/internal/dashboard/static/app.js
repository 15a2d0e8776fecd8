// The aspm dashboard: a single-page app that reads everything from this server's /v1 API with
// the user's bearer token. Data never reaches the DOM as markup: every text goes in as a text
// node or an attribute value (the server's Content-Security-Policy turns Trusted Types on, so
// assigning an HTML string to an element would throw).
"use strict";

(() => {
  const TOKEN_KEY = "aspm.token";
  const LEVELS = ["L0", "L1", "L2", "L3"];
  const LEVEL_TEXT = {
    L0: "no provenance for the digest",
    L1: "provenance, not verified or not from a trusted builder",
    L2: "verified, from a trusted hosted builder",
    L3: "verified, from a hardened builder",
  };
  const SEVERITIES = ["critical", "high", "medium", "low", "info"];
  const GAP_PAGE = 1000, GAP_PAGES = 10; // the top-gaps table reads at most 10,000 open gaps
  const COMPONENT_PAGE = 1000, COMPONENT_PAGES = 5;
  const ARTIFACT_PAGE = 50;
  const TREND_DAYS = 30;
  const ENV_ORDER = ["prod", "production", "staging", "stage", "preprod", "qa", "test", "dev", "development"];
  const ENV_COLORS = ["#1849a9", "#c11574", "#067647", "#b54708", "#6941c6", "#0e7090", "#4e5ba6", "#a15c07"];
  const SVG_NS = "http://www.w3.org/2000/svg";

  const $ = (id) => document.getElementById(id);

  const state = {
    token: null,
    filters: { org: "", team: "", env: "" },
    load: null, // AbortController of the current page load
    search: null, // AbortController of the current component search
    detail: null, // AbortController of the current drill-down
    artifacts: { level: "", gap: "", next: "" },
    colors: new Map(),
  };

  class AuthError extends Error {}
  class APIError extends Error {
    constructor(status, code, message) {
      super(message);
      this.status = status;
      this.code = code;
    }
  }

  // ---- DOM helpers: elements are built, never parsed from strings.

  function fill(el, children) {
    for (const c of children.flat(Infinity)) {
      if (c === null || c === undefined || c === false) continue;
      el.append(c instanceof Node ? c : String(c));
    }
    return el;
  }

  function setAttrs(el, attrs) {
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
      else el.setAttribute(k, v === true ? "" : String(v));
    }
    return el;
  }

  function h(tag, attrs, ...children) {
    return fill(setAttrs(document.createElement(tag), attrs), children);
  }

  function s(tag, attrs, ...children) {
    return fill(setAttrs(document.createElementNS(SVG_NS, tag), attrs), children);
  }

  function bar(fraction, cls) {
    const inner = h("span", { class: "fill " + (cls || "") });
    inner.style.width = (Math.max(0, Math.min(1, fraction)) * 100).toFixed(2) + "%";
    return h("span", { class: "bar", "aria-hidden": "true" }, inner);
  }

  function table(head, rows, attrs) {
    return h("table", attrs || {},
      h("thead", null, h("tr", null, head.map((c) => h("th", { scope: "col" }, c)))),
      h("tbody", null, rows));
  }

  // ---- formatting

  const num = (n) => Number(n).toLocaleString("en-US");
  const pct = (n, total) => (total > 0 ? Math.round((n * 100) / total) : null);
  const fmtPct = (p) => (p === null ? "–" : p + "%");
  const plural = (n, one, many) => num(n) + " " + (n === 1 ? one : many);

  function fmtTime(t) {
    if (!t) return "–";
    const d = new Date(t);
    if (Number.isNaN(d.getTime()) || d.getUTCFullYear() <= 1970) return "–";
    return d.toISOString().slice(0, 16).replace("T", " ") + " UTC";
  }

  const dayKey = (t) => String(t).slice(0, 10);

  function dayLabel(key) {
    return new Date(key + "T00:00:00Z").toLocaleDateString("en-US", { month: "short", day: "numeric", timeZone: "UTC" });
  }

  function shortDigest(d) {
    const [alg, hex] = String(d).split(":");
    return hex ? alg + ":" + hex.slice(0, 12) : String(d);
  }

  function levelBadge(level) {
    const l = typeof level === "number" ? "L" + level : String(level);
    return h("span", { class: "badge lvl-" + l, title: LEVEL_TEXT[l] || "" }, l);
  }

  function severityBadge(sev) {
    const known = SEVERITIES.includes(sev) ? sev : "info";
    return h("span", { class: "badge sev-" + known }, sev || "–");
  }

  function severityRank(sev) {
    const i = SEVERITIES.indexOf(sev);
    return i < 0 ? SEVERITIES.length : i;
  }

  function envSort(a, b) {
    const ia = ENV_ORDER.indexOf(a), ib = ENV_ORDER.indexOf(b);
    if (ia !== ib) return (ia < 0 ? 99 : ia) - (ib < 0 ? 99 : ib);
    return a < b ? -1 : a > b ? 1 : 0;
  }

  function envColor(env) {
    if (!state.colors.has(env)) state.colors.set(env, ENV_COLORS[state.colors.size % ENV_COLORS.length]);
    return state.colors.get(env);
  }

  // ---- the token

  function storedToken() {
    try {
      return localStorage.getItem(TOKEN_KEY);
    } catch {
      return null;
    }
  }

  function storeToken(t) {
    try {
      if (t) localStorage.setItem(TOKEN_KEY, t);
      else localStorage.removeItem(TOKEN_KEY);
    } catch {
      // Storage may be off (private windows); the token then lives in memory only.
    }
  }

  // fragmentToken returns the token of a #token=… fragment and removes the fragment from the
  // address bar and the history, or null when there is none.
  function fragmentToken() {
    if (!location.hash.startsWith("#")) return null;
    const t = new URLSearchParams(location.hash.slice(1)).get("token");
    if (t === null) return null;
    history.replaceState(null, "", location.pathname + location.search);
    return t.trim();
  }

  // ---- the API

  function errorMessage(body) {
    return body && body.error && typeof body.error.message === "string" ? body.error.message : "";
  }

  async function api(path, params, signal) {
    const url = new URL(path, location.origin);
    for (const [k, v] of Object.entries(params || {})) {
      if (v !== "" && v !== null && v !== undefined) url.searchParams.set(k, String(v));
    }
    const resp = await fetch(url, {
      headers: { Authorization: "Bearer " + state.token, Accept: "application/json" },
      credentials: "omit",
      signal,
    });
    let body = null;
    try {
      body = await resp.json();
    } catch {
      // not JSON: the status says enough
    }
    if (resp.status === 401) throw new AuthError(errorMessage(body) || "the token was not accepted");
    if (!resp.ok) {
      let msg = errorMessage(body) || resp.status + " " + resp.statusText;
      if (resp.status === 429) msg += " (retry in " + (resp.headers.get("Retry-After") || "a few") + " s)";
      if (resp.status === 403) msg += " (narrow the view with the filters at the top to what this token may see)";
      throw new APIError(resp.status, (body && body.error && body.error.code) || "", msg);
    }
    return body;
  }

  // pages follows the next cursors of a paginated endpoint up to max pages.
  async function pages(path, params, limit, max, signal) {
    const items = [];
    let after = "", n = 0;
    do {
      const b = await api(path, { ...params, limit, after }, signal);
      items.push(...(b.items || []));
      after = b.next || "";
      n++;
    } while (after && n < max);
    return { items, truncated: after !== "" };
  }

  // ---- screens

  function showLogin(message, isError) {
    if (state.load) state.load.abort();
    state.token = null;
    $("dash").hidden = true;
    $("filters").hidden = true;
    $("error").hidden = true;
    $("login").hidden = false;
    $("login-message").textContent = message;
    $("login-message").classList.toggle("error", !!isError);
    const app = $("app");
    app.dataset.state = "login";
    app.setAttribute("aria-busy", "false");
    $("token-input").value = "";
    $("token-input").focus();
  }

  function showError(message) {
    $("error").textContent = message;
    $("error").hidden = !message;
  }

  // section runs a loader for one part of the page: a failure other than authentication shows
  // in that part (in its body element, or in the banner at the top when it has none).
  async function section(id, body, loader) {
    const el = $(id);
    el.dataset.state = "loading";
    try {
      await loader();
      el.dataset.state = "ready";
    } catch (err) {
      if (err instanceof AuthError || (err && err.name === "AbortError")) throw err;
      el.dataset.state = "error";
      const msg = "Could not load " + (el.getAttribute("aria-label") || $(el.getAttribute("aria-labelledby") || "")?.textContent || id) + ": " + err.message;
      if (body) $(body).replaceChildren(h("p", { class: "notice error", role: "status" }, msg));
      else showError(msg);
    }
  }

  // ---- headline and level distribution (/v1/coverage)

  function renderCoverage(cov) {
    const total = cov.total || 0;
    const byLevel = cov.by_level || {};
    $("dash").querySelector('[data-testid="headline-total"]').textContent = num(total);
    $("dash").querySelector('[data-testid="headline-total-2"]').textContent = num(total);
    $("dash").querySelector('[data-testid="headline-verified"]').textContent = num(cov.verified_provenance || 0);
    $("dash").querySelector('[data-testid="headline-verified-pct"]').textContent = fmtPct(pct(cov.verified_provenance || 0, total));
    const withGaps = $("dash").querySelector('[data-testid="headline-with-gaps"]');
    withGaps.textContent = num(cov.with_gaps || 0);
    withGaps.classList.toggle("warn", (cov.with_gaps || 0) > 0);
    $("dash").querySelector('[data-testid="headline-with-gaps-pct"]').textContent = fmtPct(pct(cov.with_gaps || 0, total));

    const stack = $("level-stack");
    stack.replaceChildren();
    stack.setAttribute("aria-label", "Level distribution: " +
      LEVELS.map((l) => l + " " + (byLevel[l] || 0)).join(", "));
    for (const l of LEVELS) {
      const n = byLevel[l] || 0;
      if (!n) continue;
      const seg = h("span", { class: "seg lvl-" + l, title: l + ": " + plural(n, "artifact", "artifacts") }, n / total >= 0.06 ? l : "");
      seg.style.width = ((n * 100) / total).toFixed(2) + "%";
      stack.append(seg);
    }
    if (!total) stack.append(h("span", { class: "seg empty" }, "nothing deployed"));

    $("level-rows").replaceChildren(...LEVELS.slice().reverse().map((l) => {
      const n = byLevel[l] || 0;
      return h("li", null, h("button", {
        type: "button", class: "level-row", "data-level": l,
        "aria-label": l + ": " + plural(n, "artifact", "artifacts") + ", list them",
        onclick: () => filterArtifacts({ level: l }),
      },
      levelBadge(l),
      h("span", { class: "desc" }, LEVEL_TEXT[l]),
      bar(total ? n / total : 0, "lvl-" + l),
      h("span", { class: "count", "data-testid": "level-" + l }, num(n)),
      h("span", { class: "pct", "data-testid": "level-" + l + "-pct" }, fmtPct(pct(n, total)))));
    }));
  }

  // ---- the trend chart (/v1/coverage/trend by env over 30 days)

  function trendRange() {
    const to = new Date();
    const from = new Date(to.getTime() - (TREND_DAYS - 1) * 86400000);
    const days = [];
    for (let i = 0; i < TREND_DAYS; i++) days.push(dayKey(new Date(from.getTime() + i * 86400000).toISOString()));
    return { from: days[0], to: days[days.length - 1], days };
  }

  function renderTrend(points, range) {
    const byEnv = new Map();
    for (const p of points) {
      if (!byEnv.has(p.group)) byEnv.set(p.group, new Map());
      byEnv.get(p.group).set(dayKey(p.day), p);
    }
    const envs = [...byEnv.keys()].sort(envSort);
    envs.forEach(envColor);
    const chart = $("trend-chart");
    if (!envs.length) {
      chart.replaceChildren(h("p", { class: "empty" }, "No daily roll-ups in the last 30 days yet: the scorer records one every few minutes."));
      $("trend-legend").replaceChildren();
      $("trend-table").replaceChildren();
      return;
    }
    const W = 720, H = 250, m = { l: 44, r: 14, t: 12, b: 30 };
    const n = range.days.length;
    const x = (i) => m.l + (n > 1 ? (i * (W - m.l - m.r)) / (n - 1) : 0);
    const y = (p) => m.t + ((100 - p) * (H - m.t - m.b)) / 100;
    const svg = s("svg", {
      viewBox: "0 0 " + W + " " + H, class: "trend", role: "img", "data-testid": "trend-chart",
      "aria-label": "Verified provenance per environment, " + range.from + " to " + range.to,
    });
    for (const p of [0, 25, 50, 75, 100]) {
      svg.append(s("line", { x1: m.l, x2: W - m.r, y1: y(p), y2: y(p), class: p ? "gridline" : "axis" }),
        s("text", { x: m.l - 8, y: y(p) + 4, class: "tick", "text-anchor": "end" }, p + "%"));
    }
    for (let i = 0; i < n; i += 7) {
      const last = i + 7 >= n;
      const j = last ? n - 1 : i;
      svg.append(s("text", { x: x(j), y: H - 8, class: "tick", "text-anchor": last ? "end" : i ? "middle" : "start" }, dayLabel(range.days[j])));
      if (last) break;
    }
    const legend = [];
    for (const env of envs) {
      const series = byEnv.get(env);
      const color = envColor(env);
      let d = "", prev = -2, latest = null;
      const dots = [];
      range.days.forEach((day, i) => {
        const p = series.get(day);
        if (!p) return;
        const v = pct(p.verified_provenance, p.total);
        if (v === null) return;
        d += (i === prev + 1 ? " L" : " M") + x(i).toFixed(1) + " " + y(v).toFixed(1);
        prev = i;
        latest = { day, v, p };
        dots.push(s("circle", { cx: x(i), cy: y(v), r: 3.5, fill: color, class: "dot" },
          s("title", null, env + ", " + day + ": " + v + "% (" + p.verified_provenance + " of " + p.total + " verified)")));
      });
      svg.append(s("path", { d: d.trim(), stroke: color, class: "line", "data-testid": "trend-line-" + env }), ...dots);
      const swatch = h("span", { class: "swatch", "aria-hidden": "true" });
      swatch.style.background = color;
      legend.push(h("li", null, swatch, h("span", null, env), " ",
        h("strong", { "data-testid": "trend-latest-" + env }, latest ? latest.v + "%" : "–"),
        latest ? h("span", { class: "small" }, " on " + dayLabel(latest.day)) : null));
    }
    chart.replaceChildren(svg);
    $("trend-legend").replaceChildren(...legend);

    const rows = [];
    for (const day of range.days.slice().reverse()) {
      if (!envs.some((e) => byEnv.get(e).has(day))) continue;
      rows.push(h("tr", null, h("th", { scope: "row" }, day), envs.map((e) => {
        const p = byEnv.get(e).get(day);
        return h("td", { "data-testid": "trend-" + e + "-" + day },
          p ? fmtPct(pct(p.verified_provenance, p.total)) + " (" + p.verified_provenance + "/" + p.total + ")" : "–");
      })));
    }
    $("trend-table").replaceChildren(table(["Day", ...envs], rows, { class: "compact" }));
  }

  // ---- the team × environment table: for the latest roll-up day D in the trend, one
  // /v1/coverage/trend?from=D&to=D&by=team&env=E per environment E (a point then equals
  // /v1/coverage?team=T&env=E as of the roll-up): 1 + #environments requests however many teams.

  async function loadMatrix(points, f, signal) {
    const caption = $("matrix-caption");
    if (!points.length) {
      caption.textContent = "Deployed artifacts and the share with verified provenance, per team and environment.";
      $("matrix-body").replaceChildren(h("p", { class: "empty" }, "No daily roll-up yet."));
      return;
    }
    const day = points.map((p) => dayKey(p.day)).sort().pop();
    const envPoints = points.filter((p) => dayKey(p.day) === day).sort((a, b) => envSort(a.group, b.group));
    const envs = envPoints.map((p) => p.group);
    const perEnv = await Promise.all(envs.map((env) =>
      api("/v1/coverage/trend", { from: day, to: day, by: "team", org: f.org, team: f.team, env }, signal)));
    const cells = new Map(); // team → env → point
    perEnv.forEach((res, i) => {
      for (const p of res.points || []) {
        if (!cells.has(p.group)) cells.set(p.group, new Map());
        cells.get(p.group).set(envs[i], p);
      }
    });
    const teams = [...cells.keys()].sort();
    setOptions("teams", teams.filter(Boolean));
    caption.textContent = "Deployed artifacts and the share with verified provenance, per team and environment, " +
      "from the roll-up of " + day + ".";
    const cell = (p, id, label) => {
      if (!p || !p.total) return h("td", { class: "cell none", "data-testid": id }, "–");
      const v = pct(p.verified_provenance, p.total);
      return h("td", {
        class: "cell " + (v >= 80 ? "hi" : v >= 50 ? "mid" : "lo"), "data-testid": id,
        title: label + ": " + plural(p.total, "artifact", "artifacts") + ", " + p.verified_provenance +
          " with verified provenance, " + p.with_gaps + " with gaps",
      },
      h("span", { class: "n", "data-testid": id + "-total" }, num(p.total)),
      h("span", { class: "p", "data-testid": id + "-pct" }, fmtPct(v)));
    };
    const rows = teams.map((t) => h("tr", null, h("th", { scope: "row" }, t || "(no team)"),
      envs.map((e) => cell(cells.get(t).get(e), "cell-" + t + "-" + e, (t || "no team") + " in " + e))));
    const foot = h("tfoot", null, h("tr", null, h("th", { scope: "row" }, "All teams"),
      envPoints.map((p) => cell(p, "cell-*-" + p.group, "all teams in " + p.group))));
    const t = table(["Team", ...envs], rows, { class: "matrix", "data-testid": "matrix" });
    t.append(foot);
    $("matrix-body").replaceChildren(t);
  }

  // ---- top gaps (/v1/gaps?state=open, every page up to GAP_PAGES)

  function renderGaps(res) {
    const byCode = new Map();
    for (const g of res.items) {
      const c = byCode.get(g.code) || { code: g.code, n: 0, sev: g.severity, artifacts: new Set() };
      c.n++;
      c.artifacts.add(g.image && g.image.digest);
      if (severityRank(g.severity) < severityRank(c.sev)) c.sev = g.severity;
      byCode.set(g.code, c);
    }
    const codes = [...byCode.values()].sort((a, b) => b.n - a.n || (a.code < b.code ? -1 : 1));
    $("gaps").querySelector('[data-testid="gaps-total"]').textContent = num(res.items.length) + (res.truncated ? "+" : "");
    setOptions("gap-codes", codes.map((c) => c.code));
    if (!codes.length) {
      $("gaps-body").replaceChildren(h("p", { class: "empty good" }, "No open gaps."));
      return;
    }
    const max = codes[0].n;
    const rows = codes.map((c) => h("tr", { "data-code": c.code },
      h("td", null, h("button", {
        type: "button", class: "link mono", onclick: () => filterArtifacts({ gap: c.code }),
        "aria-label": "List the artifacts with gap " + c.code,
      }, c.code)),
      h("td", null, severityBadge(c.sev)),
      h("td", { class: "num" }, h("span", { "data-testid": "gap-count-" + c.code }, num(c.n))),
      h("td", { class: "num small nowrap" }, plural(c.artifacts.size, "artifact", "artifacts")),
      h("td", { class: "barcell" }, bar(c.n / max, "sev-" + c.sev))));
    const body = [table(["Code", "Severity", "Open", "Where", ""], rows, { class: "gaps", "data-testid": "gaps-table" })];
    if (res.truncated) body.push(h("p", { class: "small" }, "Counted over the first " + num(res.items.length) + " open gaps."));
    $("gaps-body").replaceChildren(...body);
  }

  // ---- artifacts (/v1/artifacts) and the drill-down (/v1/artifacts/{digest})

  function artifactRow(a) {
    const d = a.image.digest;
    return h("tr", { "data-digest": d },
      h("td", null, h("button", {
        type: "button", class: "link", "data-testid": "artifact-" + d, onclick: () => openDetail(d),
        "aria-label": "Details of " + a.image.repository + "@" + d,
      }, h("span", { class: "repo" }, a.image.repository), h("span", { class: "mono small" }, "@" + shortDigest(d)))),
      h("td", { "data-testid": "artifact-level-" + d }, levelBadge(a.slsa_level)),
      h("td", { class: "num", "data-testid": "artifact-risk-" + d }, String(a.risk)),
      h("td", null, a.verified_provenance ? h("span", { class: "yes" }, "verified") : h("span", { class: "no" }, "none")),
      h("td", null, (a.environments || []).slice().sort(envSort).join(", ")),
      h("td", null, (a.gaps || []).length ? (a.gaps || []).map((g) => h("span", { class: "chip mono" }, g)) : h("span", { class: "small" }, "none")));
  }

  async function loadArtifacts(f, more, signal) {
    const q = state.artifacts;
    const res = await api("/v1/artifacts", {
      org: f.org, team: f.team, env: f.env, level: q.level, gap: q.gap, limit: ARTIFACT_PAGE, after: more ? q.next : "",
    }, signal);
    q.next = res.next || "";
    const body = $("artifacts-body");
    let tbody = body.querySelector("tbody");
    if (!more || !tbody) {
      if (!res.items.length) {
        body.replaceChildren(h("p", { class: "empty" }, "No deployed artifact matches."));
      } else {
        const t = table(["Artifact", "Level", "Risk", "Provenance", "Environments", "Gaps"], [], { "data-testid": "artifacts-table" });
        body.replaceChildren(t);
        tbody = t.querySelector("tbody");
      }
    }
    if (tbody) fill(tbody, res.items.map(artifactRow));
    $("artifacts-more").hidden = !q.next;
  }

  function filterArtifacts(change) {
    Object.assign(state.artifacts, change);
    $("a-level").value = state.artifacts.level;
    $("a-gap").value = state.artifacts.gap;
    $("artifacts").scrollIntoView({ behavior: "smooth", block: "start" });
    reloadArtifacts();
  }

  function reloadArtifacts() {
    const signal = state.load ? state.load.signal : undefined;
    section("artifacts", "artifacts-body", () => loadArtifacts(state.filters, false, signal)).catch(handleFailure);
  }

  function kv(pairs) {
    return h("dl", { class: "kv" }, pairs.filter(([, v]) => v !== null && v !== undefined && v !== "")
      .map(([k, v]) => [h("dt", null, k), h("dd", null, v)]));
  }

  function evidenceRow(e) {
    const v = e.verification || {};
    const signer = v.signer || {};
    const prov = e.provenance || {};
    let verified;
    if (v.verified) verified = h("span", { class: "yes" }, "verified");
    else if (e.signed) verified = h("span", { class: "no" }, v.identity_mismatch ? "unexpected signer" : "failed");
    else verified = h("span", { class: "small" }, "unsigned");
    const what = [];
    if (prov.builder_id) what.push(h("div", null, "builder ", h("span", { class: "mono" }, prov.builder_id)));
    if (prov.source_repository) what.push(h("div", null, "source ", h("span", { class: "mono" }, prov.source_repository + (prov.source_ref ? " @ " + prov.source_ref : ""))));
    if (prov.runner_environment) what.push(h("div", null, "runner ", prov.runner_environment));
    if (e.sbom) what.push(h("div", null, e.sbom.format + " " + (e.sbom.spec_version || "") + ", " + plural(e.sbom.components || 0, "component", "components")));
    if (e.predicate_type) what.push(h("div", { class: "small mono" }, e.predicate_type));
    if (e.malformed) what.push(h("div", { class: "no" }, "malformed: " + e.malformed));
    if (v.error) what.push(h("div", { class: "no small" }, v.error));
    return h("tr", null,
      h("td", null, e.kind, h("div", { class: "small" }, e.source)),
      h("td", null, verified, (e.subjects || []).length
        ? h("div", { class: "small" }, e.subject_match ? "names this digest" : "names another digest") : null),
      h("td", { class: "small" }, signer.identity ? [h("div", { class: "mono" }, signer.identity), signer.issuer ? h("div", null, signer.issuer) : null] : "–"),
      h("td", { class: "small" }, what.length ? what : "–"));
  }

  function renderDetail(a) {
    const det = $("detail");
    const scores = (a.scores || []).slice().sort((x, y) => envSort(x.environment, y.environment));
    const parts = [
      h("div", { class: "panel-head" },
        h("h3", { id: "detail-title" }, a.repository),
        h("button", { type: "button", class: "quiet", onclick: closeDetail, "aria-label": "Close the details" }, "Close")),
      h("p", { class: "mono small digest", "data-testid": "detail-digest" }, a.digest),
      kv([
        ["Highest level", levelBadge(a.slsa_level)],
        ["Highest risk", String(a.risk)],
        ["Verified provenance", a.verified_provenance ? h("span", { class: "yes" }, "yes") : h("span", { class: "no" }, "no")],
        ["Evidence collected", fmtTime(a.collected_at)],
      ]),
      h("h4", null, "Per environment"),
      scores.length ? table(["Environment", "Org / team", "Level", "Risk", "Provenance", "Gaps", "Evaluated"], scores.map((sc) =>
        h("tr", { "data-testid": "detail-env-" + sc.environment },
          h("th", { scope: "row" }, sc.environment),
          h("td", null, sc.org + (sc.team ? " / " + sc.team : "")),
          h("td", { "data-testid": "detail-level-" + sc.environment }, levelBadge(sc.slsa_level)),
          h("td", { class: "num" }, String(sc.risk)),
          h("td", null, sc.verified_provenance ? h("span", { class: "yes" }, "verified") : h("span", { class: "no" }, "none")),
          h("td", null, (sc.gaps || []).length ? (sc.gaps || []).map((g) => h("span", { class: "chip mono" }, g.code)) : "none"),
          h("td", { class: "small" }, fmtTime(sc.evaluated_at)))), { class: "compact" })
        : h("p", { class: "empty" }, "Not scored yet."),
      h("h4", null, "Decision explanation"),
      h("div", { class: "explanations", "data-testid": "detail-explanation" }, scores.map((sc) =>
        h("div", { class: "explanation" },
          h("p", { class: "small" }, h("strong", null, sc.environment), ": ", levelBadge(sc.slsa_level),
            sc.policy_version ? " · policy " + sc.policy_version : ""),
          (sc.explanation || []).length
            ? h("ol", { "data-testid": "detail-explanation-" + sc.environment }, sc.explanation.map((line) => h("li", null, line)))
            : h("p", { class: "small", "data-testid": "detail-explanation-" + sc.environment }, "The policy gave no explanation.")))),
      h("h4", null, "Gaps"),
      (a.gaps || []).length ? table(["Environment", "Code", "Severity", "What", "Rule"], a.gaps.slice().sort((x, y) =>
        envSort(x.environment, y.environment) || severityRank(x.severity) - severityRank(y.severity)).map((g) =>
        h("tr", null, h("td", null, g.environment), h("td", { class: "mono" }, g.code), h("td", null, severityBadge(g.severity)),
          h("td", null, g.message), h("td", { class: "mono small" }, g.rule))), { class: "compact", "data-testid": "detail-gaps" })
        : h("p", { class: "empty good" }, "No gaps."),
      h("h4", null, "Evidence"),
      (a.evidence || []).length ? table(["Document", "Signature", "Signer", "What it says"], a.evidence.map(evidenceRow), { class: "compact", "data-testid": "detail-evidence" })
        : h("p", { class: "empty" }, "No attestation, signature or SBOM was found for this digest."),
      (a.errors || []).length ? [h("h4", null, "Collection errors"), h("ul", null, a.errors.map((e) => h("li", null, e)))] : null,
      h("h4", null, "Deployments"),
      table(["Environment", "Org / team", "Where", "Observed", "Ended"], (a.deployments || []).slice().sort((x, y) => envSort(x.environment, y.environment)).map((d) =>
        h("tr", null, h("td", null, d.environment), h("td", null, d.org + (d.team ? " / " + d.team : "")),
          h("td", { class: "mono small" }, [d.cluster, d.namespace, d.workload].filter(Boolean).join(" / ") || "–"),
          h("td", { class: "small" }, fmtTime(d.observed_at)), h("td", { class: "small" }, d.ended_at ? fmtTime(d.ended_at) : "running"))),
      { class: "compact" }),
    ];
    det.replaceChildren(...parts.flat().filter(Boolean));
  }

  async function openDetail(digest) {
    if (state.detail) state.detail.abort();
    state.detail = new AbortController();
    const det = $("detail");
    det.hidden = false;
    det.dataset.state = "loading";
    det.dataset.digest = digest;
    det.replaceChildren(h("p", { class: "small" }, "Loading " + shortDigest(digest) + "…"));
    for (const tr of $("artifacts-body").querySelectorAll("tr[data-digest]")) {
      tr.classList.toggle("selected", tr.dataset.digest === digest);
    }
    try {
      const path = "/v1/artifacts/" + (/^[a-z0-9]+:[a-f0-9]+$/.test(digest) ? digest : encodeURIComponent(digest));
      renderDetail(await api(path, {}, state.detail.signal));
      det.dataset.state = "ready";
      det.focus({ preventScroll: true });
      det.scrollIntoView({ behavior: "smooth", block: "start" });
    } catch (err) {
      if (err && err.name === "AbortError") return;
      if (err instanceof AuthError) return handleFailure(err);
      det.dataset.state = "error";
      det.replaceChildren(h("p", { class: "notice error" }, "Could not load the artifact: " + err.message));
    }
  }

  function closeDetail() {
    const det = $("detail");
    det.hidden = true;
    det.replaceChildren();
    for (const tr of $("artifacts-body").querySelectorAll("tr.selected")) tr.classList.remove("selected");
  }

  // ---- component search (/v1/components)

  async function searchComponents(ev) {
    ev.preventDefault();
    const q = $("component-q").value.trim();
    const version = $("component-version").value.trim();
    if (!q) return;
    if (state.search) state.search.abort();
    state.search = new AbortController();
    const status = $("component-status");
    const body = $("component-body");
    const params = q.startsWith("pkg:") ? { purl: q } : { name: q, version };
    const f = state.filters;
    status.dataset.state = "loading";
    status.textContent = "Searching…";
    try {
      const res = await pages("/v1/components", { ...params, org: f.org, team: f.team, env: f.env }, COMPONENT_PAGE, COMPONENT_PAGES, state.search.signal);
      const what = params.purl || (q + (version ? " " + version : ""));
      status.replaceChildren(h("span", { "data-testid": "component-count" }, num(res.items.length) + (res.truncated ? "+" : "")),
        " " + (res.items.length === 1 ? "place runs " : "places run ") + what +
        (params.purl && version ? " (the version is part of the package URL; the Version box was ignored)" : ""));
      status.dataset.state = "ready";
      if (!res.items.length) {
        body.replaceChildren(h("p", { class: "empty" }, "No running workload's SBOM lists it."));
        return;
      }
      body.replaceChildren(table(["Component", "Artifact", "Environment", "Org / team", "Workload", "Level", "Gaps"], res.items.map((c) =>
        h("tr", null,
          h("td", null, h("div", null, c.name + (c.version ? " " + c.version : "")), c.purl ? h("div", { class: "mono small" }, c.purl) : null),
          h("td", null, h("button", {
            type: "button", class: "link", onclick: () => openDetail(c.image.digest),
            "aria-label": "Details of " + c.image.repository + "@" + c.image.digest,
          }, h("span", { class: "repo" }, c.image.repository), h("span", { class: "mono small" }, "@" + shortDigest(c.image.digest)))),
          h("td", null, c.environment),
          h("td", null, c.org + (c.team ? " / " + c.team : "")),
          h("td", { class: "mono small" }, [c.cluster, c.namespace, c.workload].filter(Boolean).join(" / ") || "–"),
          h("td", null, levelBadge(c.slsa_level)),
          h("td", null, (c.gaps || []).length ? c.gaps.map((g) => h("span", { class: "chip mono" }, g)) : "none"))),
      { class: "compact", "data-testid": "component-table" }));
    } catch (err) {
      if (err && err.name === "AbortError") return;
      if (err instanceof AuthError) return handleFailure(err);
      status.dataset.state = "error";
      status.textContent = "The search failed: " + err.message;
      body.replaceChildren();
    }
  }

  // ---- loading the page

  function setOptions(id, values) {
    $(id).replaceChildren(...values.map((v) => h("option", { value: v })));
  }

  function handleFailure(err) {
    if (err instanceof AuthError) {
      storeToken(null);
      showLogin("The server refused this token (" + err.message + "): it may be mistyped, expired or revoked. " +
        "Paste a valid token.", true);
    } else if (!(err && err.name === "AbortError")) {
      showError("Loading failed: " + (err && err.message ? err.message : err));
    }
  }

  async function loadAll() {
    if (state.load) state.load.abort();
    const ctrl = new AbortController();
    state.load = ctrl;
    const signal = ctrl.signal;
    const f = { ...state.filters };
    const app = $("app");
    app.dataset.state = "loading";
    app.setAttribute("aria-busy", "true");
    $("login").hidden = true;
    $("dash").hidden = false;
    $("filters").hidden = false;
    showError("");
    closeDetail();
    const range = trendRange();
    const results = await Promise.allSettled([
      section("levels", "level-rows", async () => {
        await section("headline", null, async () => renderCoverage(await api("/v1/coverage", f, signal)));
        if ($("headline").dataset.state === "error") throw new Error("the coverage did not load");
      }),
      (async () => {
        let points = [];
        await section("trend", "trend-chart", async () => {
          const res = await api("/v1/coverage/trend", { from: range.from, to: range.to, by: "env", ...f }, signal);
          points = res.points || [];
          setOptions("envs", [...new Set(points.map((p) => p.group))].sort(envSort));
          renderTrend(points, range);
        });
        await section("matrix", "matrix-body", async () => {
          if ($("trend").dataset.state === "error") throw new Error("it needs the daily roll-ups, which did not load");
          await loadMatrix(points, f, signal);
        });
      })(),
      section("gaps", "gaps-body", async () => renderGaps(await pages("/v1/gaps", { state: "open", ...f }, GAP_PAGE, GAP_PAGES, signal))),
      section("artifacts", "artifacts-body", () => loadArtifacts(f, false, signal)),
    ]);
    if (state.load !== ctrl) return; // a newer load replaced this one
    const failed = results.find((r) => r.status === "rejected" && r.reason instanceof AuthError) ||
      results.find((r) => r.status === "rejected");
    if (failed) {
      handleFailure(failed.reason);
      if (failed.reason instanceof AuthError) return;
    }
    app.dataset.state = "ready";
    app.setAttribute("aria-busy", "false");
  }

  function readFilters() {
    const q = new URLSearchParams(location.search);
    for (const k of ["org", "team", "env"]) state.filters[k] = (q.get(k) || "").trim();
    $("f-org").value = state.filters.org;
    $("f-team").value = state.filters.team;
    $("f-env").value = state.filters.env;
  }

  function applyFilters(ev) {
    ev.preventDefault();
    const q = new URLSearchParams();
    for (const [k, id] of [["org", "f-org"], ["team", "f-team"], ["env", "f-env"]]) {
      const v = $(id).value.trim();
      state.filters[k] = v;
      if (v) q.set(k, v);
    }
    const qs = q.toString();
    history.replaceState(null, "", location.pathname + (qs ? "?" + qs : ""));
    loadAll();
  }

  function start() {
    const fromFragment = fragmentToken();
    if (fromFragment) storeToken(fromFragment);
    state.token = fromFragment || storedToken();
    if (!state.token) {
      showLogin("Paste an API token to see the dashboard.");
      return;
    }
    loadAll();
  }

  document.addEventListener("DOMContentLoaded", () => {
    readFilters();
    $("login-form").addEventListener("submit", (ev) => {
      ev.preventDefault();
      const t = $("token-input").value.trim();
      if (!t) return;
      storeToken(t);
      state.token = t;
      loadAll();
    });
    $("filters").addEventListener("submit", applyFilters);
    $("f-clear").addEventListener("click", (ev) => {
      $("f-org").value = $("f-team").value = $("f-env").value = "";
      applyFilters(ev);
    });
    $("forget").addEventListener("click", () => {
      storeToken(null);
      showLogin("Signed out: the token was removed from this browser.");
    });
    $("artifact-filter").addEventListener("submit", (ev) => {
      ev.preventDefault();
      filterArtifacts({ level: $("a-level").value, gap: $("a-gap").value.trim() });
    });
    $("artifacts-more").addEventListener("click", () => {
      const signal = state.load ? state.load.signal : undefined;
      loadArtifacts(state.filters, true, signal).catch(handleFailure);
    });
    $("component-form").addEventListener("submit", searchComponents);
    window.addEventListener("hashchange", () => {
      const t = fragmentToken();
      if (t) {
        storeToken(t);
        state.token = t;
        loadAll();
      }
    });
    start();
  });
})();
