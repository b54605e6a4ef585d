"""The quickstart: a private Tor network, two nodes reaching each other through Tor, paired,
sharing memory, and converging on one answer from their AIs.

Run it with ``./scripts/quickstart.sh`` (which sets everything up first). Every
step is an ordinary ``gateway`` command, printed before it runs; everything it
makes lives in ./quickstart/ and every process it starts is stopped at the end, also
when a step fails or the run is interrupted (``--keep`` leaves the network and nodes
running after a run that succeeded; ``--stop`` stops them later).

It can be run again: a rerun reuses the nodes' keys and contacts from ./quickstart/
(stopping first whatever an earlier run left running there), and ``--reset`` starts
from an empty ./quickstart/ instead.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

ROOT = Path(__file__).resolve().parent.parent
GATEWAY = [sys.executable, "-m", "gateway"]
NODES = ("alice", "bob")
LEVELS = ["standard", "standard"]
PUBLISH_TIMEOUT = 240.0
T = TypeVar("T")


def step(title: str) -> None:
    print(f"\n== {title}", flush=True)


def gateway(*args: str, config: Path | None = None, capture: bool = False) -> str:
    argv = [*GATEWAY, *(["--config", str(config)] if config else []), *args]
    print("$ gateway " + shlex.join(argv[len(GATEWAY) :]), flush=True)
    done = subprocess.run(argv, cwd=ROOT, text=True, capture_output=capture, check=False)
    if done.returncode != 0:
        if capture:
            sys.stderr.write(done.stdout + done.stderr)
        raise SystemExit(f"quickstart: that command failed (exit {done.returncode})")
    return done.stdout if capture else ""


def _shown(path: Path) -> Path:
    """``path`` relative to the repository when it is inside it."""
    return path.relative_to(ROOT) if path.is_relative_to(ROOT) else path


def start_node(config: Path, log: Path) -> tuple[subprocess.Popen[str], str]:
    """Start ``gateway run`` and return it with the onion address it prints."""
    print(f"$ gateway --config {_shown(config)} run   (log: {_shown(log)})")
    proc = subprocess.Popen(
        [*GATEWAY, "--config", str(config), "run"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=log.open("w"),
        text=True,
    )
    assert proc.stdout is not None
    deadline = time.monotonic() + PUBLISH_TIMEOUT
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        if line.strip().endswith(".onion"):
            return proc, line.strip()
    proc.terminate()
    raise SystemExit(f"quickstart: node did not publish; see {log}:\n{log.read_text()[-2000:]}")


def stop_node(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()


def wait_until(check: Callable[[], T | None], timeout: float, what: str) -> T:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(1.0)
    raise SystemExit(f"quickstart: timed out waiting for {what}")


def _api_json(config: Path, *args: str) -> object:
    argv = [*GATEWAY, "--config", str(config), *args]
    done = subprocess.run(argv, cwd=ROOT, text=True, capture_output=True, check=False)
    return json.loads(done.stdout) if done.returncode == 0 else None


def _online(config: Path, nickname: str) -> dict[str, object] | None:
    peers = _api_json(config, "peers", "--json")
    for p in peers if isinstance(peers, list) else []:
        if p.get("nickname") == nickname and p.get("online") and p.get("rtt_ms") is not None:
            return dict(p)
    return None


def _inbox(config: Path) -> list[dict[str, object]] | None:
    messages = _api_json(config, "inbox", "--json")
    return messages if isinstance(messages, list) and messages else None


SCRIPTED_QUESTION = "Compute 17 + 25. Reply with the integer."
MODEL_QUESTION = "What is the capital of France? Answer in one short sentence."


def configure_ai(config: Path, index: int, base_url: str | None) -> None:
    """Give a node an AI: the local model's server when there is one, else a scripted AI."""
    import yaml

    from gateway.converge.localai import MODEL_ALIAS

    data = yaml.safe_load(config.read_text())
    if base_url is not None:
        adapter = {
            "name": "local",
            "kind": "openai",
            "base_url": base_url,
            "model": MODEL_ALIAS,
            "max_tokens": 96,
            "temperature": 0.0,
            "timeout": 150,
        }
    else:  # deterministic, right 4 times out of 5, differently on each node
        adapter = {"name": "local", "kind": "scripted", "accuracy": 0.8, "seed": index}
    data["ai"] = {"adapters": [adapter], "default": "local"}  # fmt: skip
    config.write_text(yaml.safe_dump(data, sort_keys=False))


