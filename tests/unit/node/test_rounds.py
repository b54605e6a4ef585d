"""RoundsService: convergence rounds among several nodes in one event loop over fake links."""

from __future__ import annotations

import asyncio
import dataclasses
import os
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from gateway.converge.adapters.base import Adapter
from gateway.converge.adapters.config import AIConfig, AnswererConfig, RateLimit
from gateway.converge.adapters.scripted import ScriptedAdapter, ScriptedFault
from gateway.converge.envelope import TO_ASKER, TO_PARTICIPANT, wrap
from gateway.converge.messages import public_bytes
from gateway.converge.round import StageTimes
from gateway.errors import LinkError, RoundError
from gateway.node import rounds as rounds_mod
from gateway.node.memops import MemoryService
from gateway.node.rounds import CHANNEL, RESULT_TOPIC, RoundsService
from gateway.node.roundstore import RoundStore
from gateway.storage.db import apply_migrations, open_db
from tests.unit.node.memnet import Net, make_node

QUESTION = "Compute 6 * 7. Reply with the integer."
TIMES = StageTimes(answer=2, reveal=1, review=2, synthesis=2)
START = 1_700_000_000.0
STAGES = ["commit", "reveal", "review", "synthesis"]


class Clock:
    """A fake wall clock (seconds), shared by every node of a test."""

    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> float:
        return self.now


@dataclass
class Wire:
    """Fake links: ``send`` delivers to the other node's handler on the loop, sender recorded."""

    services: dict[bytes, RoundsService] = field(default_factory=dict)
    sent: list[tuple[bytes, bytes, bytes]] = field(default_factory=list)
    down: set[bytes] = field(default_factory=set)

    def links(self, me: bytes) -> FakeLinks:
        return FakeLinks(self, me)


@dataclass
class FakeLinks:
    wire: Wire
    me: bytes

    def send(self, contact: bytes, channel: str, body: bytes) -> bytes:
        assert channel == CHANNEL
        if contact in self.wire.down:
            raise LinkError("not a contact")
        self.wire.sent.append((self.me, contact, body))
        other = self.wire.services.get(contact)
        if other is not None:
            asyncio.get_running_loop().call_soon(other.handler, self.me, body)
        return os.urandom(16)


class GatedAdapter(Adapter):
    """Answers only once ``gate`` is set."""

    def __init__(self) -> None:
        super().__init__("gated", timeout=60)
        self.gate = asyncio.Event()
        self.calls = 0

    async def _complete(self, prompt: str) -> str:
        self.calls += 1
        await self.gate.wait()
        return "ANSWER: 42"


@dataclass
class Council:
    wire: Wire
    clock: Clock
    nodes: list[RoundsService]
    memories: list[MemoryService]
    tasks: list[asyncio.Task[None]]

    def pub(self, i: int) -> bytes:
        return self.nodes[i].me

    async def settle(self) -> None:
        for _ in range(60):
            await asyncio.sleep(0)

    async def run_until(self, done: Callable[[], bool], step: float = 0.25) -> None:
        """Let messages and AI calls run, moving the clock by ``step`` each round."""
        for _ in range(200):
            await asyncio.sleep(0.005)
            if done():
                return
            self.clock.now += step
        raise AssertionError("the rounds did not finish")


NAMES = ["alice", "bob", "carol", "dave", "erin", "frank"]


def ai_config(concurrent: int = 4) -> AIConfig:
    return AIConfig(answerer=AnswererConfig(rate_limit=RateLimit(100, 60.0, concurrent)))


@pytest.fixture
async def make_council(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Callable[..., Council]]:
    monkeypatch.setattr(rounds_mod, "TICK", 0.002)
    made: list[Council] = []
    dbs: list[Any] = []

    def build(adapters: list[Adapter | None], *, ai: AIConfig | None = None) -> Council:
        wire, clock, net = Wire(), Clock(), Net()
        nodes, memories, nick = [], [], {}
        for i, adapter in enumerate(adapters):
            folder = tmp_path / f"c{len(made)}" / f"n{i}"
            node = make_node(net, folder, 100 + i)
            memory = MemoryService(node.store, node.key, node.sync)
            db = open_db(folder / "node.db")
            dbs.append(db)
            apply_migrations(db)
            me = public_bytes(node.key)
            nick[me] = NAMES[i]
            svc = RoundsService(
                node.key, wire.links(me), RoundStore(db), memory, ai or ai_config(), adapter,
                names=nick.get, clock=clock,
            )  # fmt: skip
            wire.services[me] = svc
            nodes.append(svc)
            memories.append(memory)
        tasks = [asyncio.get_running_loop().create_task(n.run()) for n in nodes]
        council = Council(wire, clock, nodes, memories, tasks)
        made.append(council)
        return council

    yield build
    for council in made:
        for svc, task in zip(council.nodes, council.tasks, strict=True):
            task.cancel()
            await svc.close()
        await asyncio.gather(*council.tasks, return_exceptions=True)
    for db in dbs:
        db.close()


