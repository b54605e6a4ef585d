"""``gateway service install|uninstall|show``: run the node as a systemd service."""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from gateway.config.loader import load_config
from gateway.service.install import UNIT_DIR, install, plan_install, uninstall
from gateway.service.unit import UnitSpec, render_unit


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("service", help="run the node as a systemd service")
    actions = parser.add_subparsers(dest="service_action", metavar="ACTION", required=True)
    for action, text in (
        ("install", "write the unit (and create the service user), as root"),
        ("show", "print the unit that install would write"),
    ):
        p = actions.add_parser(action, help=text)
        p.add_argument("--name", default="gateway", help="unit and state folder (/var/lib/NAME)")
        p.add_argument("--user", default="gateway", help="the unprivileged user it runs as")
        p.add_argument("--unit-dir", type=Path, default=UNIT_DIR, help=argparse.SUPPRESS)
        p.add_argument(
            "--python", type=Path, default=Path(sys.executable).absolute(), metavar="PATH",
            help="the interpreter the unit runs gateway with (default: this one)",
        )  # fmt: skip
        p.set_defaults(func=run_install if action == "install" else run_show)
    install_p = actions.choices["install"]
    install_p.add_argument(
        "--no-user", action="store_true",
        help="do not create the user or change owners (you manage them)",
    )  # fmt: skip
    remove = actions.add_parser("uninstall", help="stop and remove the unit (state is kept)")
    remove.add_argument("--name", default="gateway")
    remove.add_argument("--unit-dir", type=Path, default=UNIT_DIR, help=argparse.SUPPRESS)
    remove.set_defaults(func=run_uninstall)


def _spec(args: argparse.Namespace) -> UnitSpec:
    # the venv's own interpreter path (not its symlink's target): it finds the venv's packages
    return UnitSpec(args.name, args.user, args.python.absolute(), args.config.absolute())


def run_show(args: argparse.Namespace) -> int:
    print(render_unit(_spec(args)), end="")
    return 0


def run_install(args: argparse.Namespace) -> int:
    cfg = load_config(args.config)
    plan = plan_install(cfg, _spec(args), args.unit_dir)
    for line in install(plan, create_user=not args.no_user):
        print(line)
    name = plan.spec.name
    if shutil.which("systemd-analyze"):
        print(f"check it:   systemd-analyze verify {plan.unit_path}")
    print(f"start it:   systemctl enable --now {name}   (logs: journalctl -u {name})")
    return 0


def run_uninstall(args: argparse.Namespace) -> int:
    for line in uninstall(args.name, args.unit_dir):
        print(line)
    print(f"kept: /var/lib/{args.name} (the node's keys and data) and its user")
    return 0