def start_local_ai() -> object | None:
    """llama.cpp's server on the bundled model, if the local-ai extra is installed."""
    from gateway.converge.localai import LocalAIServer, is_available

    if not is_available():
        return None
    server = LocalAIServer()
    server.start()
    return server


def _memory(config: Path, words: str, entry_id: str) -> dict[str, object] | None:
    """The entry ``entry_id`` if a search for ``words`` on ``config``'s node finds it."""
    found = _api_json(config, "memory", "search", words, "--json")
    for entry in found if isinstance(found, list) else []:
        if entry.get("id") == entry_id:
            return dict(entry)
    return None


def _level(config: Path) -> str | None:
    """The level ``config`` was made at (None when it does not say: gateway will)."""
    import yaml

    data = yaml.safe_load(config.read_text())
    level = data.get("security", {}).get("level") if isinstance(data, dict) else None
    return level if isinstance(level, str) else None


def _contact(config: Path, nickname: str) -> dict[str, object] | None:
    contacts = _api_json(config, "contacts", "list", "--json")
    for c in contacts if isinstance(contacts, list) else []:
        if c.get("nickname") == nickname:
            return dict(c)
    return None


def _last_message_id(config: Path) -> int:
    messages = _api_json(config, "inbox", "--json")
    return max((int(m["id"]) for m in messages), default=0) if isinstance(messages, list) else 0


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True


def _node_pid(state: Path) -> int | None:
    """The pid of a ``gateway run`` on ``state`` (from its node.json), if it still runs."""
    try:
        pid = int(json.loads((state / "node.json").read_text())["pid"])
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return pid if b"gateway" in cmdline and _alive(pid) else None


def stop_leftovers(base: Path, net: Path | None) -> None:
    """Stop what an earlier run left running here (``--keep``, or a run that was killed)."""
    for name in NODES:
        pid = _node_pid(base / name)
        if pid is None:
            continue
        print(f"   stopping {name}'s node left running by an earlier run (pid {pid})")
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 30
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)
    if net is not None and (net / "network.json").exists():
        gateway("testnet", "down", "--dir", str(net), capture=True)


