// The dashboard: log in with the API token, then follow the node live over the event
// WebSocket, polling the REST API as well (slowly while the socket is up).

import { Unauthorized, call, forgetToken, openEvents, saveToken, savedToken } from "./api.js";
import { Traffic, drawLink } from "./chart.js";
import { startViews, stopViews } from "./nav.js";
import {
  addActivity, onionOf, renderMemory, renderPeers, renderRound, renderRoundList, renderStatus,
} from "./views.js";

// `?poll=MS` polls faster (tests, demos); never below a quarter second.
const POLL_MS = Math.max(250, Number(new URLSearchParams(location.search).get("poll")) || 3000);
const POLL_LIVE_MS = POLL_MS * 4;
const ROUND_POLL_MS = Math.min(POLL_MS, 2000);
const $ = (id) => document.getElementById(id);

const state = {
  token: "",
  live: false,
  events: null,
  generation: 0, // bumped on logout: stops the polling loops
  onion: "",
  names: new Map(), // identity -> nickname
  lastSync: new Map(), // identity -> seconds
  traffic: new Traffic(),
  round: null, // the round shown
  rounds: new Map(), // id -> newest view
  list: [], // the recent rounds' summaries, newest first
};

function setConnection(text) {
  const badge = $("connection");
  badge.textContent = text;
  badge.dataset.state = text;
}

function showConnection(ok) {
  setConnection(!ok ? "offline" : state.live ? "live" : "polling");
}

// --- applying data (from events or polls) --------------------------------------------

function applyStatus(status) {
  renderStatus(status);
  state.onion = onionOf(status);
  const shown = $("onion-address");
  if (!shown.hidden) shown.textContent = state.onion || "(not published yet)";
}

function applyPeers(peers, at) {
  for (const p of peers) state.names.set(p.identity, p.nickname || p.identity.slice(0, 12));
  renderPeers(peers);
  for (const p of peers) {
    if (!p.online) continue;
    const [payload, wire] = [p.payload_bytes || 0, p.wire_bytes || 0];
    // live: the event stream sends the deltas; the snapshot gives the totals so far
    if (state.live) state.traffic.setTotals(p.identity, p.nickname, at, payload, wire);
    else state.traffic.addTotals(p.identity, p.nickname, at, payload, wire);
  }
  drawTraffic();
}

function applyMemory(stats) {
  renderMemory(stats);
  for (const [peer, at] of Object.entries(stats.last_sync || {})) {
    const before = state.lastSync.get(peer);
    state.lastSync.set(peer, at);
    if (before !== undefined && before !== at) {
      addActivity(`synced with ${state.names.get(peer) || peer.slice(0, 12)}`);
    }
  }
}

function applySyncResult(r) {
  const who = state.names.get(r.peer) || String(r.peer || "?").slice(0, 12);
  addActivity(r.ok === false
    ? `sync with ${who} failed: ${r.error}`
    : `synced with ${who}: ${r.stored ?? 0} stored, ${r.refused ?? 0} refused`);
}

const SUMMARY = ["round_id", "role", "question", "stage", "status", "created"];

// The recent rounds (from REST), with the live views' newer stage and status.
function applyRoundList(rounds) {
  state.list = rounds.map((r) => {
    const live = state.rounds.get(r.round_id);
    return live && r.status === "running" ? summary(live) : r;
  });
  renderRoundList(state.list, pickRound);
}

function summary(view) {
  return Object.fromEntries(SUMMARY.map((k) => [k, view[k]]));
}

function applyRound(view) {
  if (!view || !view.round_id) return;
  state.rounds.set(view.round_id, view);
  const others = state.list.filter((r) => r.round_id !== view.round_id);
  state.list = [summary(view), ...others].sort((a, b) => b.created - a.created).slice(0, 20);
  renderRoundList(state.list, pickRound);
  if (state.round === null && view.role === "asker") state.round = view.round_id;
  if (state.round === view.round_id) renderRound(view);
}

// Per-link deltas in any of the shapes {links: [...]}, {links: {id: ...}} or {id: ...}.
function trafficItems(data) {
  const links = data.links ?? data.peers ?? data;
  if (Array.isArray(links)) return links.map((l) => [l.peer || l.identity || l.id, l]);
  return Object.entries(links || {}).filter(([, l]) => l && typeof l === "object");
}

function applyTraffic(data, at) {
  const seconds = Number(data.interval || data.seconds || 1);
  for (const [key, l] of trafficItems(data)) {
    if (!key || l.payload_bytes === undefined) continue;
    const name = l.nickname || l.name || state.names.get(key);
    state.traffic.addDelta(key, name, at, Number(l.payload_bytes), Number(l.wire_bytes || 0),
      seconds);
  }
  drawTraffic();
}

function drawTraffic() {
  const box = $("traffic-charts");
  for (const link of state.traffic.links.values()) {
    let figure = box.querySelector(`figure[data-key="${CSS.escape(link.key)}"]`);
    if (!figure) {
      figure = document.createElement("figure");
      figure.dataset.key = link.key;
      figure.dataset.testid = "traffic-chart";
      box.append(figure);
    }
    drawLink(figure, link);
  }
  $("traffic-empty").hidden = state.traffic.links.size > 0;
}

