"""A scripted AI: deterministic answers of a given accuracy, with fault modes.

It answers generated tasks (see :mod:`gateway.converge.tasks`) correctly with
probability ``accuracy``, reviews by agreement with what it believes, and as a
chair restates the top-ranked answer. The draw for a question depends only on
the seed and the question, so a run can be replayed.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
import re
from collections import Counter

from gateway.converge import context
from gateway.converge.adapters.base import DEFAULT_MAX_OUTPUT_BYTES, Adapter
from gateway.converge.adapters.faults import ScriptedFault as ScriptedFault
from gateway.converge.review import REVIEW_HEADER
from gateway.converge.round import QUESTION_MARK
from gateway.converge.synthesis import SYNTHESIS_HEADER
from gateway.converge.tasks import extract_answer, solve, wrong_answer
from gateway.errors import AdapterError, AdapterTimeoutError

_BLOCK_RE = re.compile(r"^--- (?:ANSWER|RANK) (.+?) ---\n(.*?)(?=^--- )", re.M | re.S)


class ScriptedAdapter(Adapter):
    """Deterministic answers with accuracy ``accuracy`` and an optional fault mode."""

    def __init__(
        self,
        name: str = "scripted",
        *,
        accuracy: float = 1.0,
        seed: int = 0,
        fault: ScriptedFault = ScriptedFault.NONE,
        timeout: float = 10.0,
        max_output_bytes: int = DEFAULT_MAX_OUTPUT_BYTES,
    ) -> None:
        super().__init__(name, timeout=timeout, max_output_bytes=max_output_bytes)
        if not 0.0 <= accuracy <= 1.0:
            raise AdapterError(f"accuracy must be in [0, 1], got {accuracy}", adapter=name)
        self.accuracy = accuracy
        self.seed = seed
        self.fault = fault
        self._calls = 0

    async def _complete(self, prompt: str) -> str:
        if self.fault is ScriptedFault.OFFLINE:
            raise AdapterError("offline", adapter=self.name)
        if self.fault is ScriptedFault.TIMEOUT:
            await asyncio.sleep(self.timeout * 2)  # the base class times out first
            raise AdapterTimeoutError("no answer", adapter=self.name)  # pragma: no cover
        return self.respond(prompt)

    def respond(self, prompt: str) -> str:
        """The answer to ``prompt`` without I/O (no fault except garbage/equivocate)."""
        self._calls += 1
        if self.fault is ScriptedFault.GARBAGE:
            rng = self._rng(prompt)
            return "".join(rng.choice("#%&*~^!") for _ in range(rng.randint(5, 40)))
        head = prompt.split("\n", 1)[0]
        if head == REVIEW_HEADER:
            return self._review(prompt)
        if head == SYNTHESIS_HEADER:
            return self._synthesize(prompt)
        return f"ANSWER: {self.answer(prompt)}"

    def answer(self, prompt: str) -> str:
        """What this AI answers to a prompt: a fact its context states (as a model reading
        its prompt would), else its :meth:`belief`."""
        _, question = context.split(_question(prompt))
        return recall(prompt, question) or self.belief(question)

    def belief(self, question: str) -> str:
        """What this AI holds to be the answer: right with probability ``accuracy``."""
        rng = self._rng(question)
        truth = solve(question)
        if truth is not None and rng.random() < self.accuracy:
            return truth
        return wrong_answer(question, rng)

    def _rng(self, text: str) -> random.Random:
        salt = str(self._calls) if self.fault is ScriptedFault.EQUIVOCATE else ""
        material = f"{self.seed}\x00{salt}\x00{text}".encode("utf-8", "replace")
        return random.Random(hashlib.sha256(material).digest())

    def _review(self, prompt: str) -> str:
        belief = self.answer(prompt)
        blocks = {lab: extract_answer(text) for lab, text in _BLOCK_RE.findall(prompt)}
        freq = Counter(blocks.values())
        rng = self._rng(prompt)
        keyed = {lab: (v != belief, -freq[v], rng.random()) for lab, v in blocks.items()}
        order = sorted(blocks, key=lambda lab: keyed[lab])
        return "RANKING: " + " > ".join(order)

    def _synthesize(self, prompt: str) -> str:
        blocks = _BLOCK_RE.findall(prompt)
        if not blocks:
            return "ANSWER: none"
        header, text = blocks[0]
        cite = header.split(" ", 2)[1] if " " in header else header
        value = extract_answer(text)
        body = text.strip() if value is None else f"ANSWER: {value}"
        return f"The council's best-ranked answer {cite} holds.\n{body}"


_ASKED = re.compile(r"^\s*what is (?:the )?(.+?)\s*\??\s*$", re.IGNORECASE)


def recall(prompt: str, question: str) -> str | None:
    """For "What is X?": the Y of a context line of ``prompt`` that says "X is Y"."""
    asked = _ASKED.match(question)
    if asked is None:
        return None
    stated = re.compile(rf"{re.escape(asked.group(1))} is ([^\s,;]+)", re.IGNORECASE)
    for line in prompt.split("\n"):
        if line.startswith("- from ") and (found := stated.search(line)):
            return found.group(1).rstrip(".!?")
    return None


def _question(prompt: str) -> str:
    if QUESTION_MARK + "\n" not in prompt:
        return prompt
    rest = prompt.split(QUESTION_MARK + "\n", 1)[1]
    return rest.split("\n--- ", 1)[0].strip()
