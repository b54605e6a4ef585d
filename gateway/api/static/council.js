// The council view: ask a question (POST /api/v1/rounds), follow the round live
// (GET /api/v1/rounds/{id}/follow, NDJSON) and read it stage by stage in tabs:
// every participant's answer, the anonymous rankings, the synthesis and the faults.

import { ApiError, Unauthorized, call, follow } from "./api.js";
import { $, el, selectTab } from "./dom.js";
import { STAGES } from "./views.js";

const TIMES = ["answer", "reveal", "review", "synthesis"];
// the tab that fits each stage while a round runs (unless the reader picked one)
const TAB_OF_STAGE = { commit: "answers", reveal: "answers", review: "rankings",
  synthesis: "synthesis", done: "synthesis" };

let session = null;
let watching = null; // the AbortController of the followed round
let view = null; // the round shown
let tab = "answers";
let pinned = false; // the reader picked a tab: stop following the stage
let answer = ""; // the participant whose answer is shown

function failed(err, where) {
  if (err instanceof Unauthorized) session.refused("The token was refused; log in again.");
  else $(where).textContent = err.message;
}

const sleep = (ms) => new Promise((done) => setTimeout(done, ms));

// --- asking and following --------------------------------------------------------------

function request() {
  const body = { question: $("council-question").value.trim() };
  const space = $("council-space").value.trim();
  if (space) body.space = space;
  const times = {};
  for (const stage of TIMES) {
    const raw = $(`council-time-${stage}`).value;
    if (raw !== "") times[stage] = Number(raw);
  }
  if (Object.keys(times).length) body.times = times;
  return body;
}

async function ask(ev) {
  ev.preventDefault();
  $("council-error").textContent = "";
  $("council-ask").disabled = true;
  try {
    const started = await call(session.token, "POST", "/api/v1/rounds", request());
    pinned = false;
    answer = "";
    show(started);
    watch(started.round_id);
    recent();
  } catch (err) {
    failed(err, "council-error");
  } finally {
    $("council-ask").disabled = false;
  }
}

// Follow a round until it is over; the stream is reopened if it drops while it runs.
async function watch(id) {
  if (watching) watching.abort();
  const ctl = new AbortController();
  watching = ctl;
  for (let tries = 0; tries < 30 && !ctl.signal.aborted; tries += 1) {
    try {
      await follow(session.token, `/api/v1/rounds/${encodeURIComponent(id)}/follow`,
        (v) => { if (!ctl.signal.aborted) show(v); }, ctl.signal);
    } catch (err) {
      if (ctl.signal.aborted) return;
      if (err instanceof Unauthorized || (err instanceof ApiError && err.status === 404)) {
        failed(err, "council-error");
        return;
      }
    }
    if (!view || view.round_id !== id || view.status !== "running") break;
    await sleep(1000);
  }
  if (watching === ctl) watching = null;
}

async function pick() {
  const id = $("council-recent").value;
  if (!id) return;
  $("council-error").textContent = "";
  pinned = false;
  answer = "";
  try {
    const got = await call(session.token, "GET", `/api/v1/rounds/${encodeURIComponent(id)}`);
    show(got);
    if (got.status === "running") watch(id);
  } catch (err) {
    failed(err, "council-error");
  }
}

async function recent() {
  try {
    const { rounds } = await call(session.token, "GET", "/api/v1/rounds?limit=20");
    const options = (rounds || []).map((r) => el("option", { value: r.round_id },
      `${new Date(r.created * 1000).toLocaleString()} · ${r.role} · ${r.status} · ${r.question}`));
    $("council-recent").replaceChildren(el("option", { value: "" }, "Earlier rounds…"), ...options);
    if (view) $("council-recent").value = view.round_id;
  } catch (err) {
    failed(err, "council-error");
  }
}

// --- rendering -------------------------------------------------------------------------

function nameOf(id) {
  const p = ((view && view.participants) || []).find((x) => x.id === id);
  return (p && p.name) || (id ? id.slice(0, 12) : "?");
}

