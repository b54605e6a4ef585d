"""The commented YAML config that ``gateway init`` writes (same shape as config/example.yaml)."""

from __future__ import annotations

import json
import re

import yaml

from gateway.config.schema import Level

_PLAIN = re.compile(r"[A-Za-z0-9._/~-]+")

_TEMPLATE = """\
# gateway node configuration (written by `gateway init`; see docs/CONFIG.md).
# Relative paths are resolved against this file's folder.

node:
  name: {name}
  state_dir: {state_dir}      # keys, tor data, database; mode 0700

security:
  level: {level}              # standard | high | paranoid (docs/SECURITY-LEVELS.md)
  overrides:                  # optional: single settings on top of the level
    policy: {{}}                # e.g. {{cover_traffic: none}}
    tor: {{}}                   # e.g. {{ConnectionPadding: "0"}}; paranoid refuses weaker values

tor:
  mode: launch                # launch (the node starts its own tor) | attach
  binary: tor                 # name on PATH or a path
  testnet: {testnet}          # dir made by `gateway testnet up --dir DIR`, or null
  bootstrap_timeout: 120      # seconds
  publish_timeout: 60         # seconds to wait for the onion descriptor upload
  on_tor_death: restart       # restart | exit
  max_restarts: 3
  control:                    # attach mode only: how to reach the running tor
    port: null
    socket: null
    password_env: null        # name of an environment variable holding the password
    cookie_path: null
  socks_port: null            # attach: the running tor's SOCKS port; launch: null = pick one
  extra_torrc: []             # launch mode: torrc lines appended last

onion:
  virtual_port: 80            # the port Tor clients connect to

http:
  host: 127.0.0.1             # loopback only: 127.0.0.1 | ::1 | localhost
  port: 0                     # 0 = pick a free port at start

api:                          # the local API, dashboard and /metrics
  rate_limit: 200             # requests per second per local client, on average
  burst: 400                  # requests at once after a quiet spell

logging:
  level: info                 # debug | info | warning | error

memory:
  spaces:                     # which contacts share which memories
    default: all              # e.g. work: [bob, carol]
  sync_interval: 60           # seconds between background syncs with each contact
  semantic: true              # search by meaning too (a model bundled, run on this machine)
  # council_context: true     # rounds carry relevant entries (default: off at paranoid)

ai:                           # the AIs this node asks in convergence rounds (docs/CONFIG.md)
  adapters: []                # e.g. Ollama on this machine, or a hosted API (via tor):
  # - {{name: local, kind: openai, base_url: "http://127.0.0.1:11434/v1", model: llama3.2}}
  # - {{name: claude, kind: anthropic, model: claude-sonnet-4-5}}   # key: $ANTHROPIC_API_KEY
  # - {{name: gemini, kind: gemini, model: gemini-2.5-flash}}       # key: $GEMINI_API_KEY
  default: null               # the adapter used unless a round names another
  answerer:
    enabled: false            # true: this node only answers contacts' rounds, never asks
"""


def _scalar(value: str) -> str:
    """A YAML scalar for ``value``: plain when it reads back as the same string, else quoted."""
    if _PLAIN.fullmatch(value) and yaml.safe_load(value) == value:
        return value
    return json.dumps(value)  # a JSON string is a valid double-quoted YAML scalar


def render_config_yaml(name: str, level: Level, state_dir: str, testnet: str | None) -> str:
    """The commented config text for a new node."""
    return _TEMPLATE.format(
        name=_scalar(name),
        state_dir=_scalar(state_dir),
        level=level.value,
        testnet="null" if testnet is None else _scalar(testnet),
    )
