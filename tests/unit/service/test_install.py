"""``gateway service install|uninstall|show`` and the checks before anything is written."""

from __future__ import annotations

import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.cli import main
from gateway.config.loader import load_config
from gateway.errors import ConfigError, ServiceError
from gateway.service.install import plan_install, unreadable_by_others
from gateway.service.unit import UnitSpec

Capsys = pytest.CaptureFixture[str]


def config(tmp_path: Path, state_dir: str) -> Path:
    path = tmp_path / "node.yaml"
    path.write_text(f"node:\n  name: n\n  state_dir: {state_dir}\n")
    return path


def spec(cfg: Path) -> UnitSpec:
    return UnitSpec("gateway", "gateway", Path(sys.executable).absolute(), cfg)


def test_the_state_must_live_in_the_units_state_directory(tmp_path: Path) -> None:
    path = config(tmp_path, str(tmp_path / "state"))
    with pytest.raises(ConfigError) as caught:
        plan_install(load_config(path), spec(path), tmp_path)
    err = caught.value
    assert err.exit_status == 2
    assert err.key_path == "node.state_dir"
    assert str(path) in str(err) and "/var/lib/gateway" in str(err)


def test_a_plan_for_a_state_under_var_lib(tmp_path: Path) -> None:
    path = config(tmp_path, "/var/lib/gateway/node")
    plan = plan_install(load_config(path), spec(path), tmp_path)
    assert plan.unit_path == tmp_path / "gateway.service"
    assert plan.state_dir == Path("/var/lib/gateway/node")


def test_folders_closed_to_other_users_are_named(tmp_path: Path) -> None:
    closed = tmp_path / "closed"
    (closed / "venv" / "bin").mkdir(parents=True)
    closed.chmod(0o700)
    assert closed in unreadable_by_others(closed / "venv" / "bin" / "python")
    closed.chmod(0o755)
    assert closed not in unreadable_by_others(closed / "venv" / "bin" / "python")


@pytest.fixture
def open_folder() -> Iterator[Path]:
    """A folder every user can enter (pytest's tmp_path is under a 0700 folder)."""
    folder = Path(tempfile.mkdtemp(dir="/var/tmp"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder)


def test_install_show_and_uninstall_through_the_cli(
    open_folder: Path, tmp_path: Path, capsys: Capsys
) -> None:
    path = config(open_folder, "/var/lib/gw-test/node")
    units = tmp_path / "units"
    common = ["--config", str(path), "service"]
    assert main([*common, "show", "--name", "gw-test"]) == 0
    shown = capsys.readouterr().out
    assert "StateDirectory=gw-test" in shown and f"--config {path} run" in shown

    python = open_folder / "python"  # where the CI's checkout lives is not ours to choose
    python.touch()
    code = main([*common, "install", "--name", "gw-test", "--no-user", "--unit-dir", str(units),
                 "--python", str(python)])  # fmt: skip
    out, err = capsys.readouterr()
    assert code == 0, out + err
    unit = units / "gw-test.service"
    this = Path(sys.executable).absolute()
    assert unit.read_text() == shown.replace(f"{this} -m", f"{python} -m")
    assert oct(unit.stat().st_mode & 0o777) == "0o644"
    assert "systemctl enable --now gw-test" in out

    assert main([*common, "uninstall", "--name", "gw-test", "--unit-dir", str(units)]) == 0
    assert not unit.exists()
    assert main([*common, "uninstall", "--name", "gw-test", "--unit-dir", str(units)]) == 1
    assert "no unit" in capsys.readouterr().err


def test_install_refuses_a_state_outside_the_sandbox(tmp_path: Path, capsys: Capsys) -> None:
    path = config(tmp_path, str(tmp_path / "state"))
    units = tmp_path / "units"
    code = main(["--config", str(path), "service", "install", "--no-user",
                 "--unit-dir", str(units)])  # fmt: skip
    assert code == 2
    assert "node.state_dir" in capsys.readouterr().err
    assert not units.exists()


def test_a_closed_interpreter_folder_is_refused(tmp_path: Path) -> None:
    from gateway.service.install import InstallPlan, install

    closed = tmp_path / "closed"
    closed.mkdir(mode=0o700)
    cfg = tmp_path / "node.yaml"
    cfg.write_text("node: {}\n")
    plan = InstallPlan(
        UnitSpec("gw-test", "gw-test", closed / "python", cfg), tmp_path / "u.service", tmp_path
    )
    with pytest.raises(ServiceError, match="closed to other users"):
        install(plan, create_user=False)
    assert not (tmp_path / "u.service").exists()
