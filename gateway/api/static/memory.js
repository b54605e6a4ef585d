// The memory browser: search (keyword, semantic or hybrid), list recent entries, read one,
// write one and delete one, per space. GET/POST/DELETE /api/v1/memory...

import { Unauthorized, call } from "./api.js";
import { $, el, when } from "./dom.js";

let session = null;
let shown = null; // the entry read

function failed(err) {
  if (err instanceof Unauthorized) session.refused("The token was refused; log in again.");
  else $("memory-error").textContent = err.message;
}

function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== "" && v != null) q.set(k, String(v));
  return q.toString();
}

// --- spaces ----------------------------------------------------------------------------

async function spaces() {
  try {
    const stats = await call(session.token, "GET", "/api/v1/memory/stats");
    const names = Object.keys(stats.spaces || {}).sort();
    const filter = $("memory-space");
    const picked = filter.value;
    filter.replaceChildren(el("option", { value: "" }, "all spaces"),
      ...names.map((n) => el("option", { value: n }, n)));
    filter.value = names.includes(picked) ? picked : "";
    $("memory-space-names").replaceChildren(...names.map((n) => el("option", { value: n })));
    $("memory-spaces-list").replaceChildren(...names.map((n) => {
      const s = stats.spaces[n];
      return el("li", { "data-space": n },
        el("button", { type: "button", class: "link", on: { click: () => browse(n) } }, n),
        ` ${s.entries} ${s.entries === 1 ? "entry" : "entries"}` +
          (s.shared_with_all ? " · shared with all contacts" : ""));
    }));
  } catch (err) {
    failed(err);
  }
}

function browse(space) {
  $("memory-space").value = space;
  $("memory-q").value = "";
  search();
}

// --- searching -------------------------------------------------------------------------

function matchText(e) {
  const parts = [];
  if (typeof e.score === "number") parts.push(`score ${e.score.toPrecision(3)}`);
  const m = e.match;
  if (m && typeof m === "object") {
    if (m.keyword_rank != null) parts.push(`keyword #${m.keyword_rank}`);
    if (m.semantic_rank != null) parts.push(`semantic #${m.semantic_rank}`);
    if (typeof m.similarity === "number") parts.push(`similarity ${m.similarity.toFixed(3)}`);
  }
  return parts.join(" · ");
}

function meta(e) {
  const tags = (e.tags || []).length ? ` · tags ${e.tags.join(", ")}` : "";
  return `${e.space}${e.topic ? ` / ${e.topic}` : ""}${tags} · ${when(e.timestamp_ms)} · ` +
    `by ${String(e.author || "").slice(0, 12)}`;
}

function row(e) {
  const match = matchText(e);
  const text = String(e.body ?? "");
  return el("li", { "data-testid": "memory-result", "data-id": e.id },
    el("button", { type: "button", class: "link", on: { click: () => read(e.id) } },
      text.length > 200 ? `${text.slice(0, 200)}…` : text || "(empty)"),
    el("div", { class: "muted" }, meta(e)),
    match ? el("div", { class: "score", "data-testid": "memory-score" }, match) : null);
}

async function search(ev) {
  if (ev) ev.preventDefault();
  $("memory-error").textContent = "";
  const text = $("memory-q").value.trim();
  const space = $("memory-space").value;
  const limit = $("memory-limit").value || 20;
  const info = $("memory-info");
  try {
    let data;
    if (text) {
      const mode = $("memory-mode").value;
      data = await call(session.token, "GET",
        `/api/v1/memory/search?${query({ q: text, mode, space, limit })}`);
      info.dataset.mode = data.mode || "";
      info.textContent = `${data.entries.length} found for “${text}”` +
        (data.mode ? ` (${data.mode})` : "");
    } else {
      data = await call(session.token, "GET", `/api/v1/memory?${query({ space, limit })}`);
      info.dataset.mode = "";
      info.textContent = `${data.entries.length} most recent` + (space ? ` in ${space}` : "");
    }
    $("memory-results").replaceChildren(...data.entries.map(row));
    $("memory-results").dataset.count = String(data.entries.length);
  } catch (err) {
    failed(err);
  }
}

// --- one entry -------------------------------------------------------------------------

async function read(id) {
  $("memory-error").textContent = "";
  try {
    show(await call(session.token, "GET", `/api/v1/memory/${encodeURIComponent(id)}`));
  } catch (err) {
    failed(err);
  }
}

function show(e) {
  shown = e;
  const box = $("memory-entry");
  box.hidden = false;
  box.dataset.id = e.id;
  $("memory-entry-text").textContent = e.body ?? "";
  const fields = [["id", e.id], ["space", e.space], ["topic", e.topic || "–"],
    ["tags", (e.tags || []).join(", ") || "–"], ["written", when(e.timestamp_ms)],
    ["author", e.author], ["kind", e.kind]];
  if (e.replaced_by) fields.push(["replaced by", e.replaced_by]);
  if (e.metadata && Object.keys(e.metadata).length) {
    fields.push(["metadata", JSON.stringify(e.metadata, null, 1)]);
  }
  $("memory-entry-fields").replaceChildren(...fields.flatMap(([k, v]) =>
    [el("dt", {}, k), el("dd", {}, String(v ?? ""))]));
  const button = $("memory-delete");
  button.textContent = "Delete";
  delete button.dataset.armed;
}

// Deleting writes a tombstone (synced to the contacts): the button asks once more.
async function remove() {
  const button = $("memory-delete");
  if (!shown) return;
  if (!button.dataset.armed) {
    button.dataset.armed = "1";
    button.textContent = "Delete for good? Click again";
    return;
  }
  const id = shown.id;
  try {
    await call(session.token, "DELETE", `/api/v1/memory/${encodeURIComponent(id)}`);
    $("memory-entry").hidden = true;
    shown = null;
    for (const item of $("memory-results").querySelectorAll("li[data-id]")) {
      if (item.dataset.id === id) item.remove();
    }
    $("memory-status").textContent = `Deleted ${id.slice(0, 16)}.`;
    spaces();
  } catch (err) {
    failed(err);
  }
}

async function write(ev) {
  ev.preventDefault();
  $("memory-error").textContent = "";
  const body = {
    text: $("memory-text").value,
    space: $("memory-write-space").value.trim() || "default",
    topic: $("memory-topic").value.trim(),
    tags: $("memory-tags").value.split(",").map((t) => t.trim()).filter(Boolean),
  };
  try {
    const entry = await call(session.token, "POST", "/api/v1/memory", body);
    $("memory-text").value = "";
    $("memory-status").textContent = `Saved ${entry.id.slice(0, 16)} in ${entry.space}.`;
    show(entry);
    spaces();
  } catch (err) {
    failed(err);
  }
}

// --- the view's life -------------------------------------------------------------------

export function open(s) {
  session = s;
  spaces();
  if (!$("memory-results").dataset.count) search();
}

export function close() {}

export function reset() {
  session = null;
  shown = null;
  $("memory-entry").hidden = true;
  $("memory-results").replaceChildren();
  delete $("memory-results").dataset.count;
}

$("memory-search-form").addEventListener("submit", search);
$("memory-write-form").addEventListener("submit", write);
$("memory-delete").addEventListener("click", remove);
