"""Build adapters from their typed config.

Each kind's module is imported when an adapter of that kind is built: a node loads the
HTTP client code of the ``openai`` adapters (aiohttp's client through tor's SOCKS port) or
the scripted AI only if its config uses them.
"""

from __future__ import annotations

from collections.abc import Mapping

from gateway.converge.adapters.base import Adapter
from gateway.converge.adapters.config import (
    AdapterConfig,
    CommandAdapterConfig,
    OpenAIAdapterConfig,
)


def build_adapter(
    cfg: AdapterConfig,
    *,
    socks_proxy: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> Adapter:
    """The adapter for ``cfg``; ``socks_proxy`` (tor's SOCKS URL) is used for non-loopback hosts."""
    if isinstance(cfg, OpenAIAdapterConfig):
        from gateway.converge.adapters.anthropic import AnthropicAdapter
        from gateway.converge.adapters.gemini import GeminiAdapter
        from gateway.converge.adapters.openai import OpenAIAdapter

        kind = {"anthropic": AnthropicAdapter, "gemini": GeminiAdapter}.get(
            cfg.provider, OpenAIAdapter
        )
        return kind(
            cfg.name,
            base_url=cfg.base_url,
            model=cfg.model,
            api_key_env=cfg.api_key_env,
            socks_proxy=socks_proxy,
            system_prompt=cfg.system_prompt,
            temperature=cfg.temperature,
            max_tokens=cfg.max_tokens,
            timeout=cfg.timeout,
            max_output_bytes=cfg.max_output_bytes,
            environ=environ,
            retries=cfg.retries,
            retry_base=cfg.retry_base,
        )
    if isinstance(cfg, CommandAdapterConfig):
        from gateway.converge.adapters.command import CommandAdapter

        return CommandAdapter(
            cfg.name, argv=cfg.argv, timeout=cfg.timeout, max_output_bytes=cfg.max_output_bytes
        )
    from gateway.converge.adapters.scripted import ScriptedAdapter

    return ScriptedAdapter(
        cfg.name,
        accuracy=cfg.accuracy,
        seed=cfg.seed,
        fault=cfg.fault,
        timeout=cfg.timeout,
        max_output_bytes=cfg.max_output_bytes,
    )
