"""An adapter for Anthropic's Messages API (``POST /v1/messages``).

The key comes from an environment variable (``ANTHROPIC_API_KEY`` unless configured) and
goes in ``x-api-key``, with ``anthropic-version: 2023-06-01``. ``max_tokens`` is required
by the API (1024 unless configured); the system prompt is the top-level ``system`` field.
The answer is the text of the response's ``text`` content blocks. Transport, limits,
tor for remote hosts and retries are the OpenAI adapter's (:mod:`.openai`).
"""

from __future__ import annotations

from typing import Any

from gateway.converge.adapters.openai import BASE_HEADERS, OpenAIAdapter
from gateway.errors import AdapterError, AdapterOutputError

DEFAULT_BASE_URL = "https://api.anthropic.com"
DEFAULT_KEY_ENV = "ANTHROPIC_API_KEY"
API_VERSION = "2023-06-01"
DEFAULT_MAX_TOKENS = 1024


class AnthropicAdapter(OpenAIAdapter):
    """Anthropic's Messages API, ``stream: false``."""

    provider = "Anthropic Messages API"

    def endpoint(self, base_url: str) -> str:
        base = base_url.rstrip("/")
        return base + ("/messages" if base.endswith("/v1") else "/v1/messages")

    def request_body(self, prompt: str) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.model,
            "max_tokens": self.max_tokens or DEFAULT_MAX_TOKENS,
            "messages": [{"role": "user", "content": prompt}],
        }
        if self.system_prompt:
            body["system"] = self.system_prompt
        if self.temperature is not None:
            body["temperature"] = min(self.temperature, 1.0)  # the API's range is 0..1
        return body

    def headers(self) -> dict[str, str]:
        key = self.api_key()
        if key is None:
            raise AdapterError("the Anthropic API needs a key: set api_key_env", adapter=self.name)
        return {**BASE_HEADERS, "x-api-key": key, "anthropic-version": API_VERSION}

    def text_of(self, doc: Any) -> str:
        blocks = doc.get("content") if isinstance(doc, dict) else None
        if not isinstance(blocks, list):
            raise AdapterOutputError(
                f"{self.provider}: the response has no content blocks", adapter=self.name
            )
        texts = [b.get("text") for b in blocks if isinstance(b, dict) and b.get("type") == "text"]
        if not texts or not all(isinstance(t, str) for t in texts):
            reason = doc.get("stop_reason")
            raise AdapterOutputError(
                f"{self.provider}: the response has no text (stop_reason {reason!r})",
                adapter=self.name,
            )
        return "".join(str(t) for t in texts)
