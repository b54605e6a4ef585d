// Building the page's elements from data: text always goes in as text, never as markup.

export const $ = (id) => document.getElementById(id);

// <tag attrs...>children</tag>: strings (and numbers) become text nodes; `text` sets
// textContent; `on` is {event: handler}; null/undefined/false attributes are left out.
export function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "text") node.textContent = String(value);
    else if (key === "on") for (const [ev, fn] of Object.entries(value)) node.addEventListener(ev, fn);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  node.append(...children.filter((c) => c !== null && c !== undefined).map((c) =>
    (typeof c === "string" || typeof c === "number" ? String(c) : c)));
  return node;
}

export function when(ms) {
  if (!ms) return "–";
  return new Date(ms).toLocaleString();
}

// Tabs: buttons [role=tab][data-tab] in `bar`, panels [role=tabpanel][data-tab] in `box`.
export function selectTab(bar, box, name) {
  for (const tab of bar.querySelectorAll(":scope > [role=tab]")) {
    tab.setAttribute("aria-selected", String(tab.dataset.tab === name));
  }
  for (const panel of box.querySelectorAll(":scope > [role=tabpanel]")) {
    panel.hidden = panel.dataset.tab !== name;
  }
}
