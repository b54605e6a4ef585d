"""Generated tasks with exact answers (arithmetic, multiple choice), for demos and benchmarks.

:func:`solve` recomputes the exact answer from a generated question's text, so
a scripted adapter can answer a prompt it has never seen.
"""

from __future__ import annotations

import ast
import enum
import random
import re
from dataclasses import dataclass

_ARITH_RE = re.compile(r"Compute ([0-9+\-* ()]+)\. Reply with the integer\.")
_CHOICE_RE = re.compile(r"Which of these numbers is (prime|the largest)\?((?:\s+[A-D]\) -?\d+)+)")
_OPTION_RE = re.compile(r"([A-D])\) (-?\d+)")
_ANSWER_RE = re.compile(r"^\s*ANSWER:\s*(.+?)\s*$", re.MULTILINE | re.IGNORECASE)
LETTERS = "ABCD"


class TaskKind(enum.Enum):
    ARITHMETIC = "arithmetic"
    CHOICE = "choice"


@dataclass(frozen=True)
class Task:
    """A question and its one exact answer (an integer, or an option letter)."""

    kind: TaskKind
    question: str
    answer: str


def _is_prime(n: int) -> bool:
    if n < 2:
        return False
    return all(n % d for d in range(2, int(n**0.5) + 1))


def _arithmetic(rng: random.Random) -> Task:
    a, b, c, d = (rng.randint(2, 99) for _ in range(4))
    op1, op2 = rng.choice("+-"), rng.choice("+-")
    expr = f"{a} * {b} {op1} {c} {op2} {d}"
    return Task(TaskKind.ARITHMETIC, f"Compute {expr}. Reply with the integer.", str(_eval(expr)))


def _choice(rng: random.Random) -> Task:
    if rng.random() < 0.5:
        primes = [n for n in range(11, 200) if _is_prime(n)]
        composites = [n for n in range(10, 200) if not _is_prime(n)]
        right, wrong = rng.choice(primes), rng.sample(composites, 3)
        what = "prime"
    else:
        values = rng.sample(range(-500, 500), 4)
        right, wrong = max(values), [v for v in values if v != max(values)]
        what = "the largest"
    options = [right, *wrong]
    rng.shuffle(options)
    listed = " ".join(f"{LETTERS[i]}) {v}" for i, v in enumerate(options))
    answer = LETTERS[options.index(right)]
    return Task(TaskKind.CHOICE, f"Which of these numbers is {what}? {listed}", answer)


def generate(rng: random.Random, kind: TaskKind | None = None) -> Task:
    """A random task (of ``kind``, or either kind with equal chance)."""
    kind = kind or rng.choice(list(TaskKind))
    return _arithmetic(rng) if kind is TaskKind.ARITHMETIC else _choice(rng)


def _eval_node(node: ast.expr) -> int:
    if isinstance(node, ast.Constant) and type(node.value) is int:
        return node.value
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        return -_eval_node(node.operand)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add | ast.Sub | ast.Mult):
        left, right = _eval_node(node.left), _eval_node(node.right)
        if isinstance(node.op, ast.Add):
            return left + right
        return left - right if isinstance(node.op, ast.Sub) else left * right
    raise ValueError("not a simple integer expression")


def _eval(expr: str) -> int:
    return _eval_node(ast.parse(expr, mode="eval").body)


def solve(question: str) -> str | None:
    """The exact answer of a generated question, or None if it is not one."""
    m = _ARITH_RE.search(question)
    if m:
        try:
            return str(_eval(m.group(1)))
        except (ValueError, SyntaxError, RecursionError):
            return None
    m = _CHOICE_RE.search(question)
    if not m:
        return None
    options = {letter: int(v) for letter, v in _OPTION_RE.findall(m.group(2))}
    if m.group(1) == "prime":
        hits = [k for k, v in options.items() if _is_prime(v)]
    else:
        hits = [k for k, v in options.items() if v == max(options.values())]
    return hits[0] if len(hits) == 1 else None


def wrong_answer(question: str, rng: random.Random) -> str:
    """A plausible wrong answer to a generated question (random text if it is not one)."""
    truth = solve(question)
    if truth is None:
        return f"unsure-{rng.randint(0, 9999)}"
    if truth in LETTERS:
        return rng.choice([x for x in LETTERS if x != truth])
    return str(int(truth) + rng.choice([-10, -2, -1, 1, 2, 10]))


def extract_answer(text: str) -> str | None:
    """The value of the last ``ANSWER: x`` line, normalized (None if there is none)."""
    found = _ANSWER_RE.findall(text)
    return found[-1].strip().rstrip(".").upper() if found else None
