"""The local-AI server manager, driven with a small stand-in server (no llama.cpp needed).

The real llama.cpp server and model are exercised in tests/integration/test_localai.py.
"""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.converge import localai
from gateway.converge.adapters.factory import build_adapter
from gateway.converge.localai import (
    HOST,
    MODEL_ALIAS,
    LocalAIServer,
    LocalAISettings,
    find_model,
    free_port,
    is_available,
    launcher_argv,
)
from gateway.errors import AdapterError, LocalAIError, LocalAIMissingError

FAKE_SERVER = """
import argparse, json, os, sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

parser = argparse.ArgumentParser()
parser.add_argument("--port", type=int, required=True)
parser.add_argument("--mode", default="ok")
args = parser.parse_args()
print(f"pid {os.getpid()}", flush=True)
if args.mode == "crash":
    print("boom: cannot load the model", flush=True)
    sys.exit(3)


class Handler(BaseHTTPRequestHandler):
    def send_json(self, status, doc):
        data = json.dumps(doc).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if args.mode == "deaf" or self.path != "/v1/models":
            self.send_json(503, {"error": "loading"})
        else:
            self.send_json(200, {"object": "list", "data": [{"id": "x"}]})

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        text = body["model"] + "|" + body["messages"][-1]["content"]
        self.send_json(200, {"choices": [{"message": {"role": "assistant", "content": text}}]})

    def log_message(self, fmt, *a):
        print(fmt % a, flush=True)


ThreadingHTTPServer(("127.0.0.1", args.port), Handler).serve_forever()
"""


class FakeServer(LocalAIServer):
    """LocalAIServer running the stand-in server script through the same launcher."""

    def __init__(
        self, script: Path, mode: str = "ok", log_path: Path | None = None, **kwargs: float
    ) -> None:
        super().__init__(LocalAISettings(**kwargs), log_path=log_path)  # type: ignore[arg-type]
        self.script, self.mode = script, mode

    def command(self, port: int) -> list[str]:
        return [*launcher_argv(str(self.script)), "--port", str(port), "--mode", self.mode]


@pytest.fixture
def script(tmp_path: Path) -> Path:
    path = tmp_path / "fake_server.py"
    path.write_text(FAKE_SERVER)
    return path


def gone(pid: int) -> bool:
    """True once ``pid`` has exited (a zombie left for an init that does not reap counts)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return True
    return state in ("Z", "X")


def wait_gone(pid: int, limit: float = 15.0) -> bool:
    deadline = time.monotonic() + limit
    while not gone(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def pid_in(text: str) -> int:
    return int(text.split("pid ", 1)[1].split()[0])


async def test_start_answer_stop(script: Path) -> None:
    server = FakeServer(script)
    server.start()
    try:
        assert server.running and server.startup_seconds is not None
        assert server.base_url == f"http://{HOST}:{server.port}/v1"
        log = server.log_path
        assert log is not None and log.is_file()
        cfg = server.adapter_config("mine", max_tokens=16)
        assert (cfg.name, cfg.model, cfg.max_tokens, cfg.api_key_env) == (
            "mine",
            MODEL_ALIAS,
            16,
            None,
        )
        assert await build_adapter(cfg).complete("hello") == f"{MODEL_ALIAS}|hello"
        pid = pid_in(server.log_tail())
    finally:
        server.stop()
    assert not server.running and wait_gone(pid)
    assert not log.exists()  # the temporary log directory is removed
    with pytest.raises(LocalAIError, match="not running"):
        _ = server.base_url
    server.stop()  # idempotent


def test_context_manager_and_double_start(script: Path, tmp_path: Path) -> None:
    log = tmp_path / "server.log"
    with FakeServer(script, log_path=log) as server:
        assert server.running and server.log_path == log
        with pytest.raises(LocalAIError, match="already started"):
            server.start()
    assert not server.running
    assert "GET /v1/models" in log.read_text()  # a log the caller chose is kept


def test_a_server_that_exits_is_a_typed_error_with_its_output(script: Path) -> None:
    server = FakeServer(script, mode="crash")
    with pytest.raises(LocalAIError, match="exited with status 3") as info:
        server.start()
    assert "boom: cannot load the model" in str(info.value)
    assert not server.running and server.log_path is None


def test_a_server_that_never_gets_ready_is_stopped(script: Path) -> None:
    server = FakeServer(script, mode="deaf", startup_timeout=1.0)
    with pytest.raises(LocalAIError, match="did not answer within 1 s") as info:
        server.start()
    assert not server.running
    assert wait_gone(pid_in(str(info.value)))


def test_the_server_ends_itself_when_its_owner_dies(script: Path) -> None:
    owner = (
        "import subprocess, sys\n"
        "from gateway.converge.localai import launcher_argv\n"
        f"argv = launcher_argv({str(script)!r}) + ['--port', '{free_port()}']\n"
        "proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, start_new_session=True)\n"
        "print(proc.pid, flush=True)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", owner], capture_output=True, text=True, timeout=60, check=True
    )
    child = int(out.stdout.strip())
    assert wait_gone(child), "the orphaned server kept running"


def test_command_runs_llama_cpp_server_on_loopback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = tmp_path / "m.gguf"
    model.write_bytes(b"GGUF")
    monkeypatch.setattr(localai, "SERVER_MODULE", "json")  # any importable module
    settings = LocalAISettings(n_ctx=512, n_threads=1)
    argv = LocalAIServer(settings, model=model).command(8123)
    assert argv[:2] == [sys.executable, "-c"] and argv[3:5] == [str(os.getpid()), "json"]
    flags = dict(zip(argv[5::2], argv[6::2], strict=True))
    assert flags == {
        "--model": str(model),
        "--model_alias": MODEL_ALIAS,
        "--host": "127.0.0.1",
        "--port": "8123",
        "--n_ctx": "512",
        "--n_threads": "1",
        "--n_threads_batch": "1",
    }
    with pytest.raises(LocalAIError, match="does not exist"):
        LocalAIServer(model=tmp_path / "nope.gguf").command(1)


@pytest.fixture
def no_extra(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(localai, "SERVER_MODULE", "gateway_no_such_package.server")
    monkeypatch.setattr(localai, "MODEL_PACKAGE", "gateway_no_such_package")
    yield


@pytest.mark.usefixtures("no_extra")
def test_missing_extra_is_a_typed_error_naming_the_fix() -> None:
    assert not is_available()
    with pytest.raises(LocalAIMissingError, match=r"gateway\[local-ai\]"):
        LocalAIServer().start()
    with pytest.raises(LocalAIMissingError, match="gateway_no_such_package"):
        find_model()
    assert issubclass(LocalAIMissingError, AdapterError)


def test_find_model_looks_inside_the_package(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pkg = tmp_path / "gateway_fake_models"
    (pkg / "weights").mkdir(parents=True)
    (pkg / "__init__.py").write_text("raise RuntimeError('must not be imported')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.invalidate_caches()
    monkeypatch.setattr(localai, "MODEL_PACKAGE", "gateway_fake_models")
    with pytest.raises(LocalAIMissingError, match=r"no \.gguf"):
        find_model()
    gguf = pkg / "weights" / "tiny.gguf"
    gguf.write_bytes(b"GGUF")
    assert find_model() == gguf


@pytest.mark.parametrize(
    "bad",
    [{"n_ctx": 16}, {"n_threads": 0}, {"startup_timeout": 0}, {"port": 70000}],
)
def test_settings_are_checked(bad: dict[str, float]) -> None:
    with pytest.raises(LocalAIError):
        LocalAISettings(**bad)  # type: ignore[arg-type]
