// gameday web console: one page, the token in sessionStorage, live updates over a
// server-sent event stream read with fetch() (so the bearer header is sent; never a token
// in a URL). Everything shown is set as text (textContent); the only HTML inserted comes
// from the server's escaping renderers (runbooks, the debrief).
"use strict";

const $ = (id) => document.getElementById(id);
const store = window.sessionStorage;
const MAX_POINTS = 600;
const state = { token: store.getItem("gameday.token"), who: store.getItem("gameday.who") || "",
  role: null, levers: [], ended: false, pages: [] };
const charts = {};  // name -> {plot, keys, times, values: {key: []}}
window.gamedayCharts = charts;  // read by the browser tests

function text(el, value) { el.textContent = value == null ? "" : String(value); return el; }
function make(tag, value, cls) {
  const el = document.createElement(tag);
  if (value != null) text(el, value);
  if (cls) el.className = cls;
  return el;
}
function fmt(x, digits) { return typeof x === "number" ? x.toFixed(digits == null ? 2 : digits) : "-"; }

async function api(method, path, body) {
  const headers = { "Authorization": "Bearer " + state.token };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const resp = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  let data = {};
  try { data = await resp.json(); } catch (e) { data = { message: resp.statusText }; }
  return { status: resp.status, data };
}

// -- actions --------------------------------------------------------------------------
async function act(action, body) {
  const who = state.who || state.role || "responder";
  const out = $("action-result");
  const r = await api("POST", "/incident/" + action, Object.assign({ who }, body));
  text(out, action + ": " + (r.data.message || r.data.hint || (r.data.ok ? "done" : "failed")));
  out.className = r.data.ok ? "" : "error";
  return r;
}
async function facilitate(what, body) {
  const r = await api("POST", "/facilitator/" + what, Object.assign({ who: state.who || "facilitator" }, body || {}));
  text($("action-result"), what + ": " + (r.data.message || (r.data.ok ? "done" : "failed")));
  return r;
}
function onSubmit(id, fn) {
  $(id).addEventListener("submit", (ev) => { ev.preventDefault(); fn(); });
}
function wireForms() {
  onSubmit("ack-form", () => act("ack", $("ack-alert").value ? { alert: $("ack-alert").value } : {}));
  onSubmit("role-form", () => act("role", { role: $("role-name").value }));
  onSubmit("note-form", async () => { const r = await act("note", { text: $("note-text").value }); if (r.data.ok) $("note-text").value = ""; });
  onSubmit("hint-form", () => act("hint", {}));
  onSubmit("mitigate-form", () => act("mitigate", { lever: $("lever").value, arguments: leverArguments() }));
  onSubmit("diagnose-form", () => act("diagnose", { component: $("diag-component").value,
    failure_mode: $("diag-mode").value, text: $("diag-text").value }));
  onSubmit("escalate-form", () => act("escalate", { to: $("escalate-to").value }));
  onSubmit("resolve-form", () => act("resolve", {}));
  onSubmit("judge-form", () => facilitate("judge", { correct: $("judge-correct").value === "true", reason: $("judge-reason").value }));
  document.querySelectorAll("[data-fac]").forEach((b) => b.addEventListener("click", () => {
    const what = b.dataset.fac;
    const body = what === "extend" ? { seconds: Number($("extend-s").value) }
      : what === "abort" ? { reason: $("abort-reason").value || "aborted from the console" } : {};
    facilitate(what, body);
  }));
  $("lever").addEventListener("change", showLeverArgs);
}

