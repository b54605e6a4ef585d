"""The MCP tools and resources, each a call to the running node's local API.

Tools: ``memory_search``, ``memory_put``, ``memory_get``, ``memory_list_recent``,
``council_ask`` (a convergence round among contacts, with progress notifications per
stage; cancelling the call cancels the round), ``contacts_status``, and ``circle_status``,
``circle_propose`` and ``circle_log`` (circles: group decisions ordered with PBFT).
Resources: ``gateway://memory/recent``, ``gateway://memory/{id}``,
``gateway://rounds/recent`` and ``gateway://rounds/{id}`` (JSON).

Every failure the node reports (an unknown id, a space that does not exist, no paired
contact...) becomes a tool error whose text is ``<code>: <sentence>``, as the CLI prints
it; bad argument types are refused by the SDK before the node is asked.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Awaitable
from typing import Any, TypeVar
from urllib.parse import quote

import anyio
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ResourceError, ToolError

from gateway import __version__
from gateway.errors import ApiError
from gateway.mcp.nodeapi import NodeApi

T = TypeVar("T")
STAGES = ("commit", "reveal", "review", "synthesis")
#: seconds a cancelled council_ask waits for the node to cancel its round
CANCEL_TIMEOUT = 10.0
INSTRUCTIONS = (
    "This server is a gateway node: a person's node behind Tor, linked to their contacts. "
    "memory_* tools read and write the memory shared with contacts (signed entries, by "
    "space). council_ask puts a question to the contacts' AIs: each answers, they rank "
    "each other's answers anonymously, and one synthesizes; it takes as long as its stages "
    "(minutes by default) and reports progress."
)


async def _api(call: Awaitable[T]) -> T:
    """The node's answer, or a tool error carrying its code and sentence."""
    try:
        return await call
    except ApiError as exc:
        raise ToolError(f"{exc.api_code}: {exc}") from None


def _path_id(value: str, what: str) -> str:
    value = value.strip()
    if not value:
        raise ToolError(f"bad_request: {what} is required")
    return quote(value, safe="")


def round_summary(view: dict[str, Any]) -> dict[str, Any]:
    """What an AI needs of a finished round: the synthesis, ranked answers, faults, the id."""
    result = view.get("result") or {}
    return {
        "round_id": view.get("round_id"),
        "status": view.get("status"),
        "question": view.get("question"),
        "synthesis": result.get("text"),
        "ranked": [
            {
                "author": (r.get("author") or {}).get("name") or (r.get("author") or {}).get("id"),
                "points": r.get("points"),
                "answer": r.get("answer"),
            }
            for r in result.get("ranked") or []
        ],
        "faults": view.get("faults") or [],
        "memory_entry": view.get("memory_entry"),
        "error": view.get("error"),
    }


