"""The OpenAI-compatible endpoint, driven by the real ``openai`` client over a real socket.

A council of three in-process nodes (real RoundsService, scripted AIs, fake links and a fake
clock) sits behind the local API on 127.0.0.1; ``openai.AsyncOpenAI`` talks to it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
import openai
import pytest
from aiohttp.test_utils import TestServer

from gateway.api.openai_compat import MODEL, OpenAIRoutes, question_from
from gateway.api.server import LocalApi
from gateway.contacts.book import ContactState
from tests.unit.api.test_rounds_routes import FakeBook, FakeContact
from tests.unit.node.test_rounds import Council, make_council, scripted

__all__ = ["make_council"]  # the fixture, imported for this module's tests

TOKEN = "openai-token"
QUESTION = "Compute 6 * 7. Reply with the integer."
TIMES = {"answer": 2, "reveal": 1, "review": 2, "synthesis": 2}


@dataclass
class Served:
    council: Council
    url: str
    client: openai.AsyncOpenAI


@pytest.fixture
async def served(make_council: Callable[..., Council]) -> AsyncIterator[Served]:
    council = make_council([scripted(seed=i) for i in range(3)])
    book = FakeBook(
        [
            FakeContact(council.pub(1), "bob", ContactState.PAIRED),
            FakeContact(council.pub(2), "carol", ContactState.PAIRED),
        ]
    )
    routes = OpenAIRoutes(council.nodes[0], book)  # type: ignore[arg-type]
    api = LocalApi(object(), object(), dict, routes=[routes])  # type: ignore[arg-type]
    clock = asyncio.get_running_loop().create_task(_tick(council))
    async with TestServer(api.app(TOKEN), host="127.0.0.1") as server:
        url = str(server.make_url("/v1"))
        client = openai.AsyncOpenAI(base_url=url, api_key=TOKEN, max_retries=0, timeout=30)
        yield Served(council, url, client)
        await client.close()
    clock.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await clock


async def _tick(council: Council) -> None:
    """The rounds' fake clock runs 50x faster than real time."""
    while True:
        await asyncio.sleep(0.005)
        council.clock.now += 0.25


def asked(served: Served) -> dict[str, Any]:
    (view,) = served.council.nodes[0].store.list(10)
    return dict(served.council.nodes[0].view(bytes.fromhex(view["round_id"])))


async def test_models_lists_the_council(served: Served) -> None:
    models = await served.client.models.list()
    assert [m.id for m in models.data] == [MODEL]
    assert (await served.client.models.retrieve(MODEL)).owned_by == "gateway"
    with pytest.raises(openai.NotFoundError):
        await served.client.models.retrieve("gpt-4o")


async def test_a_chat_completion_is_the_rounds_synthesis(served: Served) -> None:
    reply = await served.client.chat.completions.create(
        model=MODEL,
        messages=[
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Hello?"},
            {"role": "assistant", "content": "Hello. Ask away."},
            {"role": "user", "content": QUESTION},
        ],
        extra_body={"times": TIMES},
    )
    view = asked(served)
    assert view["status"] in ("ok", "fallback")
    assert reply.choices[0].message.content == view["result"]["text"]
    assert reply.choices[0].finish_reason == "stop" and reply.model == MODEL
    assert reply.id == f"chatcmpl-{view['round_id']}"
    # the conversation went along as context; the question is the last user message
    assert view["question"].endswith(QUESTION) and "assistant: Hello. Ask away." in view["question"]
    assert {p["id"] for p in view["participants"]} >= {served.council.pub(1).hex()}


async def test_streaming_shows_each_stage_then_the_answer(served: Served) -> None:
    stream = await served.client.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": QUESTION}],
        stream=True,
        extra_body={"times": TIMES},
    )
    chunks = [c async for c in stream]
    deltas = [c.choices[0].delta for c in chunks]
    assert deltas[0].role == "assistant"
    thinking = [d.model_extra.get("reasoning_content") for d in deltas if d.model_extra]
    notes = [t for t in thinking if t]
    assert len(notes) >= 3 and all(n.startswith("council: stage") for n in notes)
    stages = [c.model_extra["gateway"]["stage"] for c in chunks if c.model_extra.get("gateway")]
    assert stages[0] == "commit" and "synthesis" in stages
    text = "".join(d.content or "" for d in deltas)
    assert text == asked(served)["result"]["text"] and text
    assert chunks[-1].choices[0].finish_reason == "stop"


