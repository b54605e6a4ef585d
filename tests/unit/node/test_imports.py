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