// -- levers as forms --------------------------------------------------------------------
async function loadLevers() {
  const r = await api("GET", "/console/api/levers");
  if (r.status !== 200) return;
  state.levers = r.data.levers || [];
  const select = $("lever");
  select.replaceChildren(...state.levers.map((l) => { const o = make("option", l.lever); o.value = l.lever; return o; }));
  showLeverArgs();
}
function showLeverArgs() {
  const lever = state.levers.find((l) => l.lever === $("lever").value);
  const box = $("lever-args");
  box.replaceChildren();
  if (!lever) return;
  text($("lever-help"), lever.help);
  for (const arg of lever.arguments) {
    const label = make("label", arg.name + (arg.required ? " *" : "") + " ");
    const input = make("input");
    input.name = arg.name;
    input.dataset.type = arg.type;
    input.required = arg.required;
    input.placeholder = arg.type;
    if (arg.default != null) input.value = String(arg.default);
    label.appendChild(input);
    box.appendChild(label);
    box.appendChild(make("br"));
  }
}
function leverArguments() {
  const args = {};
  $("lever-args").querySelectorAll("input").forEach((input) => {
    if (input.value === "") return;
    const t = input.dataset.type || "";
    if (/int|float/.test(t) && !isNaN(Number(input.value))) args[input.name] = Number(input.value);
    else if (/bool/.test(t)) args[input.name] = input.value === "true";
    else if (/dict|list/.test(t)) { try { args[input.name] = JSON.parse(input.value); } catch (e) { args[input.name] = input.value; } }
    else args[input.name] = input.value;
  });
  return args;
}

// -- the role's view --------------------------------------------------------------------
// A list that has not changed is left as it is: replacing the options (or a row's button)
// on every state update would close a dropdown the user has open and lose their pick.
function options(select, values) {
  const have = [...select.options].map((o) => o.value);
  if (have.length === values.length && have.every((v, i) => v === values[i])) return;
  const current = select.value;
  select.replaceChildren(...values.map((v) => { const o = make("option", v); o.value = v; return o; }));
  if (values.includes(current)) select.value = current;
}
function renderState(s) {
  state.role = s.role;
  text($("role"), s.role);
  text($("phase"), s.phase || (s.resolved_at ? "resolved" : s.acked_at ? "acknowledged" : (s.pages || []).length ? "paged" : "waiting"));
  const scenario = s.scenario || {};
  text($("title"), scenario.title || "gameday console");
  text($("briefing"), scenario.briefing || "");
  renderPages(s.pages || [], s.burn_now || {});
  const hints = $("hints");
  hints.replaceChildren(...(s.hints || []).map((h) => make("li", h)));
  text($("hints-left"), s.hints_left != null ? s.hints_left + " left" : "");
  const choices = s.diagnosis_choices || {};
  options($("diag-component"), choices.components || []);
  options($("diag-mode"), choices.failure_modes || []);
  options($("ack-alert"), [...new Set((s.pages || []).map((p) => p.alert).filter(Boolean))]);
  const fac = s.facilitator;
  $("facilitator").hidden = !fac;
  if (fac) renderFacilitator(fac);
}
function renderPages(pages, burnNow) {
  state.pages = pages;
  const body = $("pages").querySelector("tbody");
  const cells = (p) => {
    const now = burnNow[p.slo_id];
    return [p.alert, p.severity, p.slo_id, fmt(p.burn_rate, 1) + "x",
      now ? fmt(now.burn, 1) + "x (" + now.window + ")" : "-"];
  };
  const keys = pages.map((p) => [p.alert, p.severity, p.slo_id, p.runbook_url || ""].join("\n"));
  if (body.dataset.keys === JSON.stringify(keys)) {  // the same pages: new figures in place
    pages.forEach((p, i) => cells(p).forEach((v, j) => text(body.rows[i].cells[j], v)));
    return;
  }
  body.dataset.keys = JSON.stringify(keys);
  body.replaceChildren(...pages.map((p) => {
    const tr = make("tr");
    for (const v of cells(p)) tr.appendChild(make("td", v));
    const td = make("td");
    if (p.runbook_url) {
      const b = make("button", "open");
      b.type = "button";
      b.addEventListener("click", () => showRunbook(p.runbook_url));
      td.appendChild(b);
    }
    tr.appendChild(td);
    return tr;
  }));
}
async function showRunbook(url) {
  const r = await api("GET", "/console/api/runbook?url=" + encodeURIComponent(url));
  const box = $("runbook");
  box.hidden = false;
  if (r.status === 200) box.innerHTML = r.data.html;  // escaped by the server's renderer
  else text(box, r.data.message);
}
function keyValues(obj) {
  const dl = make("dl");
  for (const [k, v] of Object.entries(obj || {})) {
    dl.appendChild(make("dt", k));
    dl.appendChild(make("dd", typeof v === "string" ? v : JSON.stringify(v)));
  }
  return dl;
}
function renderFacilitator(f) {
  $("answer-key").replaceChildren(keyValues(f.answer_key));
  $("hints-remaining").replaceChildren(...(f.hints_remaining || []).map((h) => make("li", h)));
  $("fault-state").replaceChildren(keyValues(f.fault));
}

