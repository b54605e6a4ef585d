"""Who an identity key is, for the CLI's tables: a contact's nickname, "me", or a short id."""

from __future__ import annotations

import contextlib

from gateway.api.client import call
from gateway.config.schema import GatewayConfig
from gateway.errors import GatewayError
from gateway.state.keys import IdentityKeys
from gateway.state.paths import StatePaths

ME = "me"


def known_names(cfg: GatewayConfig) -> dict[str, str]:
    """Identity key (hex) -> how to show it: contacts' nicknames (from the running node) and
    this node's own key as ``me``. Empty where they cannot be read (ids are shown then)."""
    names: dict[str, str] = {}
    with contextlib.suppress(GatewayError):
        for contact in call(cfg, "GET", "/api/v1/contacts")["contacts"]:
            if contact.get("nickname"):
                names[str(contact["id"])] = str(contact["nickname"])
    with contextlib.suppress(GatewayError):
        names[IdentityKeys.load(StatePaths(cfg.node.state_dir)).signing_public.hex()] = ME
    return names


def shown(identity_hex: str, names: dict[str, str]) -> str:
    """A contact's nickname, ``me``, or the first 16 hex digits of the key."""
    return names.get(identity_hex.lower()) or identity_hex[:16]
