"""scripts/install_chromium.sh (``make chromium``): apt-get install first, update only when that
fails, sudo when not root, and a message naming the command when it cannot install.

apt-get, id and sudo are stand-ins on PATH that log their arguments, so nothing is installed.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "install_chromium.sh"
INSTALL = "apt-get install -y --no-install-recommends chromium"


def _stub(folder: Path, name: str, body: str) -> None:
    path = folder / name
    path.write_text("#!/bin/sh\n" + body, encoding="utf-8")
    path.chmod(0o755)


def _run(tmp_path: Path, uid: int, apt_results: list[int] | None, sudo: bool):
    """Run the script with stand-ins; apt_results: exit codes of successive apt-get calls.

    PATH holds only the stand-ins, so a real sudo or apt-get is never reached.
    """
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "log"
    log.touch()
    _stub(bin_dir, "id", f"echo {uid}\n")
    if apt_results is not None:
        (tmp_path / "results").write_text("\n".join(map(str, apt_results)) + "\n")
        _stub(bin_dir, "apt-get", (
            f'echo "apt-get $*" >> {log}\n'
            f"code=$({shutil.which('head')} -n 1 {tmp_path}/results)\n"
            f"{shutil.which('sed')} -i 1d {tmp_path}/results\n"
            'exit "$code"\n'))
    if sudo:
        _stub(bin_dir, "sudo", f'echo "sudo" >> {log}\nexec "$@"\n')
    run = subprocess.run(["/bin/sh", str(SCRIPT)], env={"PATH": str(bin_dir)},
                         capture_output=True, text=True, timeout=30)
    return run, log.read_text().splitlines()


def test_as_root_it_installs_without_updating_when_that_works(tmp_path) -> None:
    run, calls = _run(tmp_path, uid=0, apt_results=[0], sudo=False)
    assert run.returncode == 0, run.stderr
    assert calls == [INSTALL]


def test_it_updates_the_package_lists_only_after_a_failed_install(tmp_path) -> None:
    run, calls = _run(tmp_path, uid=0, apt_results=[100, 0, 0], sudo=False)
    assert run.returncode == 0, run.stderr
    assert calls == [INSTALL, "apt-get update", INSTALL]


def test_not_root_it_goes_through_sudo(tmp_path) -> None:
    run, calls = _run(tmp_path, uid=1000, apt_results=[0], sudo=True)
    assert run.returncode == 0, run.stderr
    assert calls == ["sudo", INSTALL]


@pytest.mark.parametrize(
    ("uid", "apt_results", "sudo", "calls", "message"),
    [
        (1000, [0], False, [], f"not root and no sudo: run as root '{INSTALL}'"),
        (0, None, False, [], "no apt-get on this system"),
        (0, [100, 0, 100], False, [INSTALL, "apt-get update", INSTALL],
         f"could not install chromium; run 'apt-get update && {INSTALL}'"),
    ],
    ids=["no-root-no-sudo", "no-apt-get", "install-fails"],
)
def test_when_it_cannot_install_it_says_what_to_run(tmp_path, uid, apt_results, sudo, calls,
                                                      message) -> None:
    run, logged = _run(tmp_path, uid=uid, apt_results=apt_results, sudo=sudo)
    assert run.returncode == 1
    assert logged == calls
    assert message in run.stderr
    assert "CHROMIUM=" in run.stderr