// Anonymous labels as the reviewers saw them: "Answer A", "B"... by commitment order.
function labels(ranked) {
  const order = ranked.map((r) => r.commitment).sort();
  const label = (i) => (i < 26 ? String.fromCharCode(65 + i) : String(i + 1));
  return new Map(order.map((c, i) => [c, `Answer ${label(i)}`]));
}

function faultsOf(v) {
  const seen = new Set();
  const out = [];
  for (const f of [...(v.faults || []), ...((v.result && v.result.faults) || [])]) {
    const key = `${f.peer}|${f.stage}|${f.kind}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(f);
  }
  return out;
}

function show(v) {
  if (!v || !v.round_id) return;
  const ended = view && view.round_id === v.round_id && view.status === "running" &&
    v.status !== "running";
  view = v;
  if (ended) recent();
  const box = $("council-round");
  box.hidden = false;
  box.dataset.round = v.round_id;
  box.dataset.status = v.status;
  $("council-shown-question").textContent = v.question || "";
  $("council-status").textContent = v.status + (v.error ? `: ${v.error}` : "");
  $("council-status").dataset.status = v.status;
  $("council-meta").textContent = `${v.role} · ${(v.participants || []).length} participants` +
    ` · space ${v.space || "default"} · round ${v.round_id.slice(0, 16)}`;
  stages(v);
  const ranked = (v.result && v.result.ranked) || [];
  const names = labels(ranked);
  const faults = faultsOf(v);
  answers(v, ranked, faults);
  rankings(v, ranked, names);
  synthesis(v, names);
  faultList(faults);
  const counts = { answers: ranked.filter((r) => r.answer != null).length, rankings: ranked.length,
    faults: faults.length };
  for (const button of $("council-tabs").querySelectorAll("[role=tab]")) {
    const n = counts[button.dataset.tab];
    button.textContent = button.dataset.label + (n ? ` (${n})` : "");
  }
  if (!pinned) tab = TAB_OF_STAGE[v.stage] || tab;
  selectTab($("council-tabs"), $("council-panels"), tab);
}

function stages(v) {
  const reached = new Map((v.stages || []).map((s) => [s.stage, s.at]));
  const index = STAGES.indexOf(v.stage || "");
  $("council-stages").replaceChildren(...STAGES.map((stage, i) => {
    let state = "pending";
    if (i < index || (stage === "done" && v.stage === "done")) state = "done";
    else if (i === index) state = v.status === "running" ? "active" : "done";
    const at = reached.get(stage);
    const text = at ? `${stage} ${new Date(at * 1000).toLocaleTimeString()}` : stage;
    return el("li", { "data-stage": stage, "data-state": state, class: state }, text);
  }));
}

function answers(v, ranked, faults) {
  const people = v.participants || [];
  const byAuthor = new Map(ranked.map((r, i) => [r.author && r.author.id, [r, i]]));
  if (!people.some((p) => p.id === answer)) {
    const first = people.find((p) => byAuthor.has(p.id)) || people[0];
    answer = first ? first.id : "";
  }
  const tabs = people.map((p) => el("button", {
    type: "button", role: "tab", "data-tab": p.id, "data-participant": p.name || p.id,
    on: { click: () => { answer = p.id; pinned = true; tab = "answers"; show(view); } },
  }, p.name || p.id.slice(0, 12)));
  const panels = people.map((p) => {
    const [item, rank] = byAuthor.get(p.id) || [null, -1];
    const sent = (v.peers || {})[p.id] || [];
    const own = faults.filter((f) => f.peer === p.id).map((f) => `${f.kind} in ${f.stage}`);
    let text = item && item.answer != null ? item.answer : null;
    if (text === null) text = v.status === "running" ? "(sealed: answers are revealed together)" : "(no answer)";
    return el("div", { role: "tabpanel", "data-tab": p.id, "data-participant": p.name || p.id },
      el("blockquote", { "data-testid": "council-answer" }, text),
      item ? el("p", { class: "muted" },
        `rank ${rank + 1} of ${ranked.length}: ${item.points} points on ${item.ballots} ballots`) : null,
      el("p", { class: "muted" }, sent.length ? `sent: ${sent.join(" → ")}` : "nothing received yet"),
      own.length ? el("p", { class: "error" }, `faults: ${own.join(", ")}`) : null);
  });
  $("council-answer-tabs").replaceChildren(...tabs);
  $("council-answer-panels").replaceChildren(...panels);
  selectTab($("council-answer-tabs"), $("council-answer-panels"), answer);
}

function rankings(v, ranked, names) {
  const box = $("council-rankings");
  const voters = Object.entries(v.peers || {}).filter(([, kinds]) => kinds.includes("ranking"))
    .map(([id]) => nameOf(id));
  const intro = el("p", { class: "muted" }, "Each participant ranked the others' answers " +
    "without their authors (shuffled, no self-votes); Borda count. Authors are shown once " +
    "the round is over.");
  const ballots = el("p", { "data-testid": "council-voters" },
    voters.length ? `ballots from: ${voters.join(", ")}` : "no ballots yet");
  if (!ranked.length) {
    box.replaceChildren(intro, ballots,
      el("p", { class: "muted" }, v.status === "running" ? "Scores arrive with the result." : "No scores."));
    return;
  }
  const rows = ranked.map((r, i) => el("tr", { "data-testid": "council-rank" },
    el("td", {}, String(i + 1)), el("td", {}, names.get(r.commitment)),
    el("td", {}, String(r.points)), el("td", {}, String(r.ballots)),
    el("td", {}, r.author ? r.author.name || r.author.id.slice(0, 12) : "(hidden)"),
    el("td", { class: "excerpt" }, r.answer ?? "(not revealed)")));
  const head = el("tr", {}, ...["#", "answer", "points", "ballots", "author", "text"]
    .map((h) => el("th", {}, h)));
  box.replaceChildren(intro, ballots, el("table", {}, el("thead", {}, head), el("tbody", {}, ...rows)));
}

function synthesis(v, names) {
  const box = $("council-synthesis");
  const result = v.result;
  if (!result) {
    box.replaceChildren(el("p", { class: "muted" }, v.status === "running"
      ? "The chair writes the synthesis after the review." : "No synthesis."));
    return;
  }
  const cited = (result.cited || []).map((c) => names.get(c) || c.slice(0, 12));
  box.replaceChildren(
    el("blockquote", { "data-testid": "council-synthesis-text" },
      result.text || `(no answer: ${result.status})`),
    el("p", { class: "muted" }, `status ${result.status}` +
      (result.chair ? ` · chair ${nameOf(result.chair)}` : "") +
      (cited.length ? ` · cites ${cited.join(", ")}` : "")),
    v.memory_entry ? el("p", { class: "muted" }, `saved to memory as ${v.memory_entry}`) : null);
}

function faultList(faults) {
  const items = faults.map((f) => el("li", { "data-kind": f.kind, "data-testid": "council-fault" },
    `${f.name || nameOf(f.peer)}: ${f.kind} in ${f.stage}` + (f.detail ? ` (${f.detail})` : "")));
  $("council-faults").replaceChildren(items.length
    ? el("ul", { class: "plain faults" }, ...items)
    : el("p", { class: "muted", "data-testid": "council-no-faults" }, "No faults recorded."));
}

function pickTab(ev) {
  const name = ev.target.dataset && ev.target.dataset.tab;
  if (!name || !view) return;
  tab = name;
  pinned = true;
  selectTab($("council-tabs"), $("council-panels"), tab);
}

// --- the view's life -------------------------------------------------------------------

export function open(s) {
  session = s;
  recent();
  if (view && view.status === "running" && !watching) watch(view.round_id);
}

export function close() {}

export function reset() {
  if (watching) watching.abort();
  watching = null;
  session = null;
  view = null;
  $("council-round").hidden = true;
}

$("council-form").addEventListener("submit", ask);
$("council-recent").addEventListener("change", pick);
$("council-tabs").addEventListener("click", pickTab);
