"""Convergence rounds on the links (asyncio): asking, answering, progress and the result.

The sans-I/O machines (:class:`~gateway.converge.asker.Asker`,
:class:`~gateway.converge.participant.Participant`) run here: their messages go
over the ``converge`` channel through the durable outbox (so a link that flaps
loses nothing), AI requests run on this node's adapter, and every stage change,
fault and result updates the round's view in the node database. The asker
stores the signed result as a memory entry in the round's space, from where
memory sync brings it to every participant.

The round machinery of :mod:`gateway.converge` (all but the AI config and the limits) is
imported with the first round this node asks or is asked to join: an idle node carries none.
"""

from __future__ import annotations

import asyncio
import collections
import copy
import logging
import random
import time
from collections import Counter
from collections.abc import AsyncGenerator, Callable
from typing import TYPE_CHECKING, Any, Protocol

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gateway.converge.adapters.base import Adapter
from gateway.converge.adapters.config import AIConfig
from gateway.converge.context import ContextItem, attach
from gateway.converge.context import split as split_context
from gateway.converge.ratelimit import RateLimiter
from gateway.errors import ConvergeMessageError, GatewayError, RoundError
from gateway.memory.ranking import Filters
from gateway.memory.spaces import DEFAULT_SPACE
from gateway.node.memops import MemoryService
from gateway.node.roundstore import RoundStore

if TYPE_CHECKING:
    from gateway.converge.adapters.faults import ScriptedFault
    from gateway.converge.asker import Asker
    from gateway.converge.core import AIRequest, FaultRecorded, Output, Send
    from gateway.converge.participant import Participant
    from gateway.converge.round import Round, StageTimes
    from gateway.converge.synthesis import Result

    Machine = Asker | Participant

log = logging.getLogger("gateway.converge")
#: how many declined rounds are remembered (to drop their later messages quietly)
MAX_DECLINED = 256

CHANNEL = "converge"
TICK = 0.5
RESULT_TOPIC = "convergence"


class Links(Protocol):
    """What rounds need of the link manager and the contact book."""

    def send(self, contact: bytes, channel: str, body: bytes) -> bytes: ...


