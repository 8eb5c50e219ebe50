"""The acceptance of issue #14 §4: ``grader pack selftest <pack>`` passes on the real lab, for each pack here.

The self-test boots the pack's start state (every check non conforme, none erreur or injoignable),
plants the reference solution (every check conforme), injects the three phase-2 incidents on
candidate 01 (each one's check non conforme), and tears the lab down. It runs the CLI as a proctor
would, from a directory that is not the repository. ccs-linux (two Debian hosts) adds about 30 s.

The pack boots its own lab, so this module runs after the demo room is down (conftest sorts it
after ``test_down_leaves_nothing_and_can_be_repeated``; if the room is still up in this session, it
is taken down first, as that test does).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from grader import packs
from grader.store import Store
from tests.conftest import lab_available, locked_lab

pytestmark = [pytest.mark.lab, pytest.mark.own_lab]  # boots its own hosts: after the demo room
ROOT = Path(__file__).resolve().parent.parent


def _selftest(tmp_path: Path, pack: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "GRADER_LAB_LOCK_HELD": "1", "COLUMNS": "200",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    return subprocess.run([sys.executable, "-m", "grader.cli", "pack", "selftest", pack,
                           "--session", str(tmp_path / "session")], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=900, check=False)


@pytest.mark.parametrize("pack", ["ccp2-infra-centralisee", "ccs-linux"])
def test_pack_selftest_passes_end_to_end(tmp_path: Path, pack: str) -> None:
    if not lab_available():
        pytest.skip("le labo exige root et systemd-nspawn (apt-get install systemd-container)")
    if os.environ.get("GRADER_LAB_LOCK_HELD") == "1":  # the demo room of this session holds the lock
        from grader.lab.hosts import Lab

        Lab().down()
        proc = _selftest(tmp_path, pack)
    else:
        with locked_lab():
            proc = _selftest(tmp_path, pack)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    for phase in ("départ", "solution", "incidents"):
        assert phase in proc.stdout
    assert "réussi" in proc.stdout
    store = Store(tmp_path / "session")
    try:
        runs = store.runs()
        assert len(runs) == 2  # start state, solution (the incidents re-grade the solution's run)
        start, solution = (store.results(r["id"]) for r in runs)
        assert start and {r["status"] for r in start} == {"non_conforme"}
        proving = {i["check_id"] for i in store.incidents("01")}
        assert proving == {i.check for i in packs.load_pack(pack).incidents} and len(proving) == 3
        assert {r["status"] for r in solution if not (r["candidate"] == "01" and r["check_id"] in proving)} == {
            "conforme"}
        assert all(i["author"] == "grader pack selftest" and i["exit_code"] == 0 for i in store.incidents())
    finally:
        store.close()
    from grader.lab.hosts import Lab

    assert Lab().status() == []  # torn down