// -- the timeline -----------------------------------------------------------------------
function addEvents(events) {
  const list = $("timeline");
  for (const e of events) {
    const li = make("li");
    li.appendChild(make("span", new Date(e.ts * 1000).toISOString().slice(11, 19) + " ", "at"));
    li.appendChild(make("span", e.kind, "kind"));
    li.appendChild(make("span", (e.who ? e.who + ": " : "") + (e.text || e.stated || ""), "what"));
    list.appendChild(li);
  }
  while (list.children.length > 1000) list.removeChild(list.firstChild);
  list.scrollTop = list.scrollHeight;
}

// -- live charts (uPlot) ----------------------------------------------------------------
const CHARTS = { burn: "chart-burn", error_ratio: "chart-error", latency_p99_s: "chart-latency" };
function addMetrics(snap) {
  for (const [figure, el] of Object.entries(CHARTS)) {
    const values = snap[figure] || {};
    let c = charts[figure];
    const keys = Object.keys(values).sort();
    if (!c) c = charts[figure] = { plot: null, keys: [], times: [], values: {} };
    for (const k of keys) if (!(k in c.values)) c.values[k] = c.times.map(() => null);
    c.times.push(snap.t);
    for (const k of Object.keys(c.values)) c.values[k].push(k in values ? values[k] : null);
    if (c.times.length > MAX_POINTS) { c.times.shift(); for (const k in c.values) c.values[k].shift(); }
    const all = Object.keys(c.values).sort();
    const data = [c.times, ...all.map((k) => c.values[k])];
    if (!c.plot || all.join() !== c.keys.join()) {
      if (c.plot) c.plot.destroy();
      c.keys = all;
      const colors = ["#1565c0", "#c62828", "#2e7d32", "#ef6c00", "#6a1b9a", "#00838f", "#795548"];
      c.plot = new uPlot({ width: 420, height: 220, series: [{}, ...all.map((k, i) => ({ label: k, stroke: colors[i % colors.length], width: 2 }))],
        axes: [{}, { size: 60 }] }, data, $(el));
      c.data = data;
    } else {
      c.plot.setData(data);
    }
    c.data = c.plot.data;
  }
}

