"""A real model, end to end: llama.cpp's server on the bundled SmolLM2 GGUF, via the openai adapter.

Needs the ``local-ai`` extra. Under ``CI=true`` (where the extra is installed)
a missing extra fails these tests; elsewhere they are skipped, with the reason.
"""

from __future__ import annotations

import dataclasses
import json
import urllib.request

import pytest

from gateway.converge.adapters.factory import build_adapter
from gateway.converge.localai import MODEL_ALIAS, LocalAIServer, find_model
from gateway.errors import AdapterOutputError
from tests.integration.support import require_local_ai


def test_the_bundled_model_is_a_gguf_file() -> None:
    require_local_ai()
    model = find_model()
    assert model.suffix == ".gguf" and model.stat().st_size > 10_000_000
    assert model.read_bytes()[:4] == b"GGUF"  # the format's magic number


def test_the_server_lists_the_model_on_loopback(local_ai: LocalAIServer) -> None:
    assert local_ai.running and local_ai.base_url.startswith("http://127.0.0.1:")
    no_proxy = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with no_proxy.open(local_ai.base_url + "/models", timeout=10) as resp:
        doc = json.load(resp)
    assert MODEL_ALIAS in [m["id"] for m in doc["data"]]


async def test_a_real_chat_completion_through_the_openai_adapter(local_ai: LocalAIServer) -> None:
    adapter = build_adapter(local_ai.adapter_config("smol", max_tokens=24, timeout=120))
    answer = await adapter.complete("What is the capital of France? Answer in one word.")
    assert answer.strip(), "the model gave an empty answer"


async def test_the_output_limit_applies_to_the_real_model(local_ai: LocalAIServer) -> None:
    cfg = local_ai.adapter_config("tiny-limit", max_tokens=24, timeout=120)
    adapter = build_adapter(dataclasses.replace(cfg, max_output_bytes=1))  # any answer is longer
    with pytest.raises(AdapterOutputError, match="over 1 bytes"):
        await adapter.complete("Name three colours.")
