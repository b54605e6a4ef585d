"""The adapter interface: a prompt in, an answer out, within a timeout and a size limit."""

from __future__ import annotations

import abc
import asyncio

from gateway.errors import AdapterError, AdapterOutputError, AdapterTimeoutError

DEFAULT_TIMEOUT = 120.0
DEFAULT_MAX_OUTPUT_BYTES = 64 * 1024


class Adapter(abc.ABC):
    """An AI that answers prompts. Every failure is an :class:`AdapterError`."""

    def __init__(
        self,
        name: str,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        max_output_bytes: int = DEFAULT_MAX_OUTPUT_BYTES,
    ) -> None:
        if timeout <= 0:
            raise AdapterError(f"timeout must be positive, got {timeout}", adapter=name)
        if max_output_bytes <= 0:
            raise AdapterError("max_output_bytes must be positive", adapter=name)
        self.name = name
        self.timeout = timeout
        self.max_output_bytes = max_output_bytes

    async def complete(self, prompt: str) -> str:
        """The AI's answer to ``prompt``; raises AdapterError (or a subclass)."""
        try:
            async with asyncio.timeout(self.timeout):
                text = await self._complete(prompt)
        except TimeoutError:
            raise AdapterTimeoutError(
                f"no answer within {self.timeout:g} s", adapter=self.name
            ) from None
        self.check_size(len(text.encode("utf-8", "replace")))
        return text

    def check_size(self, nbytes: int) -> None:
        """Raise AdapterOutputError if ``nbytes`` is over the output limit."""
        if nbytes > self.max_output_bytes:
            raise AdapterOutputError(
                f"output is over {self.max_output_bytes} bytes", adapter=self.name
            )

    @abc.abstractmethod
    async def _complete(self, prompt: str) -> str:
        """Produce the answer (the caller enforces the timeout and the size limit)."""
