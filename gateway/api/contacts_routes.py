"""The local API's contact routes: list, add and remove contacts; make and list invites.

They do what ``gateway invite`` and ``gateway contacts`` do on the state
directory (client-authorization files included), inside the running node.
``POST /api/v1/invites/qr`` also draws the invite's QR code (SVG, for the
dashboard), as ``gateway invite`` does in a terminal.
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable
from typing import Any

from aiohttp import web

from gateway.api.replies import json_error, read_json
from gateway.config.schema import SecurityPolicy
from gateway.contacts.book import ContactBook, PendingInvite, revocation_for
from gateway.contacts.client_auth import ClientAuthKey
from gateway.contacts.invite import MAX_NICKNAME_BYTES
from gateway.contacts.local import apply_revocation, authorize, install_contact_keys
from gateway.contacts.views import DEFAULT_TTL, MAX_TTL, contact_json, invite_json
from gateway.errors import ContactError, InviteError
from gateway.state.keys import IdentityKeys
from gateway.state.onion_key import OnionKey
from gateway.state.paths import StatePaths

CONTACTS = "/api/v1/contacts"
INVITES = "/api/v1/invites"


async def _object(request: web.Request, allowed: dict[str, type]) -> dict[str, Any] | web.Response:
    """The request's JSON object (``allowed``: field -> type; null is absent), or the error."""
    try:
        data = await read_json(request)
    except ValueError:
        return json_error(400, "bad_request", "expected a JSON object")
    if not isinstance(data, dict):
        return json_error(400, "bad_request", "expected a JSON object")
    unknown = set(data) - set(allowed)
    if unknown:
        return json_error(400, "bad_request", f"unknown fields: {', '.join(sorted(unknown))}")
    for name, kind in allowed.items():
        value = data.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, kind)):
            return json_error(400, "bad_request", f'"{name}" must be a {kind.__name__}')
    return data


def pending_json(invite: PendingInvite) -> dict[str, Any]:
    """An invite this node made (no secret: only its hash's first 16 hex digits)."""
    return {
        "id": invite.secret_hash.hex()[:16],
        "created": invite.created,
        "expires": invite.expires,
        "used_at": invite.used_at,
        "label": invite.label,
        "client_auth": invite.auth_public is not None,
    }


class ContactsRoutes:
    """Contact and invite routes over the node's :class:`ContactBook` and state directory."""

    def __init__(
        self,
        book: ContactBook,
        paths: StatePaths,
        keys: IdentityKeys,
        onion: OnionKey,
        policy: SecurityPolicy,
        node_name: str,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.book = book
        self.paths = paths
        self.keys = keys
        self.onion = onion
        self.policy = policy
        self.nickname = node_name.encode()[:MAX_NICKNAME_BYTES].decode(errors="ignore")
        self.clock = clock

    def add_to(self, app: web.Application) -> None:
        app.router.add_get(CONTACTS, self._list)
        app.router.add_post(CONTACTS, self._add)
        app.router.add_delete(CONTACTS + "/{contact}", self._remove)
        app.router.add_patch(CONTACTS + "/{contact}", self._rename)
        app.router.add_get(INVITES, self._invites)
        app.router.add_post(INVITES, self._invite)
        app.router.add_post(INVITES + "/qr", self._invite_qr)

    async def _list(self, _: web.Request) -> web.Response:
        return web.json_response({"contacts": [contact_json(c) for c in self.book.list()]})

    async def _add(self, request: web.Request) -> web.Response:
        data = await _object(request, {"invite": str, "nickname": str})
        if isinstance(data, web.Response):
            return data
        invite = data.get("invite")
        if not invite:
            return json_error(400, "bad_request", 'expected JSON {"invite": "...", ...}')
        try:
            contact = self.book.add_contact(
                invite,
                int(self.clock()),
                nickname=data.get("nickname"),
                client_auth=self.policy.client_auth_required,
            )
        except InviteError as exc:
            return json_error(400, f"invite_{exc.reason}", str(exc))
        install_contact_keys(self.paths, contact)
        return web.json_response(contact_json(contact), status=201)

    async def _rename(self, request: web.Request) -> web.Response:
        data = await _object(request, {"nickname": str})
        if isinstance(data, web.Response):
            return data
        if not data.get("nickname"):
            return json_error(400, "bad_request", 'expected JSON {"nickname": "..."}')
        try:
            contact = self.book.find(request.match_info["contact"])
        except ContactError as exc:
            return json_error(404, "not_found", str(exc))
        return web.json_response(contact_json(self.book.rename(contact.identity, data["nickname"])))

    async def _remove(self, request: web.Request) -> web.Response:
        try:
            contact = self.book.find(request.match_info["contact"])
        except ContactError as exc:
            return json_error(404, "not_found", str(exc))
        # files first: a failure leaves the contact in the book, never a stray authorization
        result = apply_revocation(self.paths, revocation_for(contact))
        self.book.remove(contact.identity)
        return web.json_response(
            {
                "removed": contact_json(contact),
                "auth_removed": result.auth_removed,
                "auth_private_removed": result.auth_private_removed,
            }
        )

    async def _invites(self, _: web.Request) -> web.Response:
        pending = self.book.pending_invites()
        return web.json_response({"invites": [pending_json(i) for i in pending]})

    async def _invite(self, request: web.Request) -> web.Response:
        made = await self._make_invite(request)
        if isinstance(made, web.Response):
            return made
        return web.json_response(made, status=201)

    async def _invite_qr(self, request: web.Request) -> web.Response:
        """A new invite, as ``_invite`` makes it, with its QR code as an SVG document."""
        made = await self._make_invite(request)
        if isinstance(made, web.Response):
            return made
        return web.json_response({**made, "qr_svg": invite_svg(str(made["link"]))}, status=201)

    async def _make_invite(self, request: web.Request) -> dict[str, object] | web.Response:
        data = await _object(request, {"expires_in": int, "label": str, "nickname": str})
        if isinstance(data, web.Response):
            return data
        ttl = data.get("expires_in")
        ttl = DEFAULT_TTL if ttl is None else ttl
        if not 0 < ttl <= MAX_TTL:
            msg = f'"expires_in" must be seconds from 1 to {MAX_TTL}'
            return json_error(400, "bad_request", msg)
        label = data.get("label")
        try:
            invite = self.book.make_invite(
                self.keys.signing,
                self.onion.public_key,
                self.keys.static_public,
                now=int(self.clock()),
                ttl=ttl,
                level=self.policy.level,
                post_quantum=self.policy.post_quantum,
                client_auth=self.policy.client_auth_required,
                label=label,
                nickname=data.get("nickname") or self.nickname,
            )
        except InviteError as exc:
            return json_error(400, f"invite_{exc.reason}", str(exc))
        if invite.client_auth_private is not None:
            authorize(self.paths, ClientAuthKey(invite.client_auth_private).public)
        return invite_json(invite, label)


def invite_svg(link: str) -> str:
    """The QR code of an invite's link as an SVG document (black on white, quiet zone).

    It holds the same text as ``gateway invite`` draws in a terminal: the link in
    upper case. segno is imported here, when a code is drawn, not when the node starts.
    """
    import segno

    from gateway.contacts.qr import qr_payload

    code = segno.make(qr_payload(link), error="m", micro=False)
    out = io.BytesIO()
    code.save(out, kind="svg", scale=4, border=4, xmldecl=False, dark="#000", light="#fff",
              title="gateway invite")  # fmt: skip
    return out.getvalue().decode("utf-8")
