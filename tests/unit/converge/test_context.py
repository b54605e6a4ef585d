"""Round context: the block in the question, the answer prompt, a scripted AI reading it."""

from __future__ import annotations

from gateway.converge import context
from gateway.converge.adapters.scripted import ScriptedAdapter, recall
from gateway.converge.context import ContextItem, attach, split

ITEM = ContextItem("the asker", "ab" * 32, "The code name of the Lisbon\nproject is HERON-7.")


def test_attach_then_split_gives_the_lines_and_the_bare_question() -> None:
    question = attach("What is the code name of the Lisbon project?", [ITEM])
    assert question.startswith("[context]\n- from the asker (entry abababababababab): The code")
    lines, bare = split(question)
    assert bare == "What is the code name of the Lisbon project?"
    assert lines == ["- from the asker (entry abababababababab): The code name of the Lisbon "
                     "project is HERON-7."]  # fmt: skip


def test_no_items_no_block_and_a_broken_block_is_all_question() -> None:
    assert attach("q?", []) == "q?"
    assert split("q?") == ([], "q?")
    assert split("[context]\n- from x (entry 1): y\nq?") == (
        [],
        "[context]\n- from x (entry 1): y\nq?",
    )


def test_long_texts_are_cut_to_one_line() -> None:
    line = ContextItem("s", "00" * 32, "word " * 1000).line()
    assert "\n" not in line and len(line) < context.MAX_ITEM_CHARS + 60


def test_the_section_names_whose_context_is_whose() -> None:
    shown = context.section(["- from the asker (entry 1): a"], ["- from your memory (entry 2): b"])
    assert shown.index("CONTEXT FROM THE ASKER") < shown.index("CONTEXT FROM YOUR OWN MEMORY")
    assert context.section([], []) == ""


def test_a_scripted_ai_answers_from_its_context_and_guesses_without() -> None:
    ai = ScriptedAdapter()
    question = "What is the code name of the Lisbon project?"
    prompt = f"[council: answer]\n{context.section([ITEM.line()], [])}\nQUESTION:\n{question}\n"
    assert ai.respond(prompt) == "ANSWER: HERON-7"
    assert "HERON-7" not in ai.respond(f"[council: answer]\nQUESTION:\n{question}\n")
    assert recall("- from x (entry 1): the sky is blue", "What is the sky?") == "blue"
    assert recall("- from x (entry 1): the sky is blue", "Why is the sky blue?") is None