def scripted(fault: ScriptedFault = ScriptedFault.NONE, seed: int = 0) -> ScriptedAdapter:
    return ScriptedAdapter(f"s{seed}", seed=seed, fault=fault, timeout=0.05)


def finished(svc: RoundsService, rid: bytes) -> bool:
    return svc.view(rid)["status"] != "running"


# --- a full round ---------------------------------------------------------------------------


async def test_a_full_round_completes_everywhere(make_council: Callable[..., Council]) -> None:
    c = make_council([scripted(seed=i) for i in range(4)])
    asker = c.nodes[0]
    rid = asker.ask(QUESTION, [c.pub(1), c.pub(2), c.pub(3)], TIMES)
    await c.run_until(lambda: all(finished(n, rid) for n in c.nodes))

    view = asker.view(rid)
    assert view["role"] == "asker" and view["status"] == "ok", view
    assert view["question"] == QUESTION and view["asker"] == asker.me.hex()
    assert {p["id"] for p in view["participants"]} == {n.me.hex() for n in c.nodes}
    assert [s["stage"] for s in view["stages"]] == [*STAGES, "done"]
    assert view["faults"] == []
    # per-peer progress: what each remote participant sent to the asker
    for i in (1, 2, 3):
        sent = view["peers"][c.pub(i).hex()]
        assert sent[:3] == ["commit", "reveal", "ranking"] and sent[3:] in ([], ["synthesis"])

    result = view["result"]
    assert result["status"] == "ok" and "42" in result["text"]
    assert result["chair"] in {n.me.hex() for n in c.nodes}
    ranked = result["ranked"]
    assert len(ranked) == 4
    assert {r["author"]["id"] for r in ranked} == {n.me.hex() for n in c.nodes}
    assert all(r["answer"] == "ANSWER: 42" for r in ranked)
    assert [r["commitment"] for r in ranked] == result["cited"]

    for n in c.nodes[1:]:
        pview = n.view(rid)
        assert pview["role"] == "participant" and pview["status"] == "ok"
        assert pview["question"] == QUESTION and pview["asker"] == asker.me.hex()
        assert pview["result"]["text"] == result["text"]
        assert [r["commitment"] for r in pview["result"]["ranked"]] == result["cited"]
        # a participant's view names every ranked answer's author and text, as the asker's
        # does (`rounds show` on a participant listed them as '?:' with no text)
        assert [(r["author"]["id"], r["answer"]) for r in pview["result"]["ranked"]] == [
            (r["author"]["id"], r["answer"]) for r in ranked
        ]
        assert pview["ai"] and {a["task"] for a in pview["ai"]} >= {"answer", "review"}


async def test_the_result_is_stored_in_the_askers_memory(
    make_council: Callable[..., Council],
) -> None:
    c = make_council([scripted(seed=i) for i in range(3)])
    rid = c.nodes[0].ask(QUESTION, [c.pub(1), c.pub(2)], TIMES)
    await c.run_until(lambda: all(finished(n, rid) for n in c.nodes))
    view = c.nodes[0].view(rid)
    entry = c.memories[0].get(bytes.fromhex(view["memory_entry"]))
    assert entry["topic"] == RESULT_TOPIC and entry["tags"] == ["round"]
    assert entry["body"] == view["result"]["text"]
    meta = entry["metadata"]
    assert meta["round_id"] == rid.hex() and meta["status"] == "ok"
    assert meta["question"] == QUESTION and meta["cited"] == view["result"]["cited"]
    # participants do not write the result themselves (memory sync brings it)
    for n in (1, 2):
        assert "memory_entry" not in c.nodes[n].view(rid)
        assert c.memories[n].recent() == []


