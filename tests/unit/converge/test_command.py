"""The command adapter, with small Python programs as the AI."""

from __future__ import annotations

import sys

import pytest

from gateway.converge.adapters.command import CommandAdapter
from gateway.errors import AdapterError, AdapterOutputError, AdapterTimeoutError


def program(code: str, **kwargs: float) -> CommandAdapter:
    return CommandAdapter("cmd", argv=[sys.executable, "-c", code], **kwargs)  # type: ignore[arg-type]


async def test_prompt_on_stdin_answer_on_stdout() -> None:
    adapter = program("import sys; d = sys.stdin.read(); print('ANSWER:', d.upper(), end='')")
    assert await adapter.complete("héllo") == "ANSWER: HÉLLO"


async def test_large_prompt_does_not_deadlock() -> None:
    adapter = program("import sys; print(len(sys.stdin.read()))", timeout=20)
    assert (await adapter.complete("x" * 2_000_000)).strip() == "2000000"


async def test_non_zero_exit_carries_the_stderr_tail() -> None:
    adapter = program("import sys; sys.stderr.write('x' * 5000 + 'model not found'); sys.exit(3)")
    with pytest.raises(AdapterError, match=r"exit status 3.*model not found") as info:
        await adapter.complete("q")
    assert len(str(info.value)) < 2200 and info.value.adapter == "cmd"


async def test_timeout_kills_the_program() -> None:
    adapter = program("import time; time.sleep(30)", timeout=0.5)
    with pytest.raises(AdapterTimeoutError):
        await adapter.complete("q")


async def test_oversized_output_is_refused() -> None:
    adapter = program("import sys; sys.stdout.write('y' * 100000)", max_output_bytes=1000)
    with pytest.raises(AdapterOutputError, match="over 1000 bytes"):
        await adapter.complete("q")


async def test_endless_output_is_cut_off() -> None:
    adapter = program(
        "import sys\nwhile True: sys.stdout.write('z' * 65536)", max_output_bytes=10_000, timeout=20
    )
    with pytest.raises(AdapterOutputError):
        await adapter.complete("q")


async def test_non_utf8_output_is_an_output_error() -> None:
    adapter = program("import sys; sys.stdout.buffer.write(b'\\xff\\xfe')")
    with pytest.raises(AdapterOutputError, match="UTF-8"):
        await adapter.complete("q")


async def test_missing_program_is_an_adapter_error() -> None:
    adapter = CommandAdapter("cmd", argv=["/nonexistent/ai-program"])
    with pytest.raises(AdapterError, match="cannot start"):
        await adapter.complete("q")


def test_empty_argv_is_refused() -> None:
    with pytest.raises(AdapterError, match="argv"):
        CommandAdapter("cmd", argv=[])
