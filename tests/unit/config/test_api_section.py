"""The ``api:`` section: the local API's rate limit, good and bad."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.config.effective import dump_effective
from gateway.config.loader import load_config_text
from gateway.config.schema import ApiConfig
from gateway.errors import ConfigError

FILE = Path("/etc/gateway/node.yaml")


def test_defaults_without_a_section() -> None:
    assert load_config_text("node: {}\n", FILE).api == ApiConfig(rate_limit=200, burst=400)
    assert load_config_text("api:\n", FILE).api == ApiConfig()


def test_values_are_read_and_shown_in_the_effective_config() -> None:
    cfg = load_config_text("api: {rate_limit: 5, burst: 20}\n", FILE)
    assert cfg.api == ApiConfig(rate_limit=5, burst=20)
    shown = dump_effective(cfg)
    assert shown["api"] == {"rate_limit": 5, "burst": 20}
    # every section is shown, not only tor's
    assert {"memory", "ai", "logging", "http"} <= set(shown)


BAD: list[tuple[str, str, str]] = [
    ("api: [rate_limit]\n", "api", "a mapping"),
    ("api: {rate: 5}\n", "api.rate", "one of the known keys: rate_limit, burst"),
    ("api: {rate_limit: 0}\n", "api.rate_limit", "an integer from 1 to 100000"),
    ("api: {rate_limit: 2.5}\n", "api.rate_limit", "an integer from 1 to 100000"),
    ("api: {rate_limit: fast}\n", "api.rate_limit", "an integer"),
    ("api: {burst: 0}\n", "api.burst", "an integer from 1 to 100000"),
    ("api: {burst: 100001}\n", "api.burst", "an integer from 1 to 100000"),
    ("api: {burst: true}\n", "api.burst", "an integer"),
]


@pytest.mark.parametrize(("text", "key", "expected"), BAD)
def test_bad_sections(text: str, key: str, expected: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_config_text(text, FILE)
    assert err.value.file == str(FILE)
    assert err.value.key_path == key
    assert expected in err.value.expected
