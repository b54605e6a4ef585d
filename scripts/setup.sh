#!/usr/bin/env bash
# Set up everything gateway needs on a fresh Debian machine:
#   - tor and tor-gencert from Debian's `tor` package (installed if missing),
#   - a virtual environment in .venv with gateway and its test tools.
# Safe to run again: it only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

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

PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip >/dev/null
.venv/bin/python -m pip install -q -e '.[test]'
echo "setup: gateway $(.venv/bin/python -c 'import gateway; print(gateway.__version__)') in .venv"
