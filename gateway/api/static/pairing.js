// Pairing: make an invite (text, link and QR code: POST /api/v1/invites/qr), paste one
// to add its maker as a contact (POST /api/v1/contacts), and watch contacts get paired.

import { Unauthorized, call } from "./api.js";
import { $, el, when } from "./dom.js";

const REFRESH_MS = 3000;
let session = null;
let timer = null;

function failed(err, where) {
  if (err instanceof Unauthorized) session.refused("The token was refused; log in again.");
  else $(where).textContent = err.message;
}

async function invite(ev) {
  ev.preventDefault();
  $("invite-error").textContent = "";
  const body = { expires_in: Number($("invite-expires").value) };
  const label = $("invite-label").value.trim();
  if (label) body.label = label;
  $("invite-make").disabled = true;
  try {
    const made = await call(session.token, "POST", "/api/v1/invites/qr", body);
    $("invite-text").value = made.invite;
    $("invite-link").textContent = made.link;
    $("invite-expiry").textContent = `single use, valid until ${when(made.expires * 1000)}` +
      (made.client_auth ? " · carries a client-authorization key for the invitee" : "");
    // an <img> of the server's SVG: drawn as a picture, never run as markup
    $("invite-qr").src = `data:image/svg+xml;charset=utf-8,${encodeURIComponent(made.qr_svg)}`;
    $("invite-made").hidden = false;
    refresh();
  } catch (err) {
    failed(err, "invite-error");
  } finally {
    $("invite-make").disabled = false;
  }
}

async function copy() {
  const box = $("invite-text");
  box.select();
  try {
    await navigator.clipboard.writeText(box.value);
    $("invite-copied").textContent = "copied";
  } catch (_) {
    $("invite-copied").textContent = "selected: press Ctrl+C";
  }
}

async function accept(ev) {
  ev.preventDefault();
  $("accept-error").textContent = "";
  $("accept-result").textContent = "";
  const body = { invite: $("accept-invite").value.trim() };
  const nickname = $("accept-nickname").value.trim();
  if (nickname) body.nickname = nickname;
  try {
    const added = await call(session.token, "POST", "/api/v1/contacts", body);
    $("accept-invite").value = "";
    $("accept-nickname").value = "";
    $("accept-result").textContent = `Added ${added.nickname || added.id.slice(0, 16)}: ` +
      "pending until the first connection through Tor.";
    refresh();
  } catch (err) {
    failed(err, "accept-error");
  }
}

async function refresh() {
  if (!session) return;
  try {
    const [{ contacts }, { invites }] = await Promise.all([
      call(session.token, "GET", "/api/v1/contacts"),
      call(session.token, "GET", "/api/v1/invites"),
    ]);
    $("pairing-contacts").replaceChildren(...contacts.map((c) => el("tr",
      { "data-testid": "pairing-contact", "data-nickname": c.nickname || "", "data-state": c.state },
      el("td", {}, c.nickname || c.id.slice(0, 16)), el("td", {}, c.state),
      el("td", {}, el("code", {}, c.onion)), el("td", {}, when(c.added_at * 1000)))));
    $("pairing-contacts-empty").hidden = contacts.length > 0;
    const now = Date.now() / 1000;
    $("pairing-invites").replaceChildren(...invites.map((i) => el("li", { "data-id": i.id },
      `${i.label || "(no label)"} · ${i.used_at ? `used ${when(i.used_at * 1000)}`
        : i.expires < now ? "expired" : `valid until ${when(i.expires * 1000)}`}`)));
    $("pairing-invites-empty").hidden = invites.length > 0;
  } catch (err) {
    failed(err, "accept-error");
  }
}

export function open(s) {
  session = s;
  refresh();
  clearInterval(timer);
  timer = setInterval(refresh, REFRESH_MS);
}

export function close() {
  clearInterval(timer);
  timer = null;
}

export function reset() {
  close();
  session = null;
  $("invite-made").hidden = true;
  $("invite-text").value = "";
  $("invite-qr").removeAttribute("src");
}

$("invite-form").addEventListener("submit", invite);
$("invite-copy").addEventListener("click", copy);
$("accept-form").addEventListener("submit", accept);
