// Rendering the API's JSON into the page. Text only (textContent), never markup:
// names, questions and answers come from other nodes and their AIs.

export const STAGES = ["commit", "reveal", "review", "synthesis", "done"];

const $ = (id) => document.getElementById(id);

function li(text, attrs) {
  const item = document.createElement("li");
  item.textContent = text;
  for (const [k, v] of Object.entries(attrs || {})) item.setAttribute(k, v);
  return item;
}

function td(text, testid) {
  const cell = document.createElement("td");
  cell.textContent = text;
  if (testid) cell.dataset.testid = testid;
  return cell;
}

export function clock(seconds) {
  if (!seconds) return "–";
  return new Date(seconds * 1000).toLocaleTimeString();
}

// Bootstrap as a number, {percent|progress, summary}, or under "tor".
export function bootstrapOf(status) {
  let b = status.bootstrap;
  if (b === undefined && status.tor && typeof status.tor === "object") b = status.tor.bootstrap;
  if (typeof b === "number") return { percent: b, summary: "" };
  if (b && typeof b === "object") {
    const percent = Number(b.percent ?? b.progress ?? NaN);
    const warning = b.warning ? ` (${b.warning})` : "";
    return { percent, summary: String(b.summary || b.tag || "") + warning };
  }
  return { percent: NaN, summary: "" };
}

export function onionOf(status) {
  const onion = status.onion || status.address || (status.tor && status.tor.onion) || "";
  if (!onion) return "";
  return onion.endsWith(".onion") ? onion : `${onion}.onion`;
}

export function renderStatus(status) {
  const { percent, summary } = bootstrapOf(status);
  const known = Number.isFinite(percent);
  $("bootstrap-bar").value = known ? percent : 0;
  $("bootstrap-percent").textContent = known ? `${percent}%` : "–";
  const tor = typeof status.tor === "string" ? `tor ${status.tor}` : "";
  $("bootstrap-summary").textContent = [tor, summary].filter(Boolean).join(": ");
  $("bootstrap-summary").dataset.tor = typeof status.tor === "string" ? status.tor : "";
}

// A peer's measured uptime (docs/REPUTATION.md), as a percentage.
function uptimeText(rep) {
  if (!rep || rep.uptime == null) return "–";
  return `${Math.round(rep.uptime * 100)}%`;
}

export function renderPeers(peers) {
  const body = $("peers");
  body.replaceChildren();
  for (const p of peers) {
    const row = document.createElement("tr");
    row.dataset.testid = "peer-row";
    row.dataset.peer = p.nickname || p.identity;
    row.dataset.online = String(Boolean(p.online));
    row.className = p.online ? "online" : "offline";
    row.append(
      td(p.nickname || p.identity.slice(0, 16)),
      td(p.state),
      td(p.online ? "online" : "offline", "peer-online"),
      td(p.rtt_ms == null ? "–" : `${p.rtt_ms} ms`, "peer-rtt"),
      td(uptimeText(p.reputation), "peer-uptime"),
      td(p.reputation ? p.reputation.score.toFixed(2) : "–", "peer-score"),
      td(String(p.queued ?? 0)),
      td(p.direction ? `${p.direction} · ${p.padding || ""}` : "–"),
    );
    body.append(row);
  }
  $("peers-empty").hidden = peers.length > 0;
}

export function renderMemory(stats) {
  $("memory-entries").textContent = String(stats.entries ?? "–");
  $("memory-held").textContent = String(stats.held ?? "–");
  $("memory-log").textContent = String(stats.log_size ?? "–");
  const spaces = Object.entries(stats.spaces || {}).map(([name, s]) =>
    li(`${name}: ${s.entries} ${s.entries === 1 ? "entry" : "entries"}` +
      (s.shared_with_all ? " (shared with all contacts)" : ""), { "data-space": name }));
  $("memory-spaces").replaceChildren(...spaces);
  const counters = Object.entries(stats.sync || {}).sort().map(([k, v]) =>
    li(`${k}: ${v}`, { "data-counter": k }));
  $("memory-sync").replaceChildren(...counters);
}

export function addActivity(text) {
  const list = $("sync-activity");
  list.prepend(li(`${new Date().toLocaleTimeString()} ${text}`));
  while (list.children.length > 20) list.lastElementChild.remove();
}

function nameIn(view, id) {
  const p = (view.participants || []).find((x) => x.id === id);
  return (p && p.name) || (id ? id.slice(0, 12) : "?");
}

function renderStages(view) {
  const reached = new Map((view.stages || []).map((s) => [s.stage, s.at]));
  const current = view.stage || "";
  const index = STAGES.indexOf(current);
  const items = STAGES.map((stage, i) => {
    let state = "pending";
    if (i < index || (stage === "done" && current === "done")) state = "done";
    else if (i === index) state = view.status === "running" ? "active" : "done";
    const at = reached.get(stage);
    const item = li(at ? `${stage} ${clock(at)}` : stage, { "data-stage": stage, "data-state": state });
    item.className = state;
    return item;
  });
  $("round-stages").replaceChildren(...items);
}

function renderResult(view) {
  const box = $("round-result");
  const result = view.result;
  box.hidden = !result;
  if (!result) return;
  $("round-answer").textContent = result.text || `(no answer: ${result.status})`;
  const ranked = (result.ranked || []).map((r) => {
    const who = r.author ? r.author.name || r.author.id.slice(0, 12) : r.commitment.slice(0, 12);
    return li(`${r.points} pts, ${r.ballots} ballots — ${who}: ${r.answer ?? "(hidden)"}`);
  });
  $("round-ranked").replaceChildren(...ranked);
}

export function renderRound(view) {
  const box = $("round");
  box.dataset.round = view.round_id;
  box.dataset.status = view.status;
  $("round-id").textContent = view.round_id.slice(0, 16);
  $("round-status").textContent = view.status + (view.error ? `: ${view.error}` : "");
  $("round-status").dataset.status = view.status;
  $("round-text").textContent = view.question || "";
  renderStages(view);
  const peers = Object.entries(view.peers || {}).map(([id, kinds]) =>
    li(`${nameIn(view, id)}: ${kinds.join(" → ")}`, { "data-peer": id }));
  $("round-peers").replaceChildren(...peers);
  const faults = (view.faults || []).map((f) =>
    li(`fault: ${f.name || nameIn(view, f.peer)} ${f.kind} in ${f.stage}` +
      (f.detail ? ` (${f.detail})` : ""), { "data-kind": f.kind }));
  $("round-faults").replaceChildren(...faults);
  renderResult(view);
}

export function renderRoundList(rounds, onPick) {
  const rows = rounds.map((r) => {
    const row = document.createElement("tr");
    row.dataset.round = r.round_id;
    row.dataset.testid = "round-row";
    row.append(td(clock(r.created)), td(r.role), td(r.question || ""), td(r.stage || "–"),
      td(r.status));
    row.addEventListener("click", () => onPick(r.round_id));
    return row;
  });
  $("rounds-list").replaceChildren(...rows);
}
