"""The systemd unit: its content, its checks, and systemd's own verdict on it."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from gateway.errors import ServiceError
from gateway.service.unit import UnitSpec, render_unit
from tests.needs import need

PYTHON = Path("/opt/gateway/.venv/bin/python")
CONFIG = Path("/etc/gateway/node.yaml")


def keys(text: str) -> dict[str, list[str]]:
    """Every ``Key=value`` of the unit: key -> values, in order."""
    out: dict[str, list[str]] = {}
    for line in text.splitlines():
        if "=" in line and not line.startswith("#"):
            key, value = line.split("=", 1)
            out.setdefault(key, []).append(value)
    return out


def unit(**changes: object) -> str:
    spec = {"name": "gateway", "user": "gateway", "python": PYTHON, "config": CONFIG, **changes}
    return render_unit(UnitSpec(**spec))  # type: ignore[arg-type]


def test_the_unit_runs_the_node_unprivileged_in_a_sandbox() -> None:
    k = keys(unit())
    assert k["User"] == ["gateway"] and k["Group"] == ["gateway"]
    assert k["ExecStart"] == [f"{PYTHON} -m gateway --config {CONFIG} run"]
    assert k["StateDirectory"] == ["gateway"] and k["StateDirectoryMode"] == ["0700"]
    for key, value in {
        "NoNewPrivileges": "yes",
        "ProtectSystem": "strict",
        "PrivateTmp": "yes",
        "ProtectHome": "yes",
        "UMask": "0077",
        "CapabilityBoundingSet": "",
        "KillSignal": "SIGTERM",
        "Restart": "on-failure",
    }.items():
        assert k[key] == [value], key
    assert k["RestrictAddressFamilies"] == ["AF_UNIX AF_INET AF_INET6"]
    assert k["WantedBy"] == ["multi-user.target"]


def test_home_is_read_only_when_the_code_lives_there() -> None:
    """ProtectHome=yes would hide a venv under /root or /home from the service."""
    assert keys(unit(python=Path("/home/ann/gw/.venv/bin/python")))["ProtectHome"] == ["read-only"]


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"user": "root"}, "must not run as root"),
        ({"user": "Ann Smith"}, "user 'Ann Smith'"),
        ({"name": "../etc"}, "service name"),
        ({"config": Path("relative.yaml")}, "absolute path"),
        ({"config": Path("/etc/my gateway/node.yaml")}, "without spaces"),
        ({"python": Path("/opt/$HOME/python")}, "'$'"),
    ],
)
def test_what_cannot_go_into_a_unit_is_refused(changes: dict[str, object], words: str) -> None:
    with pytest.raises(ServiceError, match=words.replace("$", r"\$")):
        unit(**changes)


def test_systemd_analyze_verify_accepts_it(tmp_path: Path) -> None:
    """systemd's own check: no unknown key, no key in the wrong section, valid values."""
    analyze = shutil.which("systemd-analyze")
    need(analyze is not None, "systemd-analyze (Debian's systemd package) is not installed")
    assert analyze is not None
    import sys

    path = tmp_path / "gateway.service"
    # ExecStart must name a file that exists: this interpreter and a real config path
    config = tmp_path / "node.yaml"
    config.write_text("node: {}\n")
    path.write_text(unit(python=Path(sys.executable).absolute(), config=config))
    done = subprocess.run(
        [analyze, "verify", str(path)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip() == "", done.stderr
    broken = tmp_path / "broken.service"
    broken.write_text(path.read_text().replace("[Install]", "ProtectSystm=strict\n[Install]"))
    done = subprocess.run(
        [analyze, "verify", str(broken)], capture_output=True, text=True, timeout=60
    )
    assert "Unknown key" in done.stderr  # the check can fail: a misplaced key is seen


def test_systemd_analyze_security_rates_it_ok(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    need(analyze is not None, "systemd-analyze (Debian's systemd package) is not installed")
    assert analyze is not None
    path = tmp_path / "gateway.service"
    path.write_text(unit())
    done = subprocess.run(
        [analyze, "security", "--offline=true", "--no-pager", str(path)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    line = [x for x in done.stdout.splitlines() if "Overall exposure level" in x]
    assert line, done.stdout[-2000:] + done.stderr
    exposure = float(line[0].split(":")[1].split()[0])
    assert exposure <= 2.0, line[0]  # systemd rates 0-10; "OK" is below 4.0
