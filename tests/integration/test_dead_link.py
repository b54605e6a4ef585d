"""A contact whose node froze or died, then came back: its new link is not refused.

Tor can leave a link open at our end long after the contact's node went away (nothing
tells the circuit it died). Here the contact's node and its tor are frozen with
SIGSTOP, so their circuits stay up and our link to it looks open but never answers;
a copy of the contact's state (the same keys: a VM snapshot, a restored backup) then
runs and dials us. The tie-break would keep our old link, which we dialed with the
smaller key; the old link must first answer a ping, fails to, and the new link takes
its place well before the 45 s after which a silent link is closed anyway. Then the
copy stops with SIGTERM and we see it offline at once: a node closes its links before
its tor.
"""

from __future__ import annotations

import os
import shutil
import signal
import time
from pathlib import Path

import yaml

from gateway.testnet import TestNetwork
from tests.integration.memory_support import metrics
from tests.integration.support import (
    Node,
    api,
    inbox_texts,
    make_node,
    node_identity,
    pair,
    peer,
    tor_pids,
    wait_for,
)

REPLACED = "gateway_link_events_total{event=dead_link_replaced}"


def test_a_frozen_contacts_copy_gets_its_link_and_a_stopped_node_is_seen_offline(
    tmp_path: Path, testnet: TestNetwork, nodes: list[Node]
) -> None:
    configs = {n: make_node(tmp_path, testnet, name=n) for n in ("x", "y")}
    # we (the survivor) have the smaller key: a link we dialed wins every tie-break
    ours, theirs = sorted(("x", "y"), key=lambda n: bytes.fromhex(node_identity(configs[n])))
    us, them = configs[ours], configs[theirs]
    for config in (us, them):
        nodes.append(Node(config))
        nodes[-1].next_address()
    frozen = nodes[-1]
    contact, our_id = "contact", node_identity(us)
    pair(them, us, contact)  # the invitee (us) dials: our link, "out"
    assert peer(us, contact)["direction"] == "out"

    tors = tor_pids(tmp_path / theirs)
    assert tors, "the contact's tor was not found"
    for pid in (frozen.proc.pid, *tors):
        os.kill(pid, signal.SIGSTOP)
    try:
        # the copy: the same keys, onion and contacts, in its own folder
        copy_dir = tmp_path / "copy"
        skip = shutil.ignore_patterns("node.json", "*.sock")  # the frozen run's, not state
        shutil.copytree(tmp_path / theirs, copy_dir, ignore=skip)
        data = yaml.safe_load(them.read_text())
        data["node"]["state_dir"] = str(copy_dir)
        copy = tmp_path / "copy.yaml"
        copy.write_text(yaml.safe_dump(data))
        came_back = Node(copy)
        nodes.append(came_back)
        came_back.next_address()
        published = time.monotonic()

        wait_for(
            lambda: peer(us, contact)["direction"] == "in" and peer(copy, our_id)["online"],
            40,  # under 45 s: the old link's own death by silence would come too late
            "our node took the copy's link in place of the frozen one",
        )
        took = time.monotonic() - published
        assert metrics(us).get(REPLACED) == 1, "the old link was not replaced as dead"
        api(copy, "POST", "/api/v1/messages", {"to": our_id, "text": "back again"})
        wait_for(lambda: "back again" in inbox_texts(us), 60, "a message over the new link")
        print(f"new link taken {took:.1f} s after the copy published")
    finally:
        for pid in (*tors, frozen.proc.pid):
            os.kill(pid, signal.SIGKILL)
        frozen.proc.wait()

    # a node that stops closes its links while its tor still runs: we hear it at once
    # (before, tor often let the link look open until our 45 s silence timer)
    assert came_back.stop() == 0
    stopped = time.monotonic()
    wait_for(lambda: not peer(us, contact)["online"], 15, "the stopped copy seen offline")
    print(f"seen offline {time.monotonic() - stopped:.1f} s after the stop")