def build_server(node: NodeApi) -> MCPServer:
    """The MCP server over the node's API at ``node``."""
    server: MCPServer = MCPServer(
        "gateway", version=__version__, instructions=INSTRUCTIONS, log_level="WARNING"
    )

    @server.tool()
    async def memory_search(
        query: str,
        space: str | None = None,
        topic: str | None = None,
        tags: list[str] | None = None,
        limit: int = 10,
        mode: str = "hybrid",
    ) -> dict[str, Any]:
        """Search the shared memory by meaning and by words for ``query``.

        ``mode``: ``hybrid`` (default: both, fused), ``semantic`` (by meaning: finds
        entries that say the same in other words) or ``keyword`` (BM25 over the words).
        Optionally only in one ``space``, with a ``topic``, or carrying all ``tags``.
        """
        if not query.strip():
            raise ToolError("bad_request: query (the words to search for) is required")
        if not 1 <= limit <= 100:
            raise ToolError("bad_request: limit must be from 1 to 100")
        if mode not in ("hybrid", "semantic", "keyword"):
            raise ToolError("bad_request: mode is one of hybrid, semantic, keyword")
        query_args = {"q": query, "mode": mode, "space": space, "topic": topic, "tag": tags}
        found = await _api(node.get("/api/v1/memory/search", **query_args, limit=limit))
        return {"mode": found.get("mode", mode), "entries": found["entries"]}

    @server.tool()
    async def memory_put(
        text: str,
        space: str = "default",
        topic: str = "",
        tags: list[str] | None = None,
    ) -> dict[str, Any]:
        """Write a memory entry (signed by this node; synced to the contacts of its space)."""
        if not text.strip():
            raise ToolError("bad_request: text is empty")
        body = {"text": text, "space": space, "topic": topic, "tags": tags or []}
        entry: dict[str, Any] = await _api(node.call("POST", "/api/v1/memory", body))
        return entry

    @server.tool()
    async def memory_get(id: str) -> dict[str, Any]:
        """One memory entry by id (the 64 hex digits, or a unique prefix of 8 or more)."""
        entry: dict[str, Any] = await _api(node.call("GET", f"/api/v1/memory/{_path_id(id, 'id')}"))
        return entry

    @server.tool()
    async def memory_list_recent(limit: int = 20, space: str | None = None) -> dict[str, Any]:
        """The newest memory entries, optionally of one space."""
        if not 1 <= limit <= 1000:
            raise ToolError("bad_request: limit must be from 1 to 1000")
        listed: dict[str, Any] = await _api(node.get("/api/v1/memory", limit=limit, space=space))
        return listed

    @server.tool()
    async def council_ask(
        question: str,
        ctx: Context,
        participants: list[str] | None = None,
        times: dict[str, float] | None = None,
        space: str = "default",
    ) -> dict[str, Any]:
        """Put a question to the council of contacts' AIs and wait for its answer.

        ``participants``: contact names (default: every paired contact). ``times``: seconds
        for the stages answer, reveal, review and synthesis. Returns the synthesis, the
        ranked answers with their authors, the faults and the round id (kept in memory
        ``space``). Progress is reported at each stage; cancelling cancels the round.
        """
        body: dict[str, Any] = {"question": question, "space": space}
        if participants is not None:
            body["participants"] = participants
        if times is not None:
            body["times"] = times
        with anyio.CancelScope(shield=True):  # a round that starts is one we can cancel
            started = await _api(node.call("POST", "/api/v1/rounds", body))
        rid = str(started["round_id"])
        try:
            view = await _follow(node, rid, ctx)
        except anyio.get_cancelled_exc_class():
            await _cancel_round(node, rid)
            raise
        if view.get("status") in ("ok", "fallback"):
            return round_summary(view)
        raise ToolError(
            f"round_{view.get('status')}: round {rid[:16]} ended without an answer "
            f"({view.get('error') or view.get('status')}); its faults: "
            + json.dumps(view.get("faults") or [])
        )

    @server.tool()
    async def contacts_status() -> dict[str, Any]:
        """The contacts and their links: online, RTT, padding, last seen, queued messages."""
        peers: dict[str, Any] = await _api(node.call("GET", "/api/v1/peers"))
        return peers

    @server.tool()
    async def circle_status(circle: str | None = None) -> dict[str, Any]:
        """Every circle (no ``circle``), or one circle's members, view, primary order (and
        each member's agreed rank), executed decisions, spaces, tombstones, answers and
        faults (``circle``: its name or id prefix)."""
        if circle is None or not circle.strip():
            listed: dict[str, Any] = await _api(node.call("GET", "/api/v1/circles"))
            return listed
        path = f"/api/v1/circles/{_path_id(circle, 'circle')}"
        status: dict[str, Any] = await _api(node.call("GET", path))
        return status

    @server.tool()
    async def circle_propose(
        circle: str,
        kind: str,
        member: str | None = None,
        space: str | None = None,
        policy: str | None = None,
        members: list[str] | None = None,
        entry: str | None = None,
        round_id: str | None = None,
        answer: str | None = None,
    ) -> dict[str, Any]:
        """Propose a decision to a circle; it runs once a quorum of members commits it.

        ``kind``: ``add-member``/``remove-member`` (``member``: a contact), ``set-space``
        (``space``, ``policy`` open|listed|removed, ``members`` for listed), ``tombstone``
        (``entry``: a memory entry id), ``record-answer`` (``round_id``, ``answer`` text).
        """
        fields = {
            "member": member, "space": space, "policy": policy, "members": members,
            "entry": entry, "round_id": round_id, "answer": answer,
        }  # fmt: skip
        body = {"kind": kind, **{k: v for k, v in fields.items() if v is not None}}
        path = f"/api/v1/circles/{_path_id(circle, 'circle')}/proposals"
        proposed: dict[str, Any] = await _api(node.call("POST", path, body))
        return proposed

    @server.tool()
    async def circle_log(circle: str, after: int = 0, limit: int = 100) -> dict[str, Any]:
        """The decisions a circle executed, in order (after sequence number ``after``)."""
        if not 1 <= limit <= 10000 or after < 0:
            raise ToolError("bad_request: limit is 1 to 10000 and after is 0 or more")
        path = f"/api/v1/circles/{_path_id(circle, 'circle')}/log"
        entries: dict[str, Any] = await _api(node.get(path, after=after, limit=limit))
        return entries

    @server.resource("gateway://memory/recent", mime_type="application/json")
    async def recent_memory() -> str:
        """The 50 newest memory entries."""
        return json.dumps(await _resource(node.get("/api/v1/memory", limit=50)))

    @server.resource("gateway://memory/{entry_id}", mime_type="application/json")
    async def memory_entry(entry_id: str) -> str:
        """One memory entry."""
        path = f"/api/v1/memory/{quote(entry_id, safe='')}"
        return json.dumps(await _resource(node.call("GET", path)))

    @server.resource("gateway://rounds/recent", mime_type="application/json")
    async def recent_rounds() -> str:
        """The 20 newest convergence rounds (summaries)."""
        return json.dumps(await _resource(node.get("/api/v1/rounds", limit=20)))

    @server.resource("gateway://rounds/{round_id}", mime_type="application/json")
    async def round_result(round_id: str) -> str:
        """One round: its stages, answers, rankings, synthesis and faults."""
        path = f"/api/v1/rounds/{quote(round_id, safe='')}"
        return json.dumps(await _resource(node.call("GET", path)))

    return server


