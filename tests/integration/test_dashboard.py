"""The dashboard in real headless chromium against a node on the private Tor network.

Alice and bob (scripted AIs) are paired. A browser opens alice's dashboard, logs
in with her API token, sees bob come online with an RTT, reveals the onion
address, starts a convergence round from the page and watches it go stage by
stage to the final answer; the traffic chart has points. A screenshot of the
page is saved as a test artifact (``test-artifacts/dashboard.png``, or the
folder in ``GATEWAY_TEST_ARTIFACTS``).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from gateway.config.loader import load_config
from gateway.node.runtime_file import read_runtime
from gateway.state.keys import load_api_token
from gateway.state.paths import StatePaths
from gateway.testnet import TestNetwork
from tests.integration.memory_support import memory_node, pair_as, start
from tests.integration.support import Node
from tests.integration.test_converge import with_ai
from tests.needs import need_chromium

QUESTION = "Compute 17 + 25. Reply with the integer."
TIMES = {"answer": "20", "reveal": "10", "review": "20", "synthesis": "20"}
ROUND_TIMEOUT_MS = 240_000
ONLINE_TIMEOUT_MS = 180_000
ARTIFACTS = Path(
    os.environ.get("GATEWAY_TEST_ARTIFACTS", Path(__file__).parents[2] / "test-artifacts")
)


@dataclass(frozen=True)
class Dashboard:
    url: str
    token: str
    onion: str


@pytest.fixture(scope="module")
def alice(tmp_path_factory: pytest.TempPathFactory, testnet: TestNetwork) -> Iterator[Dashboard]:
    """Alice's dashboard; bob is her contact (both answer with scripted AIs)."""
    folder = tmp_path_factory.mktemp("dashboard")
    a = with_ai(memory_node(folder, testnet, "a"), "none", None)
    b = with_ai(memory_node(folder, testnet, "b"), "none", None)
    started: list[Node] = []
    try:
        for config in (a, b):
            start(config, started)
        pair_as(a, b, "bob", "alice")
        paths = StatePaths(load_config(a).node.state_dir)
        info = read_runtime(paths)
        assert info.api.startswith("http://127.0.0.1:"), info.api
        yield Dashboard(f"{info.api}/dashboard", load_api_token(paths), info.onion)
    finally:
        for node in started:
            if node.proc.poll() is None:
                node.proc.kill()
                node.proc.wait()


def test_the_dashboard_runs_a_round_live(alice: Dashboard) -> None:
    chromium = need_chromium()
    from playwright.sync_api import expect, sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1000})
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.goto(alice.url)
            # the token unlocks the page; nothing shows before
            expect(page.locator("#dashboard")).to_be_hidden()
            page.fill("#token", alice.token)
            page.click("#login-button")
            expect(page.locator("#dashboard")).to_be_visible()
            expect(page.locator("#bootstrap-percent")).to_have_text("100%")
            # bob comes online, with a round-trip time once a ping came back
            bob = page.locator('[data-testid="peer-row"][data-peer="bob"]')
            expect(bob).to_have_attribute("data-online", "true", timeout=ONLINE_TIMEOUT_MS)
            expect(bob.locator('[data-testid="peer-rtt"]')).to_have_text(
                re.compile(r"^[0-9.]+ ms$"), timeout=ONLINE_TIMEOUT_MS
            )
            # the onion address only shows when asked for
            onion = page.locator("#onion-address")
            expect(onion).to_be_hidden()
            page.click("#onion-reveal")
            expect(onion).to_have_text(alice.onion)
            # a round from the page, followed stage by stage to its answer
            page.fill("#round-question", QUESTION)
            for stage, seconds in TIMES.items():
                page.fill(f"#time-{stage}", seconds)
            page.click("#round-start")
            expect(page.locator("#round-error")).to_have_text("")
            round_box = page.locator("#round")
            expect(round_box).to_have_attribute("data-status", "running")
            expect(round_box).to_have_attribute(
                "data-status", re.compile("ok|fallback"), timeout=ROUND_TIMEOUT_MS
            )
            expect(page.locator("#round-answer")).to_contain_text("42")
            stages = page.locator("#round-stages li")
            expect(stages).to_have_count(5)
            for i in range(5):
                expect(stages.nth(i)).to_have_attribute("data-state", "done")
            expect(page.locator("#round-ranked li")).not_to_have_count(0)
            expect(page.locator('[data-testid="round-row"]')).not_to_have_count(0)
            # the result went to memory; the link's traffic is charted, padding included
            expect(page.locator("#memory-entries")).not_to_have_text(re.compile("^(\u2013|0)$"))
            chart = page.locator('[data-testid="traffic-chart"][data-peer="bob"]')
            expect(chart).to_have_attribute(  # a few seconds of it, for the screenshot
                "data-points", re.compile(r"^([5-9]|\d\d+)$"), timeout=60_000
            )
            expect(chart.locator("path.payload")).to_have_count(1)
            expect(chart.locator("path.padding")).to_have_count(1)
            shot = ARTIFACTS / "dashboard.png"
            page.screenshot(path=str(shot), full_page=True)
            print(f"dashboard screenshot: {shot}")
            connection = page.text_content("#connection")
        finally:
            browser.close()
    assert shot.stat().st_size > 10_000
    assert errors == []
    assert connection == "live"  # events came over the WebSocket
