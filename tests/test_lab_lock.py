"""The machine's lab lock: a second lab command fails at once with a clear message instead of tearing the lab down."""

from __future__ import annotations

import subprocess
import sys

import pytest

from grader.errors import LabError
from grader.i18n import set_lang
from grader.lab.lock import HELD_ENV, lab_lock

HOLD = """
import sys, time
from grader.lab.lock import lab_lock
with lab_lock(__import__("pathlib").Path(sys.argv[1])):
    print("held", flush=True)
    time.sleep(30)
"""


@pytest.fixture
def holder(tmp_path):
    """Another process holding the lock on a file of our own (never the machine's real lock)."""
    path = tmp_path / "lab.lock"
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(path)], stdout=subprocess.PIPE, text=True,
                            env={"PATH": "/usr/bin:/bin"})
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    yield path
    proc.kill()
    proc.wait()


def test_a_lock_held_elsewhere_fails_at_once_and_says_why(holder, monkeypatch):
    monkeypatch.delenv(HELD_ENV, raising=False)
    set_lang("fr")
    with pytest.raises(LabError) as exc, lab_lock(holder):
        pytest.fail("the block must not run while another process holds the lock")
    assert "déjà utilisé" in str(exc.value) and str(holder) in str(exc.value) and HELD_ENV in str(exc.value)
    set_lang("en")
    try:
        with pytest.raises(LabError, match="already in use"), lab_lock(holder):
            pass
    finally:
        set_lang("fr")


def test_the_holders_children_go_through(holder, monkeypatch):
    monkeypatch.setenv(HELD_ENV, "1")
    ran = []
    with lab_lock(holder):
        ran.append(True)
    assert ran == [True]


def test_a_free_lock_is_taken_and_given_back(tmp_path, monkeypatch):
    monkeypatch.delenv(HELD_ENV, raising=False)
    path = tmp_path / "lab.lock"
    with lab_lock(path), pytest.raises(LabError), lab_lock(path):  # even this process, through another handle
        pass
    with lab_lock(path):
        pass
