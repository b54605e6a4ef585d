"""What a running node loads: not the CLI, not the libraries only some requests need."""

from __future__ import annotations

import subprocess
import sys


def loaded_after(code: str, names: str) -> str:
    """Run ``code`` in a new interpreter; which of the modules ``names`` (a Python
    expression: an iterable of module names) it loaded, as printed."""
    probe = f"import sys; {code}; print(sorted(m for m in {names} if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return done.stdout.strip()


def test_strawberry_is_loaded_only_by_the_first_query() -> None:
    """strawberry and graphql-core weigh about 20 MB: a node loads them on first use only."""
    assert loaded_after("import gateway.node.services", "['strawberry']") == "[]"


def test_the_node_loads_no_cli_module_and_no_qr_code_library() -> None:
    """The API's contact views live in gateway.contacts.views: the node does not import the
    CLI (nor segno, which only draws invites' QR codes in a terminal)."""
    names = "[m for m in sys.modules if m.startswith('gateway.cli') or m == 'segno']"
    assert loaded_after("import gateway.node.services, gateway.node.runner", names) == "[]"


def test_gateway_run_loads_neither_the_mcp_sdk_nor_segno() -> None:
    """``gateway run`` goes through the CLI, which registers every command: the ones that
    need heavy libraries (``mcp``: the MCP SDK with pydantic, starlette and uvicorn; ``invite``:
    segno for QR codes) import them when they run, not when they register."""
    code = (
        "from gateway.cli import build_parser; build_parser(); "
        "import gateway.node.runner, gateway.node.services"
    )
    names = "('mcp', 'pydantic', 'uvicorn', 'starlette', 'segno', 'strawberry', 'openai')"
    assert loaded_after(code, names) == "[]"


def test_the_run_path_waits_for_first_use_to_load_numpy_and_prometheus() -> None:
    """NumPy (about 10 MB resident) and the model's code load with the first text to embed
    (opening the store at start reads only the model's name and size); prometheus_client
    with the first scrape of /metrics; the OpenAI-compatible routes with their first call."""
    code = (
        "from gateway.cli import build_parser; build_parser(['run']); "
        "import gateway.node.runner, gateway.node.services; "
        "from gateway.memory.embed import lazy_default; lazy_default()"
    )
    names = (
        "('numpy', 'gateway.memory.vecindex', 'gateway.memory.embed.minilm', "
        "'gateway.memory.embed.weights', 'prometheus_client', 'gateway.api.openai_compat')"
    )
    assert loaded_after(code, names) == "[]"


def test_gateway_run_imports_no_other_command() -> None:
    """The CLI imports the module of the command it runs, not the other eighteen."""
    argv = "['--config', 'x.yaml', 'run']"
    code = f"from gateway.cli import build_parser; build_parser({argv}).parse_args({argv})"
    names = "[m for m in sys.modules if m.startswith('gateway.cli.')]"
    assert loaded_after(code, names) == "['gateway.cli.run_cmd']"


RUN_PATH = (
    "from gateway.cli import build_parser; build_parser(['run']); "
    "import gateway.cli.run_cmd, gateway.node.runner, gateway.node.services"
)


def test_the_run_path_loads_no_circle_code() -> None:
    """PBFT and the circle service, its routes and circles.db load with the first circle
    (at start only if the node holds one: gateway.node.lazycircles)."""
    names = (
        "['gateway.circle.pbft', 'gateway.circle.messages', 'gateway.circle.decisions', "
        "'gateway.node.circles', 'gateway.api.circle_routes']"
    )
    assert loaded_after(RUN_PATH, names) == "[]"


def test_the_run_path_loads_no_round_machinery_and_no_adapter() -> None:
    """The council's machines load with the first round, an AI adapter's module when the
    config names one (the config itself needs only gateway.converge.adapters.config)."""
    names = (
        "['gateway.converge.round', 'gateway.converge.asker', 'gateway.converge.participant', "
        "'gateway.converge.messages', 'gateway.converge.synthesis', 'fractions', "
        "'gateway.converge.adapters.scripted', 'gateway.converge.adapters.openai', "
        "'gateway.converge.adapters.command']"
    )
    assert loaded_after(RUN_PATH, names) == "[]"


def test_the_run_path_loads_no_session_code_and_no_socks_client() -> None:
    """The handshake, the ratchet and the link's state machine load with the first link,
    the SOCKS client with the first dial: a node without contacts carries neither."""
    names = (
        "['gateway.link.protocol', 'gateway.link.peerlink', 'gateway.link.pacer', "
        "'gateway.session.session', 'gateway.session.handshake', 'gateway.session.ratchet', "
        "'gateway.session.noise', 'gateway.tor.socks5', 'python_socks', 'aiohttp_socks']"
    )
    assert loaded_after(RUN_PATH, names) == "[]"


def test_the_link_dialer_uses_no_socks_library() -> None:
    """Links dial through gateway.tor.socks5 (0.35 MB less than python_socks): loading
    the dialer and its SOCKS client brings in neither SOCKS library."""
    code = RUN_PATH + "; import gateway.link.peerlink, gateway.tor.socks5"
    assert loaded_after(code, "('python_socks', 'aiohttp_socks')") == "[]"


def test_the_run_path_loads_no_library_only_a_rare_call_needs() -> None:
    """difflib (a config mistake's suggestion), statistics (the first reputation score) and
    cryptography's serialization module (raw key bytes need none of it)."""
    names = "['difflib', 'statistics', 'cryptography.hazmat.primitives.serialization']"
    assert loaded_after(RUN_PATH, names) == "[]"


def test_the_run_command_leaves_aiohttp_to_gateway_tls() -> None:
    """``gateway run`` imports aiohttp through gateway.tls.import_aiohttp (without the CA
    bundle in its two default contexts, 1.9 MB): loading the command's module must not
    import aiohttp first, or the bundle is loaded."""
    code = "import gateway.cli.run_cmd"
    assert loaded_after(code, "('aiohttp', 'gateway.node.runner')") == "[]"
