"""``gateway init``: write a commented config and create the node's state and keys.

Everything is validated first; the state directory and keys are written next
(existing keys are kept, never replaced), and the config file last.
"""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass
from pathlib import Path

from gateway.config.loader import load_config_text
from gateway.config.schema import Level
from gateway.config.template import render_config_yaml
from gateway.errors import ConfigError, StateError
from gateway.state.keys import IdentityKeys, generate_api_token, load_api_token, save_api_token
from gateway.state.onion_key import OnionKey
from gateway.state.paths import StatePaths, write_private


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("init", help="write a config and create the node's keys")
    parser.add_argument("--level", choices=[lv.value for lv in Level], default=Level.STANDARD.value)
    parser.add_argument("--testnet", type=Path, metavar="DIR", help="join this private network")
    parser.add_argument("--name", default="node", help="the node's name (default: node)")
    parser.add_argument(
        "--state-dir", type=Path, metavar="D", help="state directory (default: state/NAME)"
    )
    parser.add_argument(
        "--force", action="store_true", help="overwrite an existing config (keys are kept)"
    )
    parser.set_defaults(func=run)


@dataclass(frozen=True)
class InitResult:
    config_path: Path
    state_dir: Path
    onion_address: str
    created_keys: bool


def run(args: argparse.Namespace) -> int:
    result = init_node(
        config_path=args.config,
        level=Level(args.level),
        name=args.name,
        state_dir=args.state_dir,
        testnet=args.testnet,
        force=args.force,
    )
    kept = "created" if result.created_keys else "kept existing"
    print(f"config:  {result.config_path}")
    print(f"state:   {result.state_dir} ({kept} keys)")
    print(f"onion:   {result.onion_address}.onion")
    return 0


def init_node(
    *,
    config_path: Path,
    level: Level,
    name: str,
    state_dir: Path | None,
    testnet: Path | None,
    force: bool,
) -> InitResult:
    """Validate, then create the state and keys, then write the config."""
    config_path = config_path.expanduser().absolute()
    if config_path.exists() and not force:
        raise ConfigError(
            config_path, "", "a path with no config yet", detail="exists; use --force to overwrite"
        )
    state = (state_dir or Path("state") / name).expanduser().absolute()
    text = render_config_yaml(
        name=name,
        level=level,
        state_dir=os.path.relpath(state, config_path.parent),
        testnet=None if testnet is None else str(testnet.expanduser().absolute()),
    )
    cfg = load_config_text(text, config_path)  # raises ConfigError before anything is written
    paths = StatePaths(cfg.node.state_dir)
    _check_existing_state(paths)
    address, created = _create_state(paths)
    _write_config(config_path, text, force=force)
    return InitResult(config_path, paths.root, address, created)


def _check_existing_state(paths: StatePaths) -> None:
    """Existing key files must be complete and load cleanly; they are reused, not replaced."""
    present = [p for p in paths.key_files() if p.exists()]
    if not present:
        return
    if len(present) != len(paths.key_files()):
        missing = sorted(str(p) for p in paths.key_files() if not p.exists())
        raise StateError(
            f"state directory {paths.root} holds some keys but not {', '.join(missing)};"
            " refusing to mix old and new keys"
        )
    paths.check()
    IdentityKeys.load(paths)
    OnionKey.load(paths.onion_key)
    load_api_token(paths)


def _create_state(paths: StatePaths) -> tuple[str, bool]:
    """Create the state directory and keys (unless present); the onion address."""
    if paths.onion_key.exists():
        return OnionKey.load(paths.onion_key).address, False
    paths.create()
    IdentityKeys.generate().save(paths)
    onion = OnionKey.generate()
    onion.save(paths.onion_key)
    save_api_token(paths, generate_api_token())
    return onion.address, True


def _write_config(path: Path, text: str, *, force: bool) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(path, "", "a writable folder", detail=exc.strerror) from None
    write_private(path, text.encode("utf-8"), overwrite=force)
