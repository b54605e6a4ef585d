#!/usr/bin/env bash
# Set up (scripts/setup.sh) and run every check: ruff, mypy --strict, and the
# whole test suite, unit tests and integration tests on the private Tor network
# (including a real local model, hence the `local-ai` extra, and a headless chromium).
# Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh --tests
echo "== ruff"
.venv/bin/ruff check .
echo "== mypy --strict gateway"
.venv/bin/mypy --strict gateway
echo "== pytest"
.venv/bin/python -m pytest "$@"