def _on_signal(signum: int, _frame: object) -> None:
    """SIGTERM/SIGHUP end the run like Ctrl-C: everything started is stopped."""
    raise SystemExit(128 + signum)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dir", type=Path, default=ROOT / "quickstart")
    parser.add_argument("--keep", action="store_true",
                        help="leave network and nodes running (only when the run succeeds)")
    parser.add_argument("--reset", action="store_true",
                        help="stop what an earlier run left and start again from an empty --dir")
    parser.add_argument("--stop", action="store_true",
                        help="only stop what an earlier --keep run left running, then exit")
    parser.add_argument("--network", type=Path, metavar="DIR",
                        help="use this running private network (never stopped) instead of "
                             "starting one in --dir")
    parser.add_argument("--levels", nargs=2, metavar=("ALICE", "BOB"), default=LEVELS,
                        choices=("standard", "high", "paranoid"),
                        help="the two nodes' security levels, any pair: the link takes the "
                             "stronger (default: standard standard)")
    parser.add_argument("--ai", choices=("auto", "scripted", "local"), default="auto",
                        help="the nodes' AIs: the bundled local model if installed (auto), "
                             "or scripted ones")  # fmt: skip
    args = parser.parse_args()
    base: Path = args.dir.resolve()
    own_net = args.network is None
    net: Path = base / "testnet" if own_net else args.network.resolve()
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _on_signal)

    if args.stop or args.reset:
        step(f"stopping what an earlier run left in {_shown(base)}")
        stop_leftovers(base, net if own_net else None)
        if args.stop:
            return 0
        if base.exists():
            shutil.rmtree(base)
            print(f"   removed {_shown(base)}")
    base.mkdir(parents=True, exist_ok=True)
    stop_leftovers(base, None)  # a node still running here would hold its state and ports

    procs: list[subprocess.Popen[str]] = []
    local_ai: object | None = None
    finished = False
    try:
        if own_net:
            step("1. a private Tor network on 127.0.0.1 (3 directory authorities + 4 relays)")
            started = time.monotonic()
            gateway("testnet", "up", "--dir", str(net))
            print(f"   ready in {time.monotonic() - started:.1f} s")
        else:
            step(f"1. the private Tor network at {net} (already running)")

        local_ai = None if args.ai == "scripted" else start_local_ai()
        if args.ai == "local" and local_ai is None:
            raise SystemExit("quickstart: --ai local needs ./scripts/setup.sh --local-ai")
        base_url = getattr(local_ai, "base_url", None)

        step("2. two nodes, each with its own keys and config")
        configs = {}
        for name, level in zip(NODES, args.levels, strict=True):
            config = base / f"{name}.yaml"
            if config.exists():
                made = _level(config)
                if made not in (None, level):
                    raise SystemExit(f"quickstart: {name} was made at level {made} by an earlier "
                                     f"run; add --reset to start again at {level}")  # fmt: skip
                print(f"   {name}: reusing {_shown(config)} and its keys from an earlier run")
            else:
                gateway(
                    "init", "--testnet", str(net), "--name", name, "--level", level,
                    "--state-dir", str(base / name), config=config,
                )  # fmt: skip
            configs[name] = config
            configure_ai(config, len(configs), base_url)
        which = "the bundled SmolLM2 model (llama.cpp, 127.0.0.1)" if base_url else "scripted AIs"
        print(f"   AI for convergence: {which}")

        step("3. run both nodes: each starts its own tor and publishes a v3 onion service")
        addresses = {}
        # bob first: alice's node dials him as soon as it runs (they are contacts after a
        # first run), and should find his new descriptor, not the one of his earlier run
        for name in reversed(NODES):
            t0 = time.monotonic()
            proc, address = start_node(configs[name], base / f"{name}.log")
            procs.append(proc)
            addresses[name] = address
            print(f"   {name}: {address}  (published in {time.monotonic() - t0:.1f} s)")

        def reach_bob(attempts: int = 3) -> dict[str, Any]:
            # on a rerun, a directory may still hand out bob's descriptor of the earlier run
            # (its introduction points are gone) until his new one reaches it: try again
            for attempt in range(1, attempts + 1):
                try:
                    out = gateway("ping", addresses["bob"], "--count", "5", "--json",
                                  config=configs["alice"], capture=True)  # fmt: skip
                    break
                except SystemExit:
                    if attempt == attempts:
                        raise
                    print("   (not reached yet: bob's new descriptor may still be on its way "
                          "to the directories; trying again)")  # fmt: skip
            ping = json.loads(out)
            print(f"   bob answered {ping['reply']['status']!r} through Tor")
            print(f"   round trip: {ping['median_ms']} ms median of {len(ping['rtt_ms'])}, "
                  f"first (with circuit setup) {ping['first_ms']} ms")  # fmt: skip
            return dict(ping)

        step("4. alice reaches bob's onion through her own tor")
        bob_paranoid = args.levels[1] == "paranoid"
        if bob_paranoid:
            print("   bob is paranoid: only his contacts can even find his onion (client\n"
                  "   authorization), so alice reaches it once they are paired (step 5)")
        else:
            ping = reach_bob()

        step("5. bob invites alice; her node pairs with his over Tor on the first connection")
        if _contact(configs["alice"], "bob") is not None:
            print("   already paired by an earlier run (their contact books are kept)")
        else:
            invite = json.loads(gateway("invite", "--json", "--no-qr", config=configs["bob"],
                                        capture=True))["invite"]  # fmt: skip
            print(f"   invite: {invite[:48]}...")
            gateway("contacts", "add", invite, "--nickname", "bob", config=configs["alice"])
        peers = wait_until(lambda: _online(configs["alice"], "bob"), 180, "the link to bob")
        print(f"   alice <-> bob link up: {peers['padding']} padding, RTT {peers['rtt_ms']} ms")
        if bob_paranoid:
            ping = reach_bob()

        step("6. alice sends bob a direct message over their Double-Ratchet link")
        seen = _last_message_id(configs["bob"])
        gateway("send", "bob", "hello bob, from alice, through Tor", config=configs["alice"])
        inbox = wait_until(
            lambda: [m for m in _inbox(configs["bob"]) or [] if int(str(m["id"])) > seen],
            120, "the message",
        )  # fmt: skip
        print(f"   bob's inbox: {inbox[0]['text']!r}")

        step("7. alice writes to shared memory; it syncs to bob through Tor, signed and verified")
        out = gateway("memory", "put", "The quickstart network runs on 127.0.0.1 only.",
                      "--topic", "quickstart", "--tag", "demo", "--json",
                      config=configs["alice"], capture=True)  # fmt: skip
        written = json.loads(out)
        print(f"   alice stored entry {str(written['id'])[:16]}... (seq {written['seq']})")
        t0 = time.monotonic()
        arrived = wait_until(
            lambda: _memory(configs["bob"], "quickstart network", str(written["id"])),
            120, "the memory entry on bob",
        )  # fmt: skip
        print(f"   on bob after {time.monotonic() - t0:.1f} s: {arrived['body']!r}")
        if arrived["author"] != written["author"]:
            raise SystemExit("quickstart: bob's copy differs from alice's entry")
        print(f"   same id and author ({str(written['author'])[:16]}..., alice's identity key)")
        gateway("memory", "verify", config=configs["bob"])

        step("8. a convergence round: both AIs answer, review each other, one synthesizes")
        question = MODEL_QUESTION if base_url else SCRIPTED_QUESTION
        out = gateway("converge", question, "--json", "--answer-time", "150",
                      "--reveal-time", "20", "--review-time", "150", "--synthesis-time", "150",
                      config=configs["alice"], capture=True)  # fmt: skip
        rnd = json.loads(out)
        result = rnd["result"] or {"text": "", "ranked": []}
        print(f"   question: {question}")
        print(f"   status: {rnd['status']}; synthesized answer:")
        for line in result["text"].splitlines() or [""]:
            print(f"     {line}")
        print("   rankings (Borda):")
        for i, item in enumerate(result["ranked"], 1):
            who = (item.get("author") or {}).get("name") or "?"
            answer = (item.get("answer") or "").replace("\n", " ")[:70]
            print(f"     {i}. {who}: {item['points']} points: {answer}")
        if len(result["ranked"]) == 2:
            print("   (with two AIs each reviews only the other's answer, and a ballot of one\n"
                  "    answer gives it no Borda points: rankings say something from 3 nodes up)")
        entry_id = str(rnd.get("memory_entry"))
        wait_until(lambda: _api_json(configs["bob"], "memory", "get", entry_id, "--json"), 120,
                   "the round's result in bob's memory")  # fmt: skip
        print(f"   stored in alice's memory as {entry_id[:16]}..., and synced to bob's")

        step("summary")
        for name in NODES:
            print(f"   {name:6} {addresses[name]}")
        print(
            f"   alice -> bob round trip through Tor: {ping['median_ms']} ms (HTTP), "
            f"{peers['rtt_ms']} ms (their link)"
        )
        print(f"   bob received: {inbox[0]['text']!r}")  # fmt: skip
        print(f"   bob's memory now holds alice's entry {str(arrived['id'])[:16]}...")
        print(f"   convergence: {rnd['status']}: {result['text'][:80]!r}")
        finished = True
    finally:
        keep = args.keep and finished
        if keep:
            print(f"\nleft running (nodes: pids {[p.pid for p in procs]}); stop them with: "
                  f"./scripts/quickstart.sh --stop")  # fmt: skip
        else:
            for proc in procs:
                stop_node(proc)
            if own_net:
                gateway("testnet", "down", "--dir", str(net), capture=True)
        if local_ai is not None:
            local_ai.stop()  # type: ignore[attr-defined]
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    raise SystemExit(main())
