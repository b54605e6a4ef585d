"""An OpenAI-compatible endpoint on the local API: the council as a model.

``GET /v1/models`` lists one model, ``council``. ``POST /v1/chat/completions`` with
``model: "council"`` runs a convergence round among the paired contacts on the last user
message (the earlier messages go along as context) and answers with the synthesis, in
OpenAI's ``chat.completion`` shape. With ``stream: true`` the answer comes as server-sent
``chat.completion.chunk`` events: first the role, then one chunk per stage of the round
(in ``delta.reasoning_content``, the field chat UIs show as the model's "thinking", and in
the extension field ``gateway``), then the synthesis as content, then ``finish_reason``
and ``data: [DONE]``. Errors have OpenAI's shape ``{"error": {"message", "type", "param",
"code"}}``. The routes sit behind the API's token (an OpenAI client's ``api_key``) and are
served wherever the API is (loopback TCP, or the unix socket at PARANOID). A client that
disconnects before the answer cancels the round.

Extensions a client may send (``extra_body`` in the ``openai`` client): ``participants``
(contact names; default every paired contact), ``space`` (the memory space for the result)
and ``times`` (seconds per stage, as ``POST /api/v1/rounds`` takes them).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from gateway.api.replies import read_json
from gateway.api.rounds_routes import times_from
from gateway.contacts.book import ContactBook
from gateway.converge.round import MAX_QUESTION_BYTES
from gateway.errors import GatewayError, RoundError
from gateway.node.rounds import RoundsService

MODEL = "council"
#: the conversation before the question, kept to this many bytes (its newest part)
MAX_CONTEXT_BYTES = 24 * 1024
ROLES = ("system", "developer", "user", "assistant", "tool")
#: what a failed round's status means, for the error message
FAILED = {"no_answers": "no participant revealed an answer in time"}
#: how often a waiting request looks whether its client went away (seconds)
HANGUP_CHECK = 1.0


class OpenAIError(Exception):
    """An error in OpenAI's shape."""

    def __init__(
        self, status: int, message: str, *, kind: str, code: str, param: str | None = None
    ) -> None:
        super().__init__(message)
        self.status, self.message, self.kind, self.code, self.param = (
            status,
            message,
            kind,
            code,
            param,
        )

    def response(self) -> web.Response:
        body = {
            "error": {
                "message": self.message,
                "type": self.kind,
                "param": self.param,
                "code": self.code,
            }
        }
        return web.json_response(body, status=self.status)


def _bad(message: str, param: str | None = None, code: str = "invalid_value") -> OpenAIError:
    return OpenAIError(400, message, kind="invalid_request_error", code=code, param=param)


def message_text(message: object, index: int) -> tuple[str, str]:
    """``(role, text)`` of one chat message; text parts of a content list are joined."""
    where = f"messages[{index}]"
    if not isinstance(message, dict):
        raise _bad(f"{where} must be an object with a role and content", "messages")
    role = message.get("role")
    if role not in ROLES:
        raise _bad(f"{where}.role must be one of {', '.join(ROLES)}", "messages")
    content = message.get("content")
    if content is None:
        return role, ""
    if isinstance(content, str):
        return role, content
    if isinstance(content, list):
        parts = []
        for part in content:
            if not isinstance(part, dict) or part.get("type") != "text":
                raise _bad(f"{where}.content: only text parts are supported", "messages")
            if not isinstance(part.get("text"), str):
                raise _bad(f"{where}.content: a text part needs a string 'text'", "messages")
            parts.append(part["text"])
        return role, "\n".join(parts)
    raise _bad(f"{where}.content must be a string or a list of text parts", "messages")


