"""Context for a council round: memory entries relevant to the question (sans-I/O).

The asker may attach entries to its question. They travel inside the signed question
as a block that the participants' prompts show apart from the question itself::

    [context]
    - from <source> (entry <16 hex digits>): <the entry's text, on one line>
    [/context]
    <the question>

(docs/PROTOCOL-converge.md, "Context"). A participant may add entries of its own
(from the spaces it shares with the asker) to its own answer prompt; those never
leave it. Every prompt says which context came from whom.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

BEGIN = "[context]"
END = "[/context]"
#: characters of one entry's text in a context line (longer texts are cut)
MAX_ITEM_CHARS = 500


@dataclass(frozen=True)
class ContextItem:
    """One entry given as context: who gives it, its id, its text."""

    source: str
    entry_id: str
    text: str

    def line(self) -> str:
        """The item as one context line."""
        text = " ".join(self.text.split())[:MAX_ITEM_CHARS]
        source = " ".join(self.source.split())[:64] or "unknown"
        return f"- from {source} (entry {self.entry_id[:16]}): {text}"


def attach(question: str, items: Sequence[ContextItem]) -> str:
    """The question with the asker's context block in front (unchanged without items)."""
    if not items:
        return question
    return "\n".join([BEGIN, *(i.line() for i in items), END, question])


def split(question: str) -> tuple[list[str], str]:
    """(the context lines, the bare question) of a question that may carry a block."""
    if not question.startswith(BEGIN + "\n"):
        return [], question
    body, sep, rest = question[len(BEGIN) + 1 :].partition("\n" + END + "\n")
    if not sep:
        return [], question  # no end marker: all of it is the question
    lines = [line for line in body.split("\n") if line.startswith("- from ")]
    return lines, rest


def section(asker_lines: Sequence[str], own_lines: Sequence[str]) -> str:
    """The context part of an answer prompt ("" when there is none)."""
    parts: list[str] = []
    if asker_lines:
        parts += ["CONTEXT FROM THE ASKER (entries it chose from the round's memory space):",
                  *asker_lines]  # fmt: skip
    if own_lines:
        parts += ["CONTEXT FROM YOUR OWN MEMORY (entries you share with the asker):", *own_lines]
    if parts:
        parts.append("Use the context where it answers the question; it may be incomplete.")
    return "\n".join(parts)