async def _cancel_round(node: NodeApi, rid: str) -> None:
    """Cancel the round on the node (the MCP request was cancelled): shielded from that
    cancellation, bounded in time, and quiet if the round has just ended anyway."""
    with (
        anyio.CancelScope(shield=True),
        anyio.move_on_after(CANCEL_TIMEOUT),
        contextlib.suppress(ApiError),
    ):
        await node.call("DELETE", f"/api/v1/rounds/{quote(rid, safe='')}")


async def _resource(call: Awaitable[T]) -> T:
    try:
        return await call
    except ApiError as exc:
        raise ResourceError(f"{exc.api_code}: {exc}") from None


async def _follow(node: NodeApi, rid: str, ctx: Context) -> dict[str, Any]:
    """Follow the round to its end, reporting each new stage as progress (0..4 of 4)."""
    view: dict[str, Any] = {}
    reported = -1
    try:
        async for view in node.follow(rid):
            stage = view.get("stage")
            step = STAGES.index(stage) if stage in STAGES else 0
            if view.get("status") != "running":
                step = len(STAGES)
            if step > reported:
                reported = step
                note = f"round {rid[:8]}: {stage or 'starting'} ({view.get('status')})"
                await ctx.report_progress(step, len(STAGES), note)
    except ApiError as exc:
        raise ToolError(f"{exc.api_code}: {exc}") from None
    return view
