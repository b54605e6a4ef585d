"""Installing and removing the systemd unit (the I/O around :mod:`gateway.service.unit`).

``install`` checks the node's config against the sandbox (its state directory must be
under the unit's ``StateDirectory``, the one place the node may write), creates the
unprivileged service user if it is missing, gives it the state directory, writes the
unit and, when systemd runs, reloads it. ``uninstall`` stops and removes the unit and
keeps the state and the user (they hold the node's keys: its onion address).
"""

from __future__ import annotations

import os
import pwd
import shutil
import stat
import subprocess
from dataclasses import dataclass
from pathlib import Path

from gateway.config.schema import GatewayConfig
from gateway.errors import ConfigError, ServiceError
from gateway.service.unit import UnitSpec, render_unit

UNIT_DIR = Path("/etc/systemd/system")
#: where systemd, when it is the running init system, keeps its runtime state
SYSTEMD_RUNNING = Path("/run/systemd/system")


@dataclass(frozen=True)
class InstallPlan:
    spec: UnitSpec
    unit_path: Path
    #: the node's state directory (from the config), inside ``spec.state_directory``
    state_dir: Path


def plan_install(cfg: GatewayConfig, spec: UnitSpec, unit_dir: Path = UNIT_DIR) -> InstallPlan:
    """The install for ``cfg``: ConfigError (exit 2) if its state cannot live in the sandbox."""
    spec.check()
    state = cfg.node.state_dir.resolve()
    if not state.is_relative_to(spec.state_directory):
        raise ConfigError(
            cfg.source,
            "node.state_dir",
            f"a folder under {spec.state_directory} (the unit's StateDirectory: the only place "
            "its sandbox lets the node write), e.g. " + str(spec.state_directory / "node"),
            str(cfg.node.state_dir),
        )
    return InstallPlan(spec, unit_dir / f"{spec.name}.service", state)


def unreadable_by_others(path: Path) -> list[Path]:
    """``path``'s folders that others cannot enter (the service user could not reach it)."""
    return [
        p
        for p in (path.parent, *path.parent.parents)
        if p.exists() and not stat.S_IMODE(p.stat().st_mode) & stat.S_IXOTH
    ]


def install(plan: InstallPlan, *, create_user: bool = True) -> list[str]:
    """Carry out ``plan``; what was done, one line a step."""
    spec, done = plan.spec, []
    if create_user:
        done += _ensure_user(spec)
    blocked = unreadable_by_others(spec.python) + unreadable_by_others(spec.config)
    if blocked:
        folders = ", ".join(sorted({str(p) for p in blocked}))
        raise ServiceError(
            f"the service user {spec.user!r} could not reach {spec.python} or {spec.config}: "
            f"{folders} {'is' if len(blocked) == 1 else 'are'} closed to other users; install "
            "gateway where every user can read it (e.g. a venv in /opt/gateway)"
        )
    if create_user:
        done += _give_state(plan)
    plan.unit_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = plan.unit_path.with_suffix(".service.tmp")
    tmp.write_text(render_unit(spec))
    tmp.chmod(0o644)
    os.replace(tmp, plan.unit_path)
    done.append(f"wrote {plan.unit_path}")
    if SYSTEMD_RUNNING.exists():
        _systemctl("daemon-reload")
        done.append("systemctl daemon-reload")
    return done


def uninstall(name: str, unit_dir: Path = UNIT_DIR) -> list[str]:
    """Stop, disable and remove the unit ``name``; the state and the user are kept."""
    unit = unit_dir / f"{name}.service"
    if not unit.exists():
        raise ServiceError(f"no unit {unit} to remove")
    done = []
    if SYSTEMD_RUNNING.exists():
        _systemctl("disable", "--now", f"{name}.service")
        done.append(f"systemctl disable --now {name}.service")
    unit.unlink()
    done.append(f"removed {unit}")
    if SYSTEMD_RUNNING.exists():
        _systemctl("daemon-reload")
    return done


def _ensure_user(spec: UnitSpec) -> list[str]:
    try:
        pwd.getpwnam(spec.user)
        return []
    except KeyError:
        pass
    useradd = shutil.which("useradd")
    if useradd is None:
        raise ServiceError(f"no user {spec.user!r}, and no useradd to create it")
    _run(
        useradd, "--system", "--user-group", "--no-create-home",
        "--home-dir", str(spec.state_directory), "--shell", "/usr/sbin/nologin", spec.user,
    )  # fmt: skip
    return [f"created the system user {spec.user}"]


def _give_state(plan: InstallPlan) -> list[str]:
    """The StateDirectory and the node's state in it belong to the service user, 0700."""
    user = pwd.getpwnam(plan.spec.user)
    root = plan.spec.state_directory
    root.mkdir(mode=0o700, parents=True, exist_ok=True)
    for folder, _, files in os.walk(root):
        for path in (folder, *(os.path.join(folder, f) for f in files)):
            os.chown(path, user.pw_uid, user.pw_gid, follow_symlinks=False)
    root.chmod(0o700)
    done = [f"gave {root} (with {plan.state_dir}) to {plan.spec.user}, mode 0700"]
    config = plan.spec.config
    if not stat.S_IMODE(config.stat().st_mode) & stat.S_IROTH:
        os.chown(config, -1, user.pw_gid)
        config.chmod(0o640)
        done.append(f"{config}: group {plan.spec.user}, mode 0640 (the node reads it)")
    return done


def _systemctl(*args: str) -> None:
    systemctl = shutil.which("systemctl")
    if systemctl is None:
        raise ServiceError("systemd runs, but there is no systemctl")
    _run(systemctl, *args)


def _run(*argv: str) -> None:
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise ServiceError(f"{' '.join(argv)} failed: {done.stderr.strip() or done.returncode}")