def question_from(messages: object) -> str:
    """The round's question: the last user message, after the conversation that led to it."""
    if not isinstance(messages, list) or not messages:
        raise _bad("'messages' must be a non-empty list", "messages")
    turns = [message_text(m, i) for i, m in enumerate(messages)]
    last = max((i for i, (role, _) in enumerate(turns) if role == "user"), default=None)
    if last is None or not turns[last][1].strip():
        raise _bad("the conversation has no user message to put to the council", "messages")
    question = turns[last][1]
    earlier = "\n".join(f"{role}: {text}" for role, text in turns[:last] if text.strip())
    if earlier:
        context = earlier.encode()[-MAX_CONTEXT_BYTES:].decode(errors="ignore")
        question = f"The conversation so far:\n{context}\n\nThe question now:\n{question}"
    if len(question.encode()) > MAX_QUESTION_BYTES:
        raise _bad(
            f"the question is over the round's limit of {MAX_QUESTION_BYTES} bytes", "messages"
        )
    return question


def completion(rid: str, created: int, text: str, question: str) -> dict[str, Any]:
    """A ``chat.completion`` with the synthesis (token counts are word-count estimates)."""
    prompt, answer = len(question.split()), len(text.split())
    return {
        "id": f"chatcmpl-{rid}",
        "object": "chat.completion",
        "created": created,
        "model": MODEL,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text},
                "finish_reason": "stop",
            }
        ],
        "usage": {
            "prompt_tokens": prompt,
            "completion_tokens": answer,
            "total_tokens": prompt + answer,
        },
    }


def chunk(
    rid: str, created: int, delta: dict[str, Any], finish: str | None = None, **extra: Any
) -> bytes:
    """One server-sent ``chat.completion.chunk`` event."""
    body = {
        "id": f"chatcmpl-{rid}",
        "object": "chat.completion.chunk",
        "created": created,
        "model": MODEL,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        **extra,
    }
    return b"data: " + json.dumps(body).encode() + b"\n\n"


def answer_of(view: dict[str, Any]) -> str:
    """The synthesis of a finished round; OpenAIError when the round gave none."""
    result = view.get("result") or {}
    text = result.get("text")
    if view.get("status") in ("ok", "fallback") and isinstance(text, str) and text:
        return text
    status = str(view.get("status"))
    why = FAILED.get(status) or str(view.get("error") or f"the round ended as {status!r}")
    raise OpenAIError(502, f"the council gave no answer: {why}", kind="server_error", code=status)


