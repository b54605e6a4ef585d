"""What a running node loads: not the CLI, not the libraries only some requests need."""

from __future__ import annotations


def test_strawberry_is_loaded_only_by_the_first_query() -> None:
    """strawberry and graphql-core weigh about 20 MB: a node loads them on first use only."""
    import subprocess
    import sys

    code = "import sys, gateway.node.services; print('strawberry' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"


def test_the_node_loads_no_cli_module_and_no_qr_code_library() -> None:
    """The API's contact views live in gateway.contacts.views: the node does not import the
    CLI (nor segno, which only draws invites' QR codes in a terminal)."""
    import subprocess
    import sys

    code = (
        "import sys, gateway.node.services, gateway.node.runner; "
        "print(sorted(m for m in sys.modules if m.startswith('gateway.cli') or m == 'segno'))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_gateway_run_loads_neither_the_mcp_sdk_nor_segno() -> None:
    """``gateway run`` goes through the CLI, which registers every command: the ones that
    need heavy libraries (``mcp``: the MCP SDK with pydantic, starlette and uvicorn; ``invite``:
    segno for QR codes) import them when they run, not when they register."""
    import subprocess
    import sys

    code = (
        "import sys; from gateway.cli import build_parser; build_parser(); "
        "import gateway.node.runner, gateway.node.services; "
        "print(sorted(m for m in ('mcp', 'pydantic', 'uvicorn', 'starlette', 'segno', "
        "'strawberry', 'openai') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_the_run_path_waits_for_the_first_vector_to_load_numpy() -> None:
    """NumPy (about 10 MB resident) and the model's code load with the first text to embed;
    opening the store at start reads only the model's name and size."""
    import subprocess
    import sys

    code = (
        "import sys; from gateway.cli import build_parser; build_parser(['run']); "
        "import gateway.node.runner, gateway.node.services; "
        "from gateway.memory.embed import lazy_default; lazy_default(); "
        "print(sorted(m for m in ('numpy', 'gateway.memory.vecindex', "
        "'gateway.memory.embed.minilm', 'gateway.memory.embed.weights') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_gateway_run_imports_no_other_command() -> None:
    """The CLI imports the module of the command it runs, not the other eighteen."""
    import subprocess
    import sys

    code = (
        "import sys; from gateway.cli import build_parser; "
        "build_parser(['--config', 'x.yaml', 'run']).parse_args(['--config', 'x.yaml', 'run']); "
        "print(sorted(m for m in sys.modules if m.startswith('gateway.cli.')))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "['gateway.cli.run_cmd']"