class RoundsService:
    """Every round this node runs as asker or takes part in."""

    def __init__(
        self,
        key: Ed25519PrivateKey,
        links: Links,
        store: RoundStore,
        memory: MemoryService,
        ai: AIConfig,
        adapter: Adapter | None,
        *,
        names: Callable[[bytes], str | None] = lambda _: None,
        clock: Callable[[], float] = time.time,
        context: bool = False,
        context_entries: int = 5,
    ) -> None:
        self.key = key
        #: rounds carry memory context (memory.council_context) of this many entries a side
        self.context = context
        self.context_entries = context_entries
        self.me = key.public_key().public_bytes_raw()
        self.links = links
        self.store = store
        self.memory = memory
        self.ai = ai
        self.adapter = adapter
        self.names = names
        self.clock = clock
        self.counters: Counter[str] = Counter()
        #: called with the view of each round we asked, once it is over (for the metrics)
        self.on_finished: Callable[[dict[str, Any]], None] | None = None
        #: the ``k`` best-scored reachable of some contacts (the reputation, when wired)
        self.pick: Callable[[list[bytes], int], list[bytes]] | None = None
        self.askers: dict[bytes, Asker] = {}
        self.participants: dict[bytes, Participant] = {}
        self.views: dict[bytes, dict[str, Any]] = {}
        self._limiter = RateLimiter(ai.answerer.rate_limit)
        self._limited: set[bytes] = set()
        self._rng = random.Random()
        self._tasks: set[asyncio.Task[None]] = set()
        #: rounds this node declined (the newest MAX_DECLINED): their later messages are dropped
        self._declined: collections.OrderedDict[bytes, None] = collections.OrderedDict()
        #: followers of a round's view (:meth:`follow`): each gets every changed view
        self._followers: dict[bytes, set[asyncio.Queue[dict[str, Any]]]] = {}

    @property
    def _fault(self) -> ScriptedFault:
        """How this node misbehaves on the wire (only scripted adapters have fault modes)."""
        from gateway.converge.adapters.faults import ScriptedFault
        from gateway.converge.adapters.scripted import ScriptedAdapter

        adapter = self.adapter
        return adapter.fault if isinstance(adapter, ScriptedAdapter) else ScriptedFault.NONE

    # --- asking ------------------------------------------------------------------------

    def choose(self, participants: list[bytes], subset: int | None) -> list[bytes]:
        """``participants``; with ``subset``, the ``subset`` best-scored of them that have a
        link up now (docs/REPUTATION.md), fewer if fewer are up. It only chooses whom to
        ask: the round's own rules (its quorums) are the same for any choice."""
        if subset is None:
            return participants
        if subset < 1:
            raise RoundError("a subset of participants is at least 1")
        if self.pick is None:
            raise RoundError("this node keeps no reputation to pick participants by")
        chosen = self.pick([p for p in participants if p != self.me], subset)
        if not chosen:
            raise RoundError("no reachable contact to pick participants from")
        return chosen

    def ask(
        self,
        question: str,
        participants: list[bytes],
        times: StageTimes | None = None,
        space: str = DEFAULT_SPACE,
    ) -> bytes:
        """Start a round among ``participants`` (and us, if we have an AI); its id.

        The result is stored in memory ``space`` (which should be shared with exactly
        the participants: whoever shares it can read the result).
        """
        if self.ai.answerer.enabled:
            raise RoundError("this node only answers others' rounds (ai.answerer.enabled)")
        if self.memory.store.space(space) is None:
            raise RoundError(f"no memory space {space!r} for the result (see memory.spaces)")
        peers = sorted(set(participants) | ({self.me} if self.adapter else set()))
        if not peers:
            raise RoundError("a round needs participants: no contact, and no AI here")
        from gateway.converge.asker import Asker

        asker = Asker(self.key, question, peers, self.clock(), times=times)
        rid = asker.round.round_id
        self.askers[rid] = asker
        self.views[rid] = self._new_view(rid, "asker", question, asker.round.participants)
        self.views[rid]["space"] = space
        self._outputs(rid, asker, asker.start())
        return rid

    async def ask_with_context(
        self,
        question: str,
        participants: list[bytes],
        times: StageTimes | None = None,
        space: str = DEFAULT_SPACE,
        context: str | list[str] | None = None,
    ) -> bytes:
        """:meth:`ask`, the question carrying memory context: ``"auto"`` (the entries of
        ``space`` most relevant to it), ``"none"``, or a list of entry ids; None: ``auto``
        when memory.council_context is on, else ``none``. The round's view lists it."""
        choice = context if context is not None else ("auto" if self.context else "none")
        items: list[ContextItem] = []
        if choice == "auto":
            items = await self._relevant(question, Filters(space=space), "the asker")
        elif isinstance(choice, list):
            for text in choice:
                entry = self.memory.store.get(self.memory.resolve(text))
                if entry is None or entry.space != space:
                    raise RoundError(f"context entry {text[:16]} is not in space {space!r}")
                items.append(ContextItem("the asker", entry.id.hex(), entry.body))
        elif choice != "none":
            raise RoundError('context is "auto", "none" or a list of entry ids')
        rid = self.ask(attach(question, items), participants, times, space)
        self.views[rid]["question"] = question
        self.views[rid]["context"] = [
            {"source": i.source, "entry": i.entry_id, "text": i.text} for i in items
        ]
        return rid

    async def _relevant(self, question: str, filters: Filters, source: str) -> list[ContextItem]:
        """The live entries most relevant to ``question`` (hybrid search), as context."""
        _, hits = await self.memory.find(question, filters=filters, limit=self.context_entries)
        return [
            ContextItem(source, h.entry.id.hex(), h.entry.body)
            for h in hits
            if h.entry.topic != RESULT_TOPIC  # earlier council results are not evidence
        ]

    # --- the channel -------------------------------------------------------------------

    def handler(self, contact: bytes, body: bytes) -> None:
        """The ``converge`` channel handler (one envelope; answers go out via the outbox)."""
        from gateway.converge.envelope import unwrap

        try:
            direction, rid, data = unwrap(body)
        except ConvergeMessageError:
            self.counters["malformed_envelope"] += 1
            return
        self._deliver(contact, direction, rid, data)

    def _deliver(self, sender: bytes, direction: int, rid: bytes, data: bytes) -> None:
        from gateway.converge.envelope import TO_ASKER

        now = self.clock()
        if direction == TO_ASKER:
            asker = self.askers.get(rid)
            if asker is None:
                self.counters["unknown_round"] += 1
                return
            if sender in asker.round.participants:  # the machine refuses (and counts) others
                self._progress(rid, sender, data)
            self._outputs(rid, asker, asker.receive(sender, data, now))
            return
        participant = self.participants.get(rid)
        if participant is not None:
            self._outputs(rid, participant, participant.receive(sender, data, now))
            return
        if rid in self._declined:
            self.counters["declined_round_messages"] += 1
            return
        participant = self._join(sender, rid, data)
        if participant is None:
            return
        outputs = participant.receive(sender, data, now)
        if participant.round is None or participant.round.round_id != rid:
            self.counters["bad_round"] += 1  # not a ROUND, or for another round id
            self._drop(rid)
            return
        limit = self.ai.answerer.max_question_bytes
        if sender != self.me and len(participant.round.question.encode()) > limit:
            self.counters["refused_question_too_long"] += 1
            self._drop(rid)
            return
        self._outputs(rid, participant, outputs)

    def _drop(self, rid: bytes) -> None:
        """Forget a participant that never got a valid round (and give its slot back)."""
        self.participants.pop(rid, None)
        if rid not in self.askers:
            self.views.pop(rid, None)
        self._finish(rid)

    def _join(self, sender: bytes, rid: bytes, data: bytes) -> Participant | None:
        """A new round from ``sender``: take part if we have an AI and the limits allow."""
        if self.adapter is None:
            self.counters["refused_no_ai"] += 1
            return None
        if sender != self.me and rid in self.askers:
            self.counters["bad_round"] += 1  # another's round under the id of one of ours
            return None
        if sender != self.me:
            if not self._limiter.try_acquire(time.monotonic()):
                self.counters["refused_rate_limited"] += 1
                self._decline(sender, rid, data, "busy: this node's answerer rate limit is reached")
                return None
            self._limited.add(rid)
        from gateway.converge.participant import Participant

        participant = Participant(self.key)
        self.participants[rid] = participant
        if sender != self.me:  # our own rounds keep the asker's view
            self.views[rid] = self._new_view(rid, "participant", "", ())
        return participant

    def _decline(self, sender: bytes, rid: bytes, data: bytes, reason: str) -> None:
        """Tell the asker of a real round we will not take part (a signed ABSTAIN from the
        commit stage), so it need not wait for us until the stage's deadline."""
        from gateway.converge.abstain import make_abstain
        from gateway.converge.envelope import TO_ASKER, wrap
        from gateway.converge.round import Stage, parse_round

        try:
            rnd, _ = parse_round(data)
        except ConvergeMessageError:
            return  # not a round: nothing to decline
        if rnd.round_id != rid or rnd.asker != sender or self.me not in rnd.participants:
            return
        self._declined[rid] = None
        while len(self._declined) > MAX_DECLINED:
            self._declined.popitem(last=False)
        abstain = make_abstain(self.key, rid, Stage.COMMIT, reason)
        try:
            self.links.send(sender, CHANNEL, wrap(TO_ASKER, rid, abstain.raw))
            self.counters["declined_rounds"] += 1
        except GatewayError as exc:
            log.info("round %s: could not decline: %s", rid.hex()[:8], exc)

    # --- outputs -----------------------------------------------------------------------

    def _view_of(self, rid: bytes, machine: Machine) -> dict[str, Any] | None:
        """The view ``machine`` updates: none for our part in our own round (or once forgotten)."""
        from gateway.converge.participant import Participant

        if isinstance(machine, Participant) and rid in self.askers:
            return None
        if isinstance(machine, Participant) and machine.round and machine.round.asker == self.me:
            return None
        return self.views.get(rid)

    def _outputs(self, rid: bytes, machine: Machine, outputs: list[Output]) -> None:
        from gateway.converge.core import (
            AIRequest,
            FaultRecorded,
            Refused,
            RoundAborted,
            RoundCompleted,
            Send,
            StageChanged,
        )
        from gateway.converge.participant import Participant

        view = self._view_of(rid, machine)
        changed = False
        for out in outputs:
            if isinstance(out, Send):
                self._send(rid, machine, out)
            elif isinstance(out, AIRequest) and isinstance(machine, Participant):
                self._spawn(self._ask_ai(rid, machine, out))
            elif isinstance(out, Refused):
                self.counters["refused_messages"] += 1
            elif view is None:
                if isinstance(out, RoundCompleted | RoundAborted):
                    self._finish(rid)
            elif isinstance(out, StageChanged):
                view["stage"] = out.stage.value
                view["stages"].append({"stage": out.stage.value, "at": self.clock()})
                changed = True
            elif isinstance(out, FaultRecorded):
                view["faults"].append(self._fault_json(out))
                changed = True
            elif isinstance(out, RoundCompleted):
                self._completed(rid, view, machine, out.result)
                changed = True
            elif isinstance(out, RoundAborted):
                view["status"], view["error"] = "aborted", out.reason
                self._finish(rid)
                changed = True
        if view is None:
            return
        if isinstance(machine, Participant) and machine.round and not view["question"]:
            view["question"] = machine.round.question
            view["asker"] = machine.round.asker.hex()
            view["participants"] = [self._peer_json(p) for p in machine.round.participants]
            changed = True
        if changed:
            self._save(rid, view)

    def _send(self, rid: bytes, machine: Machine, out: Send) -> None:
        from gateway.converge.asker import Asker
        from gateway.converge.envelope import TO_ASKER, TO_PARTICIPANT, wrap
        from gateway.converge.misbehave import outgoing

        from_asker = isinstance(machine, Asker)
        direction = TO_PARTICIPANT if from_asker else TO_ASKER
        datas = [out.data] if from_asker else outgoing(self._fault, self.key, out.data, self._rng)
        for data in datas:
            if out.to == self.me:
                loop = asyncio.get_running_loop()
                loop.call_soon(self._deliver_safely, self.me, direction, rid, data)
                continue
            try:
                self.links.send(out.to, CHANNEL, wrap(direction, rid, data))
            except GatewayError as exc:
                log.info("round %s: could not queue a message: %s", rid.hex()[:8], exc)

    def _deliver_safely(self, sender: bytes, direction: int, rid: bytes, data: bytes) -> None:
        try:
            self._deliver(sender, direction, rid, data)
        except GatewayError as exc:
            log.warning("round %s: %s", rid.hex()[:8], exc)

    async def _ask_ai(self, rid: bytes, participant: Participant, req: AIRequest) -> None:
        assert self.adapter is not None
        from gateway.converge.core import AITask
        from gateway.converge.driver import fulfil

        started = self.clock()
        if req.task is AITask.ANSWER and self.context and participant.round is not None:
            req = await self._with_own_context(participant.round, req)
        outputs = await fulfil(participant, req, self.adapter, self.clock)
        view = self.views.get(rid)  # gone when the round ended while the AI was busy
        if view is not None:
            view["ai"].append({"task": req.task.value, "seconds": round(self.clock() - started, 3)})
        self._outputs(rid, participant, outputs)

    async def _with_own_context(self, rnd: Round, req: AIRequest) -> AIRequest:
        """The answer prompt with entries of ours that the asker may read (the spaces we
        share with it) added, marked as ours."""
        if rnd.asker == self.me:
            return req  # our own round: the asker's context is ours already
        _, question = split_context(rnd.question)
        items: list[ContextItem] = []
        try:
            for space in self.memory.store.spaces_for_peer(rnd.asker):
                items += await self._relevant(question, Filters(space=space), "your memory")
        except GatewayError as exc:
            log.info("round %s: no context of our own: %s", rnd.round_id.hex()[:8], exc)
        if not items:
            return req
        from gateway.converge.core import AIRequest
        from gateway.converge.round import answer_prompt

        lines = [i.line() for i in items[: self.context_entries]]
        return AIRequest(req.request_id, req.task, answer_prompt(rnd, lines))

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # --- results -----------------------------------------------------------------------

    def _completed(
        self, rid: bytes, view: dict[str, Any], machine: Machine, result: Result
    ) -> None:
        view["status"] = result.status.value
        view["result"] = self._result_json(machine, result)
        from gateway.converge.asker import Asker

        if isinstance(machine, Asker):
            try:
                entry = self.memory.put(
                    result.text or "(no answer)",
                    space=view.get("space", DEFAULT_SPACE),
                    topic=RESULT_TOPIC,
                    tags=["round"],
                    metadata=self._result_metadata(result),
                )
                view["memory_entry"] = entry.id.hex()
            except GatewayError as exc:
                view["memory_error"] = str(exc)
        self._finish(rid)

    def _result_json(self, machine: Machine, result: Result) -> dict[str, Any]:
        revealed = machine.revealed  # a participant saw the reveals too: answers, authors
        texts = revealed.by_commitment() if revealed else {}
        authors = {c: a for a, c in revealed.commitments.items()} if revealed else {}
        return {
            "text": result.text,
            "status": result.status.value,
            "chair": result.chair.hex() if result.chair else None,
            "cited": [c.hex() for c in result.cited],
            "ranked": [
                {
                    "commitment": s.commitment.hex(),
                    "points": s.points,
                    "ballots": s.ballots,
                    "answer": texts.get(s.commitment),
                    "author": self._peer_json(authors[s.commitment])
                    if s.commitment in authors
                    else None,
                }
                for s in result.scores
            ],
            "faults": [f.to_wire() for f in result.faults],
        }

    def _result_metadata(self, result: Result) -> dict[str, object]:
        return {
            "round_id": result.round_id.hex(),
            "question": result.question[:2000],
            "status": result.status.value,
            "chair": result.chair.hex() if result.chair else None,
            "cited": [c.hex() for c in result.cited],
            "scores": [[s.commitment.hex(), s.points, s.ballots] for s in result.scores],
        }

    def _finish(self, rid: bytes) -> None:
        if rid in self._limited:
            self._limited.discard(rid)
            self._limiter.release()

    # --- the loop ----------------------------------------------------------------------

    async def run(self) -> None:
        """Close stages at their deadlines; until cancelled."""
        while True:
            await asyncio.sleep(TICK)
            now = self.clock()
            machines: list[tuple[bytes, Machine]] = [*self.askers.items()]
            machines += self.participants.items()
            for rid, machine in machines:
                try:
                    self._outputs(rid, machine, machine.tick(now))
                except GatewayError as exc:
                    log.warning("round %s: %s", rid.hex()[:8], exc)
            self._forget_done()

    def _forget_done(self) -> None:
        """Drop finished machines (their views stay in the database)."""
        if not (self.askers or self.participants):
            return  # nothing to drop (and no round machinery to load)
        from gateway.converge.round import Stage

        for table in (self.askers, self.participants):
            done = [rid for rid, m in table.items() if m.stage is Stage.DONE]
            for rid in done:
                del table[rid]
                view = self.views.pop(rid, None)
                if view is not None and table is self.askers and self.on_finished is not None:
                    self.on_finished(view)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    # --- views -------------------------------------------------------------------------

    def _new_view(
        self, rid: bytes, role: str, question: str, participants: tuple[bytes, ...]
    ) -> dict[str, Any]:
        return {
            "round_id": rid.hex(),
            "role": role,
            "asker": self.me.hex() if role == "asker" else None,
            "question": question,
            "created": self.clock(),
            "participants": [self._peer_json(p) for p in participants],
            "stage": "commit" if role == "asker" else None,
            "stages": [],
            "status": "running",
            "peers": {},
            "faults": [],
            "ai": [],
            "result": None,
        }

    def _progress(self, rid: bytes, sender: bytes, data: bytes) -> None:
        from gateway.converge.messages import decode

        try:
            kind = decode(data).kind.value
        except ConvergeMessageError:
            kind = "garbage"
        self.views[rid]["peers"].setdefault(sender.hex(), []).append(kind)

    def _peer_json(self, peer: bytes) -> dict[str, Any]:
        return {"id": peer.hex(), "name": "(this node)" if peer == self.me else self.names(peer)}

    def _fault_json(self, out: FaultRecorded) -> dict[str, Any]:
        return {**out.fault.to_wire(), "name": self.names(out.fault.peer)}

    def _save(self, rid: bytes, view: dict[str, Any]) -> None:
        try:
            self.store.save(rid, view["role"], view["created"], view)
        except GatewayError as exc:
            log.warning("round %s: could not save its view: %s", rid.hex()[:8], exc)
        for queue in self._followers.get(rid, ()):
            queue.put_nowait(copy.deepcopy(view))

    async def follow(self, rid: bytes) -> AsyncGenerator[dict[str, Any], None]:
        """The round's view now, then each time it changes, until it is no longer running."""
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._followers.setdefault(rid, set()).add(queue)
        try:
            view = copy.deepcopy(self.view(rid))
            yield view
            while view.get("status") == "running":
                view = await queue.get()
                yield view
        finally:
            followers = self._followers.get(rid, set())
            followers.discard(queue)
            if not followers:
                self._followers.pop(rid, None)

    def cancel(self, rid: bytes) -> dict[str, Any]:
        """End a running round this node asked, on our side: no more stages, no result.

        Participants give up on their own when no more messages come (their deadlines).
        RoundError if the round is not ours or is over.
        """
        asker = self.askers.get(rid)
        view = self.views.get(rid)
        if asker is None or view is None or view.get("status") != "running":
            raise RoundError(f"round {rid.hex()[:16]} is not a running round this node asked")
        del self.askers[rid]
        self.views.pop(rid, None)
        view["status"], view["error"] = "cancelled", "cancelled by the asker"
        view["stages"].append({"stage": "cancelled", "at": self.clock()})
        self._finish(rid)
        self._save(rid, view)
        self.counters["rounds_cancelled"] += 1
        return view

    def view(self, rid: bytes) -> dict[str, Any]:
        """The live view of a round (or the saved one)."""
        return self.views.get(rid) or self.store.get(rid)
