#!/usr/bin/env bash
# Set up everything (tor, .venv, gateway) and run the quickstart on a private
# Tor network on 127.0.0.1. Extra arguments go to scripts/quickstart.py.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
exec .venv/bin/python scripts/quickstart.py "$@"
