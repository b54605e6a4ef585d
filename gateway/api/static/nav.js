// The page's views: the operator panel (#dashboard) and the council, memory and pairing
// views, one shown at a time, picked by the address's #fragment.

import { $ } from "./dom.js";
import * as council from "./council.js";
import * as memory from "./memory.js";
import * as pairing from "./pairing.js";

const VIEWS = {
  overview: { id: "dashboard", module: null },
  council: { id: "council-view", module: council },
  memory: { id: "memory-view", module: memory },
  pairing: { id: "pairing-view", module: pairing },
};

let session = null; // {token, refused(message)} while logged in
let shown = "";

function current() {
  const name = location.hash.slice(1);
  return Object.hasOwn(VIEWS, name) ? name : "overview";
}

function show(name) {
  if (!session) return;
  for (const [key, view] of Object.entries(VIEWS)) $(view.id).hidden = key !== name;
  for (const link of $("views").querySelectorAll("button[data-view]")) {
    if (link.dataset.view === name) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  if (shown && shown !== name && VIEWS[shown].module) VIEWS[shown].module.close();
  if (shown !== name && VIEWS[name].module) VIEWS[name].module.open(session);
  shown = name;
}

export function startViews(token, refused) {
  session = { token, refused };
  $("views").hidden = false;
  shown = "";
  show(current());
}

export function stopViews() {
  for (const view of Object.values(VIEWS)) if (view.module) view.module.reset();
  session = null;
  shown = "";
  $("views").hidden = true;
  for (const view of Object.values(VIEWS)) $(view.id).hidden = true;
}

window.addEventListener("hashchange", () => show(current()));
$("views").addEventListener("click", (ev) => {
  const name = ev.target.dataset && ev.target.dataset.view;
  if (!name) return;
  if (location.hash.slice(1) === name) show(name);
  else location.hash = name;
});