function onEvent(msg) {
  const data = msg.data || {};
  const at = Number(msg.at) || Date.now() / 1000;
  if (msg.type === "status") applyStatus(data);
  else if (msg.type === "peers") applyPeers(Array.isArray(data) ? data : data.peers || [], at);
  else if (msg.type === "traffic") applyTraffic(data, at);
  else if (msg.type === "memory" && data.entries !== undefined) applyMemory(data);
  else if (msg.type === "memory" && data.stats) applyMemory(data.stats);
  else if (msg.type === "memory" && data.peer) applySyncResult(data);
  else if (msg.type === "round") applyRound(data.round || data);
}

// --- polling -------------------------------------------------------------------------

async function poll() {
  const t = state.token;
  try {
    const [status, peers, memory, rounds] = await Promise.all([
      call(t, "GET", "/api/v1/status"),
      call(t, "GET", "/api/v1/peers"),
      call(t, "GET", "/api/v1/memory/stats"),
      call(t, "GET", "/api/v1/rounds?limit=20"),
    ]);
    applyStatus(status);
    applyPeers(peers.peers || [], Date.now() / 1000);
    applyMemory(memory);
    applyRoundList(rounds.rounds || []);
    showConnection(true);
  } catch (err) {
    if (err instanceof Unauthorized) return logout("The token was refused; log in again.");
    showConnection(false);
  }
}

async function pollRound() {
  const id = state.round;
  const view = id && state.rounds.get(id);
  if (!id || (view && view.status !== "running")) return;
  try {
    applyRound(await call(state.token, "GET", `/api/v1/rounds/${id}`));
  } catch (err) {
    if (err instanceof Unauthorized) logout("The token was refused; log in again.");
  }
}

// Run `fn` now and again every `ms` (a number or a function giving one) until logout.
function schedule(fn, ms) {
  const generation = state.generation;
  const run = async () => {
    if (generation !== state.generation) return;
    await fn();
    if (generation === state.generation) setTimeout(run, typeof ms === "function" ? ms() : ms);
  };
  run();
}

async function pickRound(id) {
  state.round = id;
  try {
    applyRound(await call(state.token, "GET", `/api/v1/rounds/${id}`));
  } catch (err) {
    $("round-error").textContent = err.message;
  }
}

// --- starting a round ----------------------------------------------------------------

function roundRequest() {
  const body = { question: $("round-question").value.trim() };
  const space = $("round-space").value.trim();
  if (space) body.space = space;
  const times = {};
  for (const stage of ["answer", "reveal", "review", "synthesis"]) {
    const raw = $(`time-${stage}`).value;
    if (raw !== "") times[stage] = Number(raw);
  }
  if (Object.keys(times).length) body.times = times;
  return body;
}

async function startRound(ev) {
  ev.preventDefault();
  $("round-error").textContent = "";
  const button = $("round-start");
  button.disabled = true;
  try {
    const view = await call(state.token, "POST", "/api/v1/rounds", roundRequest());
    state.round = view.round_id;
    applyRound(view);
  } catch (err) {
    if (err instanceof Unauthorized) logout("The token was refused; log in again.");
    else $("round-error").textContent = err.message;
  } finally {
    button.disabled = false;
  }
}

// --- logging in and out --------------------------------------------------------------

function start(token) {
  state.token = token;
  $("login").hidden = true;
  $("logout").hidden = false;
  startViews(token, logout);
  state.events = openEvents(token, onEvent, (open) => {
    state.live = open;
    showConnection(true);
  });
  schedule(poll, () => (state.live ? POLL_LIVE_MS : POLL_MS));
  schedule(pollRound, ROUND_POLL_MS);
}

function logout(message) {
  forgetToken();
  state.token = "";
  state.generation += 1;
  if (state.events) state.events.stop();
  state.events = null;
  state.live = false;
  stopViews();
  $("logout").hidden = true;
  $("login").hidden = false;
  $("login-error").textContent = message || "";
  setConnection("locked"); // the node served this page: it runs; we are not logged in
}

async function login(ev) {
  ev.preventDefault();
  const token = $("token").value.trim();
  $("login-error").textContent = "";
  try {
    await call(token, "GET", "/api/v1/status");
  } catch (err) {
    $("login-error").textContent =
      err instanceof Unauthorized ? "That token was refused." : `Cannot reach the API: ${err.message}`;
    return;
  }
  $("token").value = "";
  saveToken(token);
  start(token);
}

function toggleOnion() {
  const shown = $("onion-address");
  shown.hidden = !shown.hidden;
  shown.textContent = shown.hidden ? "" : state.onion || "(not published yet)";
  $("onion-reveal").textContent = shown.hidden ? "Show" : "Hide";
}

function main() {
  $("login-form").addEventListener("submit", login);
  $("logout").addEventListener("click", () => logout(""));
  $("round-form").addEventListener("submit", startRound);
  $("onion-reveal").addEventListener("click", toggleOnion);
  const token = savedToken();
  if (token) start(token);
}

main();
