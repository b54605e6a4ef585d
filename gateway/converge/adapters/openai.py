"""An adapter for any OpenAI-compatible ``/v1/chat/completions`` endpoint.

Ollama, llama.cpp's server, vLLM and hosted services speak this API. The API
key is read from an environment variable named in the config, never from YAML.
A loopback endpoint is reached directly; any other endpoint only through the
SOCKS proxy the node supplies (its tor), with names resolved by the proxy.
Redirects are not followed (one could lead a direct connection off the
machine) and compressed bodies are refused (the size limit counts wire bytes).
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import os
import re
import ssl
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from aiohttp_socks import ProxyConnectionError, ProxyConnector, ProxyError, ProxyTimeoutError

from gateway.converge.adapters.base import DEFAULT_MAX_OUTPUT_BYTES, DEFAULT_TIMEOUT, Adapter
from gateway.converge.adapters.retry import Retrying, retry_after_seconds
from gateway.errors import AdapterError, AdapterHTTPError, AdapterOutputError
from gateway.tls import client_context

#: a response body larger than this many times the output limit (plus slack) is refused
BODY_FACTOR = 4
BODY_SLACK = 4096
_ERROR_TAIL = 300
_CHUNK = 16 * 1024
_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f]+")
#: what an API key may hold: visible ASCII (it goes into an HTTP header)
_KEY_RE = re.compile(r"^[\x21-\x7e]+$")
BASE_HEADERS = {
    "Content-Type": "application/json",
    "Accept": "application/json",
    "Accept-Encoding": "identity",
}


def is_loopback(host: str) -> bool:
    """True for localhost names and loopback addresses."""
    host = host.lower().rstrip(".")
    if host in ("localhost", "localhost.localdomain") or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def completions_url(base_url: str) -> str:
    """The chat-completions URL for a base URL given with or without ``/v1``."""
    base = base_url.rstrip("/")
    return base + ("/chat/completions" if base.endswith("/v1") else "/v1/chat/completions")


def _printable(raw: bytes) -> str:
    return _UNPRINTABLE.sub(" ", raw.decode("utf-8", "replace")).strip()


class OpenAIAdapter(Adapter):
    """Chat completions with ``stream: false`` over aiohttp.

    Subclasses speak other providers' APIs (:mod:`.anthropic`, :mod:`.gemini`) by
    overriding :meth:`endpoint`, :meth:`request_body`, :meth:`headers` and :meth:`text_of`;
    the transport (tor for remote hosts, bounded bodies, retries) is shared.
    """

    #: the API's name in error messages
    provider = "OpenAI-compatible API"

    def __init__(
        self,
        name: str,
        *,
        base_url: str,
        model: str,
        api_key_env: str | None = None,
        socks_proxy: str | None = None,
        system_prompt: str | None = None,
        temperature: float | None = None,
        max_tokens: int | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        max_output_bytes: int = DEFAULT_MAX_OUTPUT_BYTES,
        environ: Mapping[str, str] | None = None,
        retries: int = 0,
        retry_base: float = 1.0,
    ) -> None:
        super().__init__(name, timeout=timeout, max_output_bytes=max_output_bytes)
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise AdapterError(f"base_url must be an http(s) URL, got {base_url!r}", adapter=name)
        self.model = model
        self.url = self.endpoint(base_url)
        self.retrying = Retrying(retries, retry_base)
        self.loopback = is_loopback(parts.hostname)
        if not self.loopback and socks_proxy is None:
            raise AdapterError(
                f"{parts.hostname} is not loopback, so it must be reached through tor, "
                "but no SOCKS proxy was given",
                adapter=name,
            )
        self.socks_proxy = None if self.loopback else socks_proxy
        self.api_key_env = api_key_env
        self.system_prompt = system_prompt
        self.temperature = temperature
        self.max_tokens = max_tokens
        self.max_body_bytes = max_output_bytes * BODY_FACTOR + BODY_SLACK
        self._environ = environ if environ is not None else os.environ

    def endpoint(self, base_url: str) -> str:
        """The URL requests go to."""
        return completions_url(base_url)

    def api_key(self) -> str | None:
        """The API key from the named environment variable (None when none is named)."""
        if not self.api_key_env:
            return None
        key = self._environ.get(self.api_key_env, "").strip()
        if not key:
            raise AdapterError(
                f"environment variable {self.api_key_env} (the API key) is not set",
                adapter=self.name,
            )
        if not _KEY_RE.match(key):
            raise AdapterError(
                f"environment variable {self.api_key_env} holds characters an API key "
                "cannot have (spaces, control characters or non-ASCII)",
                adapter=self.name,
            )
        return key

    def request_body(self, prompt: str) -> dict[str, Any]:
        """The JSON body sent for ``prompt``."""
        messages = [{"role": "user", "content": prompt}]
        if self.system_prompt:
            messages.insert(0, {"role": "system", "content": self.system_prompt})
        body: dict[str, Any] = {"model": self.model, "messages": messages, "stream": False}
        if self.temperature is not None:
            body["temperature"] = self.temperature
        if self.max_tokens is not None:
            body["max_tokens"] = self.max_tokens
        return body

    def headers(self) -> dict[str, str]:
        """Request headers, with the bearer token from the named environment variable."""
        headers = dict(BASE_HEADERS)
        key = self.api_key()
        if key is not None:
            headers["Authorization"] = f"Bearer {key}"
        return headers

    def _connector(self) -> aiohttp.BaseConnector:
        # HTTPS uses the node's own verified context (gateway.tls), never aiohttp's default
        https = urlsplit(self.url).scheme.lower() == "https"
        tls: ssl.SSLContext | bool = client_context() if https else True
        if self.socks_proxy is None:
            return aiohttp.TCPConnector(ssl=tls)
        try:
            connector: aiohttp.BaseConnector = ProxyConnector.from_url(
                self.socks_proxy, rdns=True, ssl=tls
            )
        except ValueError as exc:
            raise AdapterError(f"bad SOCKS proxy URL: {exc}", adapter=self.name) from exc
        return connector

    async def _complete(self, prompt: str) -> str:
        headers = self.headers()
        body = self.request_body(prompt)
        attempt = 0
        while True:
            try:
                return await self._attempt(body, headers)
            except AdapterError as exc:
                delay = self.retrying.delay(attempt, exc)
                if delay is None:
                    raise
            attempt += 1
            await asyncio.sleep(delay)

    async def _attempt(self, body: dict[str, Any], headers: dict[str, str]) -> str:
        """One request; an AdapterError (retryable or not) when it gives no answer."""
        try:
            status, raw, retry_after = await self._post(body, headers)
        except (aiohttp.ClientError, OSError) as exc:
            raise AdapterError(
                f"{self.provider}: request failed: {type(exc).__name__}: {exc}", adapter=self.name
            ) from exc
        except (ProxyError, ProxyConnectionError, ProxyTimeoutError) as exc:
            raise AdapterError(f"SOCKS proxy: {exc}", adapter=self.name) from exc
        if status != 200:
            tail = _printable(raw[-_ERROR_TAIL:])
            raise AdapterHTTPError(
                f"{self.provider} refused: HTTP {status}: {tail}",
                status=status,
                adapter=self.name,
                retry_after=retry_after,
            )
        return self._content(raw)

    async def _post(
        self, body: dict[str, Any], headers: dict[str, str]
    ) -> tuple[int, bytes, float | None]:
        """POST ``body``; the status, the (bounded) response body and its Retry-After."""
        async with (
            aiohttp.ClientSession(
                connector=self._connector(),
                timeout=aiohttp.ClientTimeout(),  # the adapter's own timeout governs
                auto_decompress=False,
                trust_env=False,
                cookie_jar=aiohttp.DummyCookieJar(),
            ) as session,
            session.post(self.url, json=body, headers=headers, allow_redirects=False) as resp,
        ):
            encoding = resp.headers.get("Content-Encoding", "identity").strip().lower()
            if encoding not in ("", "identity"):
                raise AdapterOutputError(
                    f"response is {encoding}-encoded; only identity is accepted", adapter=self.name
                )
            if (resp.content_length or 0) > self.max_body_bytes:
                raise AdapterOutputError(
                    f"response body is over {self.max_body_bytes} bytes", adapter=self.name
                )
            retry_after = retry_after_seconds(resp.headers.get("Retry-After"))
            return resp.status, await self._read_body(resp), retry_after

    async def _read_body(self, resp: aiohttp.ClientResponse) -> bytes:
        chunks: list[bytes] = []
        size = 0
        async for chunk in resp.content.iter_chunked(_CHUNK):
            size += len(chunk)
            if size > self.max_body_bytes:
                raise AdapterOutputError(
                    f"response body is over {self.max_body_bytes} bytes", adapter=self.name
                )
            chunks.append(chunk)
        return b"".join(chunks)

    def _content(self, raw: bytes) -> str:
        try:
            doc = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError) as exc:
            raise AdapterOutputError(
                f"response is not JSON: {str(exc)[:200] or type(exc).__name__}", adapter=self.name
            ) from exc
        content = self.text_of(doc)
        self.check_size(len(content.encode("utf-8", "replace")))
        return content

    def text_of(self, doc: Any) -> str:
        """The answer in a decoded response (AdapterOutputError if it has none)."""
        try:
            content = doc["choices"][0]["message"]["content"]
        except (KeyError, IndexError, TypeError) as exc:
            raise AdapterOutputError(
                "response has no choices[0].message.content", adapter=self.name
            ) from exc
        if not isinstance(content, str):
            raise AdapterOutputError("message content is not a string", adapter=self.name)
        return content