USER = [{"role": "user", "content": "x"}]


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"messages": USER}, "model"),
        ({"model": MODEL}, "messages"),
        ({"model": MODEL, "messages": []}, "messages"),
        ({"model": MODEL, "messages": [{"role": "wizard", "content": "x"}]}, "messages"),
        ({"model": MODEL, "messages": [{"role": "system", "content": "only me"}]}, "messages"),
        ({"model": MODEL, "messages": [{"role": "user", "content": [{"type": "image"}]}]},
         "messages"),
        ({"model": MODEL, "messages": USER, "n": 2}, "n"),
        ({"model": MODEL, "messages": USER, "stream": "yes"}, "stream"),
        ({"model": MODEL, "messages": USER, "participants": ["zed"]}, None),
        ({"model": MODEL, "messages": [{"role": "user", "content": "x" * 40_000}]}, "messages"),
    ],
)  # fmt: skip
async def test_bad_requests_get_openai_shaped_400s(
    served: Served, body: dict[str, Any], param: str | None
) -> None:
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            served.url + "/chat/completions",
            json=body,
            headers={"Authorization": f"Bearer {TOKEN}"},
        ) as resp,
    ):
        assert resp.status == 400
        error = (await resp.json())["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["type"] == "invalid_request_error" and error["param"] == param and error["message"]
    assert served.council.nodes[0].store.list(10) == []  # no round was started


async def test_the_openai_client_raises_its_own_errors(served: Served) -> None:
    with pytest.raises(openai.NotFoundError) as missing:
        await served.client.chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": "x"}]
        )
    assert missing.value.code == "model_not_found"
    with pytest.raises(openai.BadRequestError):
        await served.client.chat.completions.create(model=MODEL, messages=[])
    anonymous = openai.AsyncOpenAI(base_url=served.url, api_key="wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        await anonymous.models.list()
    await anonymous.close()


async def test_the_token_is_required_on_every_route(served: Served) -> None:
    async with aiohttp.ClientSession() as http:
        for method, path in (("GET", "/models"), ("GET", "/models/council"),
                             ("POST", "/chat/completions")):  # fmt: skip
            async with http.request(method, served.url + path, json={}) as resp:
                assert resp.status == 401, path


async def test_a_client_that_hangs_up_cancels_the_round(served: Served) -> None:
    body = {"model": MODEL, "messages": [{"role": "user", "content": QUESTION}], "stream": True,
            "times": {"answer": 300, "reveal": 300, "review": 300, "synthesis": 300}}  # fmt: skip
    async with aiohttp.ClientSession() as http, http.post(
        served.url + "/chat/completions", json=body,
        headers={"Authorization": f"Bearer {TOKEN}"},
    ) as resp:  # fmt: skip
        first = await resp.content.readline()
        assert json.loads(first.removeprefix(b"data: "))["choices"][0]["delta"]["role"]
    for _ in range(200):
        if asked(served)["status"] == "cancelled":
            break
        await asyncio.sleep(0.01)
    view = asked(served)
    assert view["status"] == "cancelled" and not served.council.nodes[0].askers


def test_the_question_keeps_the_newest_context_within_the_rounds_limit() -> None:
    long = [{"role": "user", "content": "old " * 5000}, {"role": "assistant", "content": "ok"}]
    question = question_from([*long, {"role": "user", "content": "now?"}])
    assert question.endswith("The question now:\nnow?") and "assistant: ok" in question
    assert len(question.encode()) < 26 * 1024
    text = [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]
    parts = [{"role": "user", "content": text}]
    assert question_from(parts) == "a\nb"


def test_the_lazy_mount_serves_every_route_of_the_module() -> None:
    """gateway.api.openai_mount lists the routes without loading openai_compat: the same."""
    from gateway.api.openai_compat import OpenAIRoutes
    from gateway.api.openai_mount import ROUTES

    routes = OpenAIRoutes(None, None).routes()  # type: ignore[arg-type]
    assert [(method, path) for method, path, _ in routes] == list(ROUTES)