async def test_views_are_saved_and_outlive_the_machines(
    make_council: Callable[..., Council],
) -> None:
    c = make_council([scripted(seed=i) for i in range(3)])
    rid = c.nodes[0].ask(QUESTION, [c.pub(1), c.pub(2)], TIMES)
    await c.run_until(lambda: all(finished(n, rid) for n in c.nodes))
    await c.run_until(lambda: all(not n.askers and not n.participants for n in c.nodes))
    for n in c.nodes:
        assert rid not in n.views and rid not in n.participants and rid not in n.askers
        stored = n.store.get(rid)
        assert stored["status"] == "ok" and stored["result"]["text"]
        assert n.view(rid) == stored
    assert c.nodes[0].store.list()[0]["round_id"] == rid.hex()


async def test_an_asker_without_ai_runs_a_round_among_its_contacts(
    make_council: Callable[..., Council],
) -> None:
    c = make_council([None, scripted(seed=1), scripted(seed=2)])
    rid = c.nodes[0].ask(QUESTION, [c.pub(1), c.pub(2)], TIMES)
    view = c.nodes[0].view(rid)
    assert {p["id"] for p in view["participants"]} == {c.pub(1).hex(), c.pub(2).hex()}
    await c.run_until(lambda: all(finished(n, rid) for n in c.nodes))
    assert c.nodes[0].view(rid)["status"] == "ok"
    assert len(c.nodes[0].view(rid)["result"]["ranked"]) == 2


async def test_ask_without_participants_or_ai_is_refused(
    make_council: Callable[..., Council],
) -> None:
    c = make_council([None])
    with pytest.raises(RoundError, match="participants"):
        c.nodes[0].ask(QUESTION, [], TIMES)
    assert c.nodes[0].askers == {}


async def test_ask_with_a_bad_question_is_a_round_error(
    make_council: Callable[..., Council],
) -> None:
    c = make_council([scripted()])
    with pytest.raises(RoundError):
        c.nodes[0].ask("   ", [], TIMES)


# --- faults ---------------------------------------------------------------------------------


async def test_faulty_peers_are_recorded_and_the_round_completes(
    make_council: Callable[..., Council],
) -> None:
    faults = [ScriptedFault.TIMEOUT, ScriptedFault.GARBAGE, ScriptedFault.EQUIVOCATE]
    c = make_council(
        [scripted(seed=0), scripted(seed=1), scripted(seed=2)]
        + [scripted(f, seed=3 + i) for i, f in enumerate(faults)]
    )
    asker = c.nodes[0]
    rid = asker.ask(QUESTION, [c.pub(i) for i in range(1, 6)], TIMES)
    await c.run_until(lambda: all(finished(c.nodes[i], rid) for i in range(3)))

    view = asker.view(rid)
    assert view["status"] in ("ok", "fallback"), view
    by_peer: dict[str, set[str]] = {}
    for f in view["faults"]:
        by_peer.setdefault(f["peer"], set()).add(f["kind"])
    assert "timeout" in by_peer[c.pub(3).hex()]
    assert "garbage" in by_peer[c.pub(4).hex()]
    assert "equivocation" in by_peer[c.pub(5).hex()]
    assert not {c.pub(i).hex() for i in range(3)} & set(by_peer)
    assert "garbage" in view["peers"][c.pub(4).hex()]
    ranked = view["result"]["ranked"]
    assert {r["author"]["id"] for r in ranked} == {c.pub(i).hex() for i in range(3)}
    assert {f["kind"] for f in view["result"]["faults"]} >= {"timeout", "garbage", "equivocation"}
    for i in (1, 2):
        assert c.nodes[i].view(rid)["result"]["text"] == view["result"]["text"]


async def test_a_failing_link_does_not_stop_the_round(make_council: Callable[..., Council]) -> None:
    c = make_council([scripted(seed=0), scripted(seed=1), scripted(seed=2)])
    c.wire.down.add(c.pub(2))
    rid = c.nodes[0].ask(QUESTION, [c.pub(1), c.pub(2)], TIMES)
    await c.run_until(lambda: finished(c.nodes[0], rid) and finished(c.nodes[1], rid))
    view = c.nodes[0].view(rid)
    assert view["status"] in ("ok", "fallback")
    assert {(f["peer"], f["kind"]) for f in view["faults"]} >= {(c.pub(2).hex(), "timeout")}


