"""An adapter that runs a local program: the prompt on stdin, the answer on stdout.

The program is started from an argv list (no shell). On timeout it is killed;
a non-zero exit is an AdapterError carrying the tail of its stderr.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping, Sequence

from gateway.converge.adapters.base import DEFAULT_MAX_OUTPUT_BYTES, DEFAULT_TIMEOUT, Adapter
from gateway.errors import AdapterError, AdapterOutputError

STDERR_TAIL = 2000
_CHUNK = 64 * 1024


class CommandAdapter(Adapter):
    """Runs ``argv`` once per prompt."""

    def __init__(
        self,
        name: str,
        *,
        argv: Sequence[str],
        env: Mapping[str, str] | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        max_output_bytes: int = DEFAULT_MAX_OUTPUT_BYTES,
    ) -> None:
        super().__init__(name, timeout=timeout, max_output_bytes=max_output_bytes)
        if not argv or not all(isinstance(a, str) and a for a in argv):
            raise AdapterError("argv must be a non-empty list of non-empty strings", adapter=name)
        self.argv = tuple(argv)
        self.env = dict(env) if env is not None else None

    async def _complete(self, prompt: str) -> str:
        try:
            proc = await asyncio.create_subprocess_exec(
                *self.argv,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                env=self.env,
            )
        except OSError as exc:
            raise AdapterError(f"cannot start {self.argv[0]!r}: {exc}", adapter=self.name) from exc
        reader = asyncio.ensure_future(self._read_stdout(proc))
        stderr = asyncio.ensure_future(_read_tail(proc))
        writer = asyncio.ensure_future(_write(proc, prompt))
        tasks: tuple[asyncio.Future[bytes] | asyncio.Future[None], ...] = (reader, stderr, writer)
        try:
            await asyncio.gather(*tasks)
            out, err = reader.result(), stderr.result()
            code = await proc.wait()
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await _kill(proc)
        if code != 0:
            text = err.decode("utf-8", "replace").strip()
            raise AdapterError(f"exit status {code}; stderr: {text}", adapter=self.name)
        try:
            return out.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise AdapterOutputError("output is not UTF-8", adapter=self.name) from exc

    async def _read_stdout(self, proc: asyncio.subprocess.Process) -> bytes:
        assert proc.stdout is not None
        chunks: list[bytes] = []
        size = 0
        while chunk := await proc.stdout.read(_CHUNK):
            size += len(chunk)
            if size > self.max_output_bytes:
                raise AdapterOutputError(
                    f"output is over {self.max_output_bytes} bytes", adapter=self.name
                )
            chunks.append(chunk)
        return b"".join(chunks)


async def _read_tail(proc: asyncio.subprocess.Process) -> bytes:
    assert proc.stderr is not None
    tail = b""
    while chunk := await proc.stderr.read(_CHUNK):
        tail = (tail + chunk)[-STDERR_TAIL:]
    return tail


async def _write(proc: asyncio.subprocess.Process, prompt: str) -> None:
    assert proc.stdin is not None
    # The program may exit without reading all of its input; that is its choice.
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
        proc.stdin.write(prompt.encode("utf-8", "replace"))
        await proc.stdin.drain()
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
        proc.stdin.close()
        await proc.stdin.wait_closed()


async def _kill(proc: asyncio.subprocess.Process) -> None:
    """Kill the program if it still runs, and reap it.

    Its pipes are drained to EOF too: a paused, full pipe would keep ``wait()``
    from returning.
    """
    if proc.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
    await asyncio.gather(proc.wait(), _drain(proc.stdout), _drain(proc.stderr))


async def _drain(stream: asyncio.StreamReader | None) -> None:
    if stream is not None:
        while await stream.read(_CHUNK):
            pass
