// Per-link traffic over time (payload against padding bytes per second) drawn as inline SVG.

const SVG = "http://www.w3.org/2000/svg";
export const MAX_POINTS = 180;
const WIDTH = 600;
const HEIGHT = 140;
const PAD = 4;

// The series of every link, fed either with per-interval deltas (events) or with
// cumulative totals (REST polling of /peers).
export class Traffic {
  constructor() {
    this.links = new Map();
  }

  link(key, name) {
    let link = this.links.get(key);
    if (!link) {
      link = { key, name: name || key.slice(0, 12), points: [], totals: null, payload: 0, padding: 0 };
      this.links.set(key, link);
    }
    if (name) link.name = name;
    return link;
  }

  // `payload` and `wire` bytes were sent during the `seconds` ending at `at`
  // (the link's running totals move by as much, when they are known).
  addDelta(key, name, at, payload, wire, seconds, moveTotals = true) {
    const link = this.link(key, name);
    const span = seconds > 0 ? seconds : 1;
    const padding = Math.max(0, wire - payload);
    link.payload += Math.max(0, payload);
    link.padding += padding;
    if (moveTotals && link.totals) {
      link.totals = { at, payload: link.totals.payload + payload, wire: link.totals.wire + wire };
    }
    link.points.push({ at, payload: Math.max(0, payload) / span, padding: padding / span });
    if (link.points.length > MAX_POINTS) link.points.splice(0, link.points.length - MAX_POINTS);
  }

  // The link's running totals at `at`; a point for the change since the previous totals.
  addTotals(key, name, at, payloadTotal, wireTotal) {
    const link = this.link(key, name);
    const prev = link.totals;
    link.totals = { at, payload: payloadTotal, wire: wireTotal };
    if (!prev || at <= prev.at) return;
    const restarted = payloadTotal < prev.payload || wireTotal < prev.wire; // a new link
    const payload = restarted ? payloadTotal : payloadTotal - prev.payload;
    const wire = restarted ? wireTotal : wireTotal - prev.wire;
    this.addDelta(key, name, at, payload, wire, at - prev.at, false);
  }

  // The link's running totals (from a peers snapshot), without a point: the event stream
  // sends the deltas. The panel shows totals since the link opened, not since page load.
  setTotals(key, name, at, payloadTotal, wireTotal) {
    this.link(key, name).totals = { at, payload: payloadTotal, wire: wireTotal };
  }
}

function el(name, attrs) {
  const node = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, String(v));
  return node;
}

function path(points, field, x, y) {
  return points.map((p, i) => `${i ? "L" : "M"}${x(p.at).toFixed(1)},${y(p[field]).toFixed(1)}`).join(" ");
}

// What the link carried since it opened (its totals), or since the page opened.
function sent(link) {
  const t = link.totals;
  return t ? { payload: t.payload, padding: Math.max(0, t.wire - t.payload) }
    : { payload: link.payload, padding: link.padding };
}

export function humanBytes(n) {
  const units = ["B", "KiB", "MiB", "GiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i += 1;
  }
  return `${n.toFixed(i ? 1 : 0)} ${units[i]}`;
}

// The chart of one link inside `figure` (an SVG of two lines, a caption with totals).
export function drawLink(figure, link) {
  figure.dataset.peer = link.name;
  figure.dataset.points = String(link.points.length);
  let caption = figure.querySelector("figcaption");
  if (!caption) {
    caption = document.createElement("figcaption");
    figure.append(caption);
  }
  const rate = link.points.length ? link.points[link.points.length - 1] : { payload: 0, padding: 0 };
  caption.textContent =
    `${link.name}: payload ${humanBytes(sent(link).payload)}, ` +
    `padding ${humanBytes(sent(link).padding)} ` +
    `(now ${humanBytes(rate.payload)}/s + ${humanBytes(rate.padding)}/s)`;
  const svg = el("svg", { viewBox: `0 0 ${WIDTH} ${HEIGHT}`, role: "img", class: "chart" });
  svg.append(el("rect", { x: 0, y: 0, width: WIDTH, height: HEIGHT, class: "frame" }));
  const pts = link.points;
  if (pts.length) {
    const t0 = pts[0].at;
    const t1 = Math.max(pts[pts.length - 1].at, t0 + 1);
    const top = Math.max(1, ...pts.map((p) => Math.max(p.payload, p.padding)));
    const x = (t) => PAD + ((t - t0) / (t1 - t0)) * (WIDTH - 2 * PAD);
    const y = (v) => HEIGHT - PAD - (v / top) * (HEIGHT - 2 * PAD);
    svg.append(el("path", { d: path(pts, "padding", x, y), class: "line padding" }));
    svg.append(el("path", { d: path(pts, "payload", x, y), class: "line payload" }));
    const label = el("text", { x: WIDTH - PAD, y: 14, class: "scale", "text-anchor": "end" });
    label.textContent = `${humanBytes(top)}/s`;
    const since = el("text", { x: PAD + 2, y: HEIGHT - PAD - 2, class: "scale" });
    since.textContent = new Date(t0 * 1000).toLocaleTimeString();
    svg.append(label, since);
  }
  const old = figure.querySelector("svg");
  if (old) old.replaceWith(svg);
  else figure.prepend(svg);
}