# --- refusing rounds ------------------------------------------------------------------------


async def test_a_node_without_ai_refuses_rounds(make_council: Callable[..., Council]) -> None:
    c = make_council([scripted(seed=0), None])
    rid = c.nodes[0].ask(QUESTION, [c.pub(1)], TIMES)
    await c.run_until(lambda: finished(c.nodes[0], rid))
    await c.settle()  # the final is still on its way
    to_b = [body for _, to, body in c.wire.sent if to == c.pub(1)]
    assert len(to_b) >= 3  # the round, the commits bundle, the final
    assert c.nodes[1].counters["refused_no_ai"] == len(to_b)
    assert c.nodes[1].participants == {} and rid not in c.nodes[1].views
    view = c.nodes[0].view(rid)
    assert (c.pub(1).hex(), "timeout") in {(f["peer"], f["kind"]) for f in view["faults"]}


async def test_the_rate_limit_refuses_a_second_concurrent_round(
    make_council: Callable[..., Council],
) -> None:
    c = make_council([None, None, scripted(seed=2)], ai=ai_config(concurrent=1))
    first = c.nodes[0].ask(QUESTION, [c.pub(2)], TIMES)
    second = c.nodes[1].ask(QUESTION, [c.pub(2)], TIMES)
    await c.run_until(lambda: finished(c.nodes[0], first) and finished(c.nodes[1], second))
    answerer = c.nodes[2]
    assert answerer.counters["refused_rate_limited"] == 1
    assert c.nodes[0].view(first)["status"] == "ok"
    assert c.nodes[1].view(second)["status"] == "no_answers"
    # the busy answerer declined at once (a signed ABSTAIN), so the asker did not wait for
    # the commit deadline: a busy contact costs a round no time
    assert answerer.counters["declined_rounds"] == 1, answerer.counters
    faults = c.nodes[1].view(second)["faults"]
    assert [(f["kind"], f["stage"]) for f in faults] == [("abstained", "commit")]
    assert "rate limit" in faults[0]["detail"]
    # the slot is given back when the round ends: the next round is answered
    third = c.nodes[1].ask(QUESTION, [c.pub(2)], TIMES)
    await c.run_until(lambda: finished(c.nodes[1], third))
    assert c.nodes[1].view(third)["status"] == "ok"
    assert answerer.counters["refused_rate_limited"] == 1


async def test_own_rounds_do_not_count_against_the_rate_limit(
    make_council: Callable[..., Council],
) -> None:
    c = make_council([scripted(seed=0), None], ai=ai_config(concurrent=1))
    a = c.nodes[0].ask(QUESTION, [], TIMES)
    b = c.nodes[0].ask(QUESTION + " ", [], TIMES)
    await c.run_until(lambda: finished(c.nodes[0], a) and finished(c.nodes[0], b))
    assert c.nodes[0].counters["refused_rate_limited"] == 0
    assert c.nodes[0].view(a)["status"] == c.nodes[0].view(b)["status"] == "ok"


# --- bad input on the channel ---------------------------------------------------------------


async def test_malformed_envelopes_are_counted(make_council: Callable[..., Council]) -> None:
    c = make_council([scripted(seed=0), scripted(seed=1)])
    svc = c.nodes[0]
    for body in (b"", b"\x05" + bytes(40), b"\x01" + bytes(32)):
        svc.handler(c.pub(1), body)
    assert svc.counters["malformed_envelope"] == 3
    assert svc.participants == {} and svc.views == {}


async def test_unknown_round_ids_for_the_asker_are_counted(
    make_council: Callable[..., Council],
) -> None:
    c = make_council([scripted(seed=0), scripted(seed=1)])
    svc = c.nodes[0]
    svc.handler(c.pub(1), wrap(TO_ASKER, os.urandom(32), b"{}"))
    assert svc.counters["unknown_round"] == 1
    assert svc.views == {}


