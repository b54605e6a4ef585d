"""An adapter for Google's Gemini API (``POST /v1beta/models/{model}:generateContent``).

The key comes from an environment variable (``GEMINI_API_KEY`` unless configured) and
goes in ``x-goog-api-key`` (never in the URL). The system prompt is
``systemInstruction``; ``max_tokens`` and ``temperature`` go in ``generationConfig``. The
answer is the text parts of the first candidate; a prompt the API blocked is an error
naming the block reason. Transport, limits, tor for remote hosts and retries are the
OpenAI adapter's (:mod:`.openai`).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from gateway.converge.adapters.openai import BASE_HEADERS, OpenAIAdapter
from gateway.errors import AdapterError, AdapterOutputError

DEFAULT_BASE_URL = "https://generativelanguage.googleapis.com"
DEFAULT_KEY_ENV = "GEMINI_API_KEY"


class GeminiAdapter(OpenAIAdapter):
    """Gemini's generateContent, not streamed."""

    provider = "Gemini API"

    def endpoint(self, base_url: str) -> str:
        base = base_url.rstrip("/")
        if not base.endswith("/v1beta"):
            base += "/v1beta"
        return f"{base}/models/{quote(self.model, safe='')}:generateContent"

    def request_body(self, prompt: str) -> dict[str, Any]:
        body: dict[str, Any] = {"contents": [{"role": "user", "parts": [{"text": prompt}]}]}
        if self.system_prompt:
            body["systemInstruction"] = {"parts": [{"text": self.system_prompt}]}
        generation: dict[str, Any] = {}
        if self.max_tokens is not None:
            generation["maxOutputTokens"] = self.max_tokens
        if self.temperature is not None:
            generation["temperature"] = self.temperature
        if generation:
            body["generationConfig"] = generation
        return body

    def headers(self) -> dict[str, str]:
        key = self.api_key()
        if key is None:
            raise AdapterError("the Gemini API needs a key: set api_key_env", adapter=self.name)
        return {**BASE_HEADERS, "x-goog-api-key": key}

    def text_of(self, doc: Any) -> str:
        candidates = doc.get("candidates") if isinstance(doc, dict) else None
        if not candidates:
            feedback = doc.get("promptFeedback") if isinstance(doc, dict) else None
            reason = feedback.get("blockReason") if isinstance(feedback, dict) else None
            why = f"the prompt was blocked ({reason})" if reason else "no candidates"
            raise AdapterOutputError(f"{self.provider}: {why}", adapter=self.name)
        try:
            parts = candidates[0]["content"]["parts"]
            texts = [p["text"] for p in parts if isinstance(p, dict) and "text" in p]
        except (KeyError, IndexError, TypeError) as exc:
            raise AdapterOutputError(
                f"{self.provider}: the first candidate has no content parts", adapter=self.name
            ) from exc
        if not texts or not all(isinstance(t, str) for t in texts):
            reason = candidates[0].get("finishReason") if isinstance(candidates[0], dict) else None
            raise AdapterOutputError(
                f"{self.provider}: the answer has no text (finishReason {reason!r})",
                adapter=self.name,
            )
        return "".join(texts)