def progress_note(view: dict[str, Any]) -> str:
    """A line about where a round is: its stage and how many answered so far."""
    stage = view.get("stage") or "starting"
    peers = view.get("peers") or {}
    heard = sum(1 for kinds in peers.values() if kinds)
    total = len(view.get("participants") or [])
    return f"council: stage {stage} ({heard} of {total} participants heard from)\n"


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class OpenAIRoutes:
    """``/v1/models`` and ``/v1/chat/completions`` over the rounds service."""

    def __init__(self, rounds: RoundsService, book: ContactBook) -> None:
        self.rounds = rounds
        self.book = book

    def add_to(self, app: web.Application) -> None:
        for method, path, handler in self.routes():
            app.router.add_route(method, path, handler)

    def routes(self) -> list[tuple[str, str, Handler]]:
        """(method, path, handler) of every route (:mod:`gateway.api.openai_mount` serves
        the same paths before this module is loaded)."""
        return [
            ("GET", "/v1/models", self._models),
            ("GET", "/v1/models/{model}", self._model),
            ("POST", "/v1/chat/completions", self._chat),
        ]

    @staticmethod
    def _model_json() -> dict[str, Any]:
        return {"id": MODEL, "object": "model", "created": 0, "owned_by": "gateway"}

    async def _models(self, _: web.Request) -> web.Response:
        return web.json_response({"object": "list", "data": [self._model_json()]})

    async def _model(self, request: web.Request) -> web.Response:
        name = request.match_info["model"]
        if name != MODEL:
            return _unknown_model(name).response()
        return web.json_response(self._model_json())

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        try:
            data = await _body(request)
            question, stream = self._checked(data)
            rid = await self._start(question, data)
        except OpenAIError as exc:
            return exc.response()
        created = int(time.time())
        try:
            if stream:
                return await self._stream(request, rid, question, created)
            view = await self._until_done(request, rid)
            try:
                text = answer_of(view)
            except OpenAIError as exc:
                return exc.response()
            return web.json_response(completion(rid.hex(), created, text, question))
        finally:
            self._cancel_if_running(rid)

    def _checked(self, data: dict[str, Any]) -> tuple[str, bool]:
        model = data.get("model")
        if not isinstance(model, str):
            raise _bad("'model' is required: use \"council\"", "model", "missing_required")
        if model != MODEL:
            raise _unknown_model(model)
        stream = data.get("stream", False)
        if not isinstance(stream, bool):
            raise _bad("'stream' must be true or false", "stream")
        n = data.get("n", 1)
        if n != 1:
            raise _bad("the council gives one answer: 'n' must be 1", "n")
        return question_from(data.get("messages")), stream

    async def _start(self, question: str, data: dict[str, Any]) -> bytes:
        names = data.get("participants")
        space = data.get("space", "default")
        try:
            if names is None:
                peers = [c.identity for c in self.book.list() if c.state.value == "paired"]
            elif isinstance(names, list) and all(isinstance(n, str) for n in names):
                peers = [self.book.find(n).identity for n in names]
            else:
                raise _bad("'participants' must be a list of contact names", "participants")
            if not isinstance(space, str):
                raise _bad("'space' must be the name of a memory space", "space")
            times = times_from(data.get("times"))
            return await self.rounds.ask_with_context(question, peers, times, space)
        except GatewayError as exc:
            raise OpenAIError(400, str(exc), kind="invalid_request_error", code=exc.code) from exc

    async def _until_done(self, request: web.Request, rid: bytes) -> dict[str, Any]:
        """The round's last view; ConnectionResetError if the client hangs up first (aiohttp
        does not cancel a handler when its client goes away, so this looks every second)."""
        views = self.rounds.follow(rid)
        view: dict[str, Any] = {}
        try:
            while True:
                step = asyncio.ensure_future(anext(views))
                while not step.done():
                    await asyncio.wait({step}, timeout=HANGUP_CHECK)
                    transport = request.transport
                    if not step.done() and (transport is None or transport.is_closing()):
                        step.cancel()
                        raise ConnectionResetError("the client went away")
                try:
                    view = step.result()
                except StopAsyncIteration:
                    return view
        finally:
            await views.aclose()

    async def _stream(
        self, request: web.Request, rid: bytes, question: str, created: int
    ) -> web.StreamResponse:
        response = web.StreamResponse(
            headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
        )
        await response.prepare(request)
        ident = rid.hex()
        await response.write(chunk(ident, created, {"role": "assistant", "content": ""}))
        view: dict[str, Any] = {}
        shown = ""
        async for view in self.rounds.follow(rid):
            note = progress_note(view)
            if note != shown and view.get("status") == "running":
                shown = note
                progress = {"round_id": ident, "stage": view.get("stage")}
                await response.write(
                    chunk(ident, created, {"reasoning_content": note}, gateway=progress)
                )
        try:
            text = answer_of(view)
        except OpenAIError as exc:
            error = {"message": exc.message, "type": exc.kind, "param": None, "code": exc.code}
            await response.write(b"data: " + json.dumps({"error": error}).encode() + b"\n\n")
        else:
            await response.write(chunk(ident, created, {"content": text}))
            await response.write(chunk(ident, created, {}, "stop"))
        await response.write(b"data: [DONE]\n\n")
        await response.write_eof()
        return response

    def _cancel_if_running(self, rid: bytes) -> None:
        """The client went away (or the request failed) before the round ended: end it."""
        if rid in self.rounds.askers:
            with contextlib.suppress(RoundError):
                self.rounds.cancel(rid)


def _unknown_model(name: str) -> OpenAIError:
    return OpenAIError(
        404,
        f"the model {name!r} does not exist: this node serves one model, {MODEL!r}",
        kind="invalid_request_error",
        code="model_not_found",
        param="model",
    )


async def _body(request: web.Request) -> dict[str, Any]:
    try:
        data = await read_json(request)
    except ValueError:
        raise _bad("the body must be a JSON object", None, "bad_request") from None
    if not isinstance(data, dict):
        raise _bad("the body must be a JSON object", None, "bad_request")
    return data