async def test_a_bogus_round_does_not_hold_a_rate_limit_slot(
    make_council: Callable[..., Council],
) -> None:
    c = make_council([None, scripted(seed=1)], ai=ai_config(concurrent=1))
    answerer = c.nodes[1]
    for _ in range(3):
        answerer.handler(c.pub(0), wrap(TO_PARTICIPANT, os.urandom(32), b"not a round"))
    assert answerer.participants == {} and answerer.views == {}
    assert answerer.counters["refused_rate_limited"] == 0
    rid = c.nodes[0].ask(QUESTION, [c.pub(1)], TIMES)
    await c.run_until(lambda: finished(c.nodes[0], rid))
    assert c.nodes[0].view(rid)["status"] == "ok"


async def test_messages_from_non_participants_are_refused(
    make_council: Callable[..., Council],
) -> None:
    c = make_council([scripted(seed=0), scripted(seed=1), scripted(seed=2)])
    rid = c.nodes[0].ask(QUESTION, [c.pub(1)], TIMES)
    c.nodes[0].handler(c.pub(2), wrap(TO_ASKER, rid, b"{}"))
    assert c.nodes[0].counters["refused_messages"] == 1
    await c.run_until(lambda: finished(c.nodes[0], rid))
    assert c.nodes[0].view(rid)["status"] == "ok"
    # and the round's view shows no progress for the outsider
    assert c.pub(2).hex() not in c.nodes[0].view(rid)["peers"]
    assert c.pub(1).hex() in c.nodes[0].view(rid)["peers"]


# --- AI calls that outlive their round ------------------------------------------------------


async def test_an_ai_answer_after_the_round_ended_is_dropped(
    make_council: Callable[..., Council],
) -> None:
    slow = GatedAdapter()
    c = make_council([None, slow])
    rid = c.nodes[0].ask(QUESTION, [c.pub(1)], TIMES)
    await c.run_until(lambda: finished(c.nodes[0], rid) and finished(c.nodes[1], rid))
    assert c.nodes[0].view(rid)["status"] == "no_answers"
    await c.run_until(lambda: not c.nodes[1].participants)
    pending = list(c.nodes[1]._tasks)
    assert len(pending) == 1 and slow.calls == 1
    slow.gate.set()
    results = await asyncio.gather(*pending, return_exceptions=True)
    assert results == [None]
    assert c.nodes[1].store.get(rid)["status"] == "no_answers"


async def test_an_answer_only_node_answers_but_does_not_ask(
    make_council: Callable[..., Council],
) -> None:
    answer_only = dataclasses.replace(
        ai_config(), answerer=dataclasses.replace(ai_config().answerer, enabled=True)
    )
    c = make_council([scripted(seed=0), scripted(seed=1)], ai=answer_only)
    with pytest.raises(RoundError, match="only answers"):
        c.nodes[0].ask(QUESTION, [c.pub(1)], TIMES)


async def test_a_question_over_the_answerers_limit_is_refused(
    make_council: Callable[..., Council],
) -> None:
    short = dataclasses.replace(
        ai_config(), answerer=dataclasses.replace(ai_config().answerer, max_question_bytes=10)
    )
    c = make_council([scripted(seed=0), scripted(seed=1)], ai=short)
    rid = c.nodes[0].ask(QUESTION, [c.pub(1)], TIMES)  # our own AI answers anyway
    await c.run_until(lambda: finished(c.nodes[0], rid))
    assert c.nodes[1].counters["refused_question_too_long"] >= 1
    assert rid not in c.nodes[1].views and c.nodes[1].participants == {}
    view = c.nodes[0].view(rid)
    assert (c.pub(1).hex(), "timeout") in {(f["peer"], f["kind"]) for f in view["faults"]}


async def test_finished_rounds_we_asked_are_reported_once(
    make_council: Callable[..., Council],
) -> None:
    c = make_council([scripted(seed=0), scripted(seed=1)])
    reported: list[dict[str, Any]] = []
    c.nodes[0].on_finished = reported.append
    c.nodes[1].on_finished = reported.append  # it only answers: nothing to report
    rid = c.nodes[0].ask(QUESTION, [c.pub(1)], TIMES)
    await c.run_until(lambda: finished(c.nodes[0], rid) and rid not in c.nodes[0].askers)
    await c.settle()
    assert [v["round_id"] for v in reported] == [rid.hex()]
    assert reported[0]["stages"][-1]["stage"] == "done"