// -- history across drills ------------------------------------------------------------
function secs(x) { return typeof x === "number" ? Math.round(x) + " s" : "-"; }
async function loadHistory() {
  const r = await api("GET", "/console/api/history");
  if (r.status !== 200) return;
  const rows = r.data.rows || [];
  window.gamedayHistory = rows;  // read by the browser tests
  $("history").querySelector("tbody").replaceChildren(...rows.map((row) => {
    const tr = make("tr");
    const verdict = row.status === "scored" ? row.verdict : row.status;
    for (const v of [row.date, row.scenario, row.mode, verdict,
      typeof row.score_percent === "number" ? fmt(row.score_percent, 0) + "%" : "-",
      secs(row.ttd_s), secs(row.ttm_s), secs(row.ttr_s), (row.responders || []).join(", ")])
      tr.appendChild(make("td", v));
    return tr;
  }));
  const scored = rows.filter((row) => row.status === "scored");
  const box = $("chart-history");
  box.replaceChildren();
  if (!scored.length) return;
  const num = (x) => (typeof x === "number" ? x : null);
  const data = [scored.map((_, i) => i + 1), scored.map((row) => num(row.score_percent)),
    scored.map((row) => num(row.ttd_s)), scored.map((row) => num(row.ttm_s)), scored.map((row) => num(row.ttr_s))];
  new uPlot({ width: 640, height: 220, scales: { x: { time: false }, s: { auto: true } },
    series: [{ label: "drill" }, { label: "score %", stroke: "#1565c0", width: 2, scale: "%" },
      { label: "detect s", stroke: "#c62828", scale: "s" }, { label: "mitigate s", stroke: "#6a1b9a", scale: "s" },
      { label: "recover s", stroke: "#2e7d32", scale: "s" }],
    axes: [{}, { scale: "%", label: "score %" }, { scale: "s", side: 1, label: "seconds", grid: { show: false } }] }, data, box);
}

// -- the stream -------------------------------------------------------------------------
async function stream() {
  while (!state.ended) {
    try {
      const resp = await fetch("/console/stream", { headers: { "Authorization": "Bearer " + state.token } });
      if (resp.status === 401) return signOut("that token is not one of this drill's");
      if (resp.status !== 200) throw new Error("stream: HTTP " + resp.status);
      text($("status"), "live");
      const reader = resp.body.getReader();
      const decoder = new TextDecoder();
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += decoder.decode(value, { stream: true });
        let cut;
        while ((cut = buffer.indexOf("\n\n")) >= 0) {
          handle(buffer.slice(0, cut));
          buffer = buffer.slice(cut + 2);
        }
      }
    } catch (err) {
      text($("status"), "reconnecting");
    }
    if (!state.ended) await new Promise((r) => setTimeout(r, 2000));
  }
}
function handle(block) {
  let event = "message", data = "";
  for (const line of block.split("\n")) {
    if (line.startsWith("event: ")) event = line.slice(7);
    else if (line.startsWith("data: ")) data += line.slice(6);
  }
  if (!data) return;
  const payload = JSON.parse(data);
  if (event === "state") renderState(payload);
  else if (event === "timeline") addEvents(payload);
  else if (event === "metrics") addMetrics(payload);
  else if (event === "end") { state.ended = true; text($("status"), "drill over"); loadHistory(); debrief(); }
}

// -- the debrief ------------------------------------------------------------------------
async function debrief() {
  $("debrief").hidden = false;
  for (let i = 0; i < 600; i++) {
    try {
      const r = await api("GET", "/console/api/debrief");
      if (r.status === 200) {
        $("debrief-wait").hidden = true;
        $("debrief-body").innerHTML = r.data.html;  // escaped by the server's template
        $("main").hidden = true;
        return;
      }
      if (r.status === 401) return;
    } catch (err) { /* the drill's listener gives way to the debrief's: retry */ }
    await new Promise((r) => setTimeout(r, 2000));
  }
}

// -- sign in ----------------------------------------------------------------------------
function signOut(message) {
  store.removeItem("gameday.token");
  state.token = null;
  $("main").hidden = true;
  $("login").hidden = false;
  text($("login-error"), message);
}
function start() {
  $("login").hidden = true;
  $("main").hidden = false;
  if (location.pathname.endsWith("/debrief")) { state.ended = true; debrief(); return; }
  loadLevers();
  loadHistory();
  stream();
}
$("login-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  state.token = $("token").value.trim();
  state.who = $("who").value.trim();
  store.setItem("gameday.token", state.token);
  store.setItem("gameday.who", state.who);
  start();
});
wireForms();
if (state.token) start();
