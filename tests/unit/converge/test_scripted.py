"""Generated tasks and the scripted adapter."""

from __future__ import annotations

import math
import random

import pytest

from gateway.converge.adapters.scripted import ScriptedAdapter, ScriptedFault
from gateway.converge.round import answer_prompt, new_round
from gateway.converge.simulate import derive_key
from gateway.converge.tasks import TaskKind, extract_answer, generate, solve, wrong_answer
from gateway.errors import AdapterError, AdapterTimeoutError


@pytest.mark.parametrize("kind", list(TaskKind))
def test_generated_tasks_are_solvable_exactly(kind: TaskKind) -> None:
    rng = random.Random(1)
    for _ in range(300):
        task = generate(rng, kind)
        assert task.kind is kind
        assert solve(task.question) == task.answer
        assert wrong_answer(task.question, rng) != task.answer


def test_solve_and_extract_on_other_text() -> None:
    assert solve("What is the meaning of life?") is None
    assert extract_answer("no answer line") is None
    assert extract_answer("ANSWER: 1\nmore\n answer: c.") == "C"


def prompt_for(question: str) -> str:
    rnd, _ = new_round(derive_key(5, 0), question, [b"\x01" * 32], 0.0)
    return answer_prompt(rnd)


@pytest.mark.parametrize("p", [0.0, 0.6, 1.0])
def test_scripted_accuracy_is_p(p: float) -> None:
    rng = random.Random(2)
    tasks = [generate(rng) for _ in range(2000)]
    adapter = ScriptedAdapter(accuracy=p, seed=3)
    right = sum(extract_answer(adapter.respond(prompt_for(t.question))) == t.answer for t in tasks)
    sigma = math.sqrt(len(tasks) * p * (1 - p))
    assert abs(right - p * len(tasks)) <= 4 * sigma + 1e-9


def test_scripted_answers_are_deterministic_per_seed() -> None:
    tasks = [generate(random.Random(i)) for i in range(50)]
    a, b, c = (ScriptedAdapter(accuracy=0.5, seed=s) for s in (7, 7, 8))
    answers = [[x.respond(prompt_for(t.question)) for t in tasks] for x in (a, b, c)]
    assert answers[0] == answers[1]
    assert answers[0] != answers[2]


def test_equivocating_and_garbage_modes() -> None:
    prompt = prompt_for(generate(random.Random(4)).question)
    liar = ScriptedAdapter(accuracy=0.5, fault=ScriptedFault.EQUIVOCATE, seed=1)
    assert len({liar.respond(prompt) for _ in range(20)}) > 1
    junk = ScriptedAdapter(fault=ScriptedFault.GARBAGE)
    assert extract_answer(junk.respond(prompt)) is None


async def test_offline_and_timeout_modes_raise_typed_errors() -> None:
    with pytest.raises(AdapterError, match="offline"):
        await ScriptedAdapter(fault=ScriptedFault.OFFLINE).complete("x")
    with pytest.raises(AdapterTimeoutError):
        await ScriptedAdapter(fault=ScriptedFault.TIMEOUT, timeout=0.05).complete("x")
    assert (
        await ScriptedAdapter().complete(
            prompt_for("Compute 2 * 3 + 1 - 1. Reply with the integer.")
        )
        == "ANSWER: 6"
    )


def test_scripted_review_prefers_answers_that_agree_with_its_belief() -> None:
    from gateway.converge.review import review_prompt

    q = "Compute 2 * 3 + 1 - 1. Reply with the integer."
    rnd, _ = new_round(derive_key(5, 0), q, [b"\x01" * 32], 0.0)
    labels = {"A": b"a", "B": b"b", "C": b"c"}
    answers = {b"a": "ANSWER: 7", b"b": "ANSWER: 6", b"c": "ANSWER: 5"}
    text = ScriptedAdapter(accuracy=1.0).respond(review_prompt(rnd, labels, answers))
    assert text.startswith("RANKING: B >")


def test_bad_accuracy_is_an_adapter_error() -> None:
    with pytest.raises(AdapterError, match="accuracy"):
        ScriptedAdapter(accuracy=1.5)
